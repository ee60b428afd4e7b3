"""Moved to `paneas.services.processes`. Kept only while bench/abuse.py, being edited by
someone else, still imports it from here; delete it once that file imports the package."""

from paneas.services.processes import free_port, http_ok, wait_until

__all__ = ["free_port", "http_ok", "wait_until"]
