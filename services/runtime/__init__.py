"""Shared gRPC service runtime: bootstrap, health, reflection, auth, metrics, tracing, logs."""
