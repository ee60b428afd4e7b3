"""Paneas Stack services and the runtime they share."""
