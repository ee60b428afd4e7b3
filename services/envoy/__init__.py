"""Envoy, the gRPC ingress in front of every service: its config (`config.py`, rendered for
each target from one description of the services) and its binary (`process.py`)."""
