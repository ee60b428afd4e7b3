"""Measuring several paths to the same result fairly: one request per path per round, the
order rotating every round, after a warm-up of each."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bench.load import ForeignLoad, PidList
from bench.stats import percentile

# One request through one path; returns its sample (any object with the measured attributes).
Path_ = Callable[[], Awaitable[Any]]


@dataclass
class PathResult:
    samples: list[Any] = field(default_factory=list)

    def p(self, attribute: str, fraction: float) -> float:
        return percentile([getattr(s, attribute) for s in self.samples], fraction)


async def interleaved(
    paths: dict[str, Path_], rounds: int, warmup: int, pids: PidList | None = None
) -> dict[str, PathResult]:
    """With `pids` (the benchmark's own processes), each sample also gets `others`: the share
    of the CPU other processes used while it ran."""
    for call in paths.values():
        for _ in range(warmup):
            await call()
    names = list(paths)
    results = {name: PathResult() for name in names}
    for round_ in range(rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            watch = ForeignLoad(pids) if pids else None
            sample = await paths[name]()
            if watch:
                sample.others = watch.share()
            results[name].samples.append(sample)
    return results
