"""REST routes derived from the contracts' `google.api.http` annotations, as grpc-gateway
derives them: adding an annotated RPC to a proto adds its route, with no gateway code."""
