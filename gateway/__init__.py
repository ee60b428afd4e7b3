"""REST/WebSocket gateway in front of the gRPC services."""
