"""The shared admission primitive, in process: who gets a freed slot first, who is refused when
the line is full, what a caller that leaves gives back, and the metrics it keeps. No model:
slots are only held, and `run` runs plain functions."""

import asyncio
import threading

import grpc
import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge

from paneas.services.runtime import errors, wire
from paneas.services.runtime.admission import Admission


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.queue_depth = Gauge("test_queue_depth", "", registry=self.registry)
        self.rejections = Counter("test_rejections_total", "", registry=self.registry)

    @property
    def depth(self) -> float:
        return self.registry.get_sample_value("test_queue_depth")

    @property
    def rejected(self) -> float:
        return self.registry.get_sample_value("test_rejections_total")


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
async def admission(metrics: Metrics):
    """One slot, two places in the wait line."""
    admission = Admission(
        1,
        2,
        1.5,
        work="the test worker",
        threads="test",
        queue_depth=metrics.queue_depth,
        rejections=metrics.rejections,
    )
    yield admission
    admission.close()


async def settled() -> None:
    """One turn of the event loop: every task just created has run up to its first wait
    (asking for a slot waits on nothing but the slot)."""
    await asyncio.sleep(0)


async def take(admission: Admission, priority: int, name: str, order: list[str]) -> None:
    """Is admitted, takes a slot, notes the order it got it in, and gives it back at once."""
    with admission.admit():
        async with admission.slot(priority):
            order.append(name)


async def occupy(admission: Admission, release: asyncio.Event, always: bool = False) -> None:
    """Is admitted and holds a slot (or waits for one) until `release`."""
    with admission.admit(always=always):
        async with admission.slot():
            await release.wait()


async def test_a_freed_slot_goes_by_priority_then_arrival(metrics: Metrics):
    admission = Admission(1, 8, 1.0, work="the test worker", threads="test")
    order: list[str] = []
    release = asyncio.Event()
    held = asyncio.create_task(occupy(admission, release))
    await settled()
    assert admission.busy
    waiting = [
        asyncio.create_task(take(admission, priority, name, order))
        for priority, name in [(2, "low 1"), (1, "middle"), (2, "low 2"), (0, "high")]
    ]
    await settled()
    assert admission.waiting == 4 and admission.admitted == 5
    release.set()
    await asyncio.gather(held, *waiting)
    admission.close()
    assert order == ["high", "middle", "low 1", "low 2"]
    assert not admission.busy and admission.waiting == 0 and admission.admitted == 0


async def test_a_full_line_refuses_at_once_with_a_retry_hint(admission: Admission, metrics):
    release = asyncio.Event()
    tasks = [asyncio.create_task(occupy(admission, release)) for _ in range(3)]
    await settled()
    assert admission.waiting == 2 and metrics.depth == 2
    with pytest.raises(errors.Overloaded) as refused:
        with admission.admit():
            pass
    assert refused.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert refused.value.retry_after == 1.5
    assert dict(refused.value.trailing_metadata())[wire.RETRY_AFTER_MS] == "1500"
    assert str(refused.value) == "the test worker is busy (2 requests waiting); retry in 1.5 s"
    assert metrics.rejected == 1
    release.set()
    await asyncio.gather(*tasks)
    assert metrics.depth == 0
    # The line drained: work is admitted again.
    with admission.admit():
        assert admission.admitted == 1


async def test_always_admitted_work_waits_instead_of_being_refused(admission: Admission, metrics):
    release = asyncio.Event()
    tasks = [asyncio.create_task(occupy(admission, release)) for _ in range(3)]
    await settled()
    tasks.append(asyncio.create_task(occupy(admission, release, always=True)))
    await settled()
    assert admission.waiting == 3 and metrics.rejected == 0
    release.set()
    await asyncio.gather(*tasks)
    assert admission.admitted == 0 and not admission.busy


async def test_the_service_names_its_own_error_and_load():
    class Busy(errors.Overloaded):
        pass

    admission = Admission(
        1,
        0,
        2.0,
        work="the page pool",
        threads="test",
        overloaded=Busy,
        load=lambda pool, units: f"{pool.admitted} pages queued, this adds {units}",
    )
    with admission.admit(3):
        with pytest.raises(Busy, match=r"page pool is busy \(3 pages queued, this adds 2\); retry"):
            with admission.admit(2):
                pass
    # Work bigger than the whole line is still taken when nothing else is admitted.
    with admission.admit(5):
        assert admission.admitted == 5
    admission.close()


async def test_a_caller_that_leaves_the_line_takes_no_slot_with_it(admission: Admission, metrics):
    release = asyncio.Event()
    order: list[str] = []
    held = asyncio.create_task(occupy(admission, release))
    await settled()
    leaving = asyncio.create_task(take(admission, 0, "left", order))
    staying = asyncio.create_task(take(admission, 1, "stayed", order))
    await settled()
    assert admission.waiting == 2
    leaving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leaving
    assert admission.waiting == 1 and metrics.depth == 1 and admission.admitted == 2
    release.set()
    await asyncio.gather(held, staying)
    assert order == ["stayed"]
    # The slot came back: the next caller gets it at once.
    async with asyncio.timeout(1):
        await take(admission, 1, "next", order)
    assert not admission.busy


async def test_a_caller_cancelled_as_it_is_handed_the_slot_passes_it_on(admission: Admission):
    release = asyncio.Event()
    order: list[str] = []

    async def hold_then_cancel_the_next() -> None:
        await occupy(admission, release)
        # The slot was just handed to the first waiter, which has not resumed yet.
        handed.cancel()

    held = asyncio.create_task(hold_then_cancel_the_next())
    await settled()
    handed = asyncio.create_task(take(admission, 0, "handed", order))
    after = asyncio.create_task(take(admission, 1, "after", order))
    await settled()
    release.set()
    await held
    with pytest.raises(asyncio.CancelledError):
        await handed
    async with asyncio.timeout(1):
        await after
    assert order == ["after"]
    assert not admission.busy and admission.waiting == 0 and admission.admitted == 0


async def test_run_holds_the_slot_until_its_thread_is_done(admission: Admission):
    assert await admission.run(lambda: threading.current_thread().name.startswith("test"))
    started, finish = threading.Event(), threading.Event()

    def work() -> None:
        started.set()
        finish.wait(5)

    async def hold_and_run() -> None:
        with admission.admit():
            async with admission.slot():
                await admission.run(work)

    task = asyncio.create_task(hold_and_run())
    await asyncio.to_thread(started.wait, 5)
    task.cancel()
    await settled()
    # A thread cannot be stopped: the cancelled caller keeps its slot until the work ends.
    assert not task.done() and admission.busy
    finish.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not admission.busy and admission.admitted == 0
