"""Shared gRPC service runtime: server bootstrap, health, reflection, auth, metrics, tracing, logs."""
