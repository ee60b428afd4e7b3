"""The machine's load around a measurement: colleagues' work shares these 2 cores, so every
benchmark waits for quiet and reports what other processes used meanwhile."""

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# The benchmark's own processes (the services it started), asked for at every snapshot.
PidList = Callable[[], list[int]]


def wait_for_quiet(max_load: float, patience_s: float) -> float:
    """Waits until the 1-minute load average drops under `max_load` (colleagues' test runs
    share the machine); returns the load it started at."""
    deadline = time.monotonic() + patience_s
    while (load := os.getloadavg()[0]) >= max_load and time.monotonic() < deadline:
        print(f"load average {load:.2f} >= {max_load}: waiting", flush=True)
        time.sleep(15)
    if load >= max_load:
        print(f"load average still {load:.2f}: measuring anyway (contended)", flush=True)
    return load


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:9]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def _process_ticks(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime, every thread


class ForeignLoad:
    """Share of the machine's CPU that processes other than ours used while measuring."""

    def __init__(self, pids: PidList) -> None:
        self._pids = pids
        self._start = self._snapshot()

    def _snapshot(self) -> tuple[int, int, int]:
        busy, total = _machine_ticks()
        ours = sum(_process_ticks(pid) for pid in [os.getpid(), *self._pids()])
        return busy, total, ours

    def share(self) -> float:
        busy, total, ours = self._snapshot()
        start_busy, start_total, start_ours = self._start
        elapsed = max(1, total - start_total)
        return max(0, (busy - start_busy) - (ours - start_ours)) / elapsed


def wait_for_idle_others(pids: PidList, max_share: float = 0.05, patience_s: float = 600) -> None:
    """Between phases: waits until processes other than ours have been (nearly) idle for
    5 s. The load average cannot say this once our own service has been busy."""
    deadline = time.monotonic() + patience_s
    while True:
        watch = ForeignLoad(pids)
        time.sleep(5)
        share = watch.share()
        if share <= max_share:
            return
        if time.monotonic() > deadline:
            print(f"other processes still use {share:.0%} of the CPU: measuring anyway")
            return
        print(f"other processes use {share:.0%} of the CPU: waiting", flush=True)


@contextmanager
def phase(name: str, pids: PidList) -> Iterator[None]:
    """A measured stretch: starts when others are idle, says afterwards how idle they were."""
    wait_for_idle_others(pids)
    watch = ForeignLoad(pids)
    yield
    print(f"[{name}] other processes' CPU meanwhile: {watch.share():.1%}", flush=True)
