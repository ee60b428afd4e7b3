"""Latency summaries shared by the benchmarks."""

import statistics


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 0.5) * 1000:7.1f} ms  "
        f"p95 {percentile(values, 0.95) * 1000:7.1f} ms  "
        f"mean {statistics.mean(values) * 1000:7.1f} ms"
    )
