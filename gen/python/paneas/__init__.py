"""Paneas Stack. Generated contracts live in `paneas.<service>.v1`; the hand-written code is
mapped in as `paneas.services` and `paneas.gateway` (see setup.py)."""
