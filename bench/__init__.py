"""Benchmarks: each prints our mesh's overhead as ratios against the bare engine."""
