"""The decode scheduler, in process: who gets a free slot first, who is refused when the wait
line is full, and what a caller that leaves the line gives back. No model: the slots are only
held, never decoded in."""

import asyncio

import grpc
import pytest

from paneas.services.asr.errors import AsrError, Overloaded
from paneas.services.asr.scheduler import DecodeScheduler, Priority


@pytest.fixture
async def scheduler():
    """One slot, two places in the wait line, two live streams."""
    scheduler = DecodeScheduler(slots=1, max_waiting=2, max_streams=2, retry_after=1.5)
    yield scheduler
    scheduler.close()


async def hold(scheduler: DecodeScheduler, priority: Priority, name: str, order: list[str]):
    """Takes a slot, notes the order it got it in, and gives it back at once."""
    async with scheduler.slot(priority):
        order.append(name)


async def queued(scheduler: DecodeScheduler) -> int:
    """How many wait, once every task just created has run up to its first wait (one turn
    of the event loop: asking for a slot never waits on anything but the slot)."""
    await asyncio.sleep(0)
    return scheduler.waiting


async def test_a_freed_slot_goes_to_finals_then_new_files_then_running_files_then_interims():
    scheduler = DecodeScheduler(slots=1, max_waiting=8, max_streams=2, retry_after=1.5)
    order: list[str] = []
    release = asyncio.Event()

    async def holder():
        async with scheduler.slot(Priority.BATCH):
            await release.wait()

    held = asyncio.create_task(holder())
    await asyncio.sleep(0)
    assert scheduler.busy
    waiting = [
        asyncio.create_task(hold(scheduler, priority, name, order))
        for priority, name in [
            (Priority.INTERIM, "interim 1"),
            (Priority.CONTINUATION, "long file's next window"),
            (Priority.BATCH, "file"),
            (Priority.INTERIM, "interim 2"),
            (Priority.FINAL, "final"),
        ]
    ]
    assert await queued(scheduler) == 5
    release.set()
    await asyncio.gather(held, *waiting)
    scheduler.close()
    # By priority; equal priorities in arrival order.
    assert order == ["final", "file", "long file's next window", "interim 1", "interim 2"]
    assert not scheduler.busy and scheduler.waiting == 0


@pytest.mark.parametrize(
    ("slots", "held", "room"),
    [(1, 0, True), (1, 1, False), (2, 0, True), (2, 1, False), (3, 1, True), (3, 2, False)],
)
async def test_interims_leave_a_slot_free_for_finals_when_there_is_more_than_one(
    slots: int, held: int, room: bool
):
    scheduler = DecodeScheduler(slots=slots, max_waiting=8, max_streams=2, retry_after=1.5)
    release = asyncio.Event()

    async def holder():
        async with scheduler.slot(Priority.FINAL):
            await release.wait()

    holders = [asyncio.create_task(holder()) for _ in range(held)]
    await asyncio.sleep(0)
    assert scheduler.room_for_interim is room
    release.set()
    await asyncio.gather(*holders)
    assert scheduler.room_for_interim
    scheduler.close()


async def test_a_full_line_refuses_new_work_with_a_retry_hint_but_never_finals(scheduler):
    release = asyncio.Event()

    async def holder(priority: Priority):
        async with scheduler.slot(priority):
            await release.wait()

    tasks = [asyncio.create_task(holder(Priority.BATCH))]
    await asyncio.sleep(0)
    tasks += [asyncio.create_task(holder(Priority.INTERIM)) for _ in range(2)]
    assert await queued(scheduler) == 2

    for priority in (Priority.BATCH, Priority.INTERIM):
        with pytest.raises(Overloaded) as refused:
            async with scheduler.slot(priority):
                pass
        assert refused.value.retry_after == 1.5
        assert refused.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "2 requests waiting" in str(refused.value)
    # A stream's final, and the next window of an admitted file, wait instead.
    tasks.append(asyncio.create_task(holder(Priority.FINAL)))
    tasks.append(asyncio.create_task(holder(Priority.CONTINUATION)))
    assert await queued(scheduler) == 4
    release.set()
    await asyncio.gather(*tasks)
    assert scheduler.waiting == 0 and not scheduler.busy


async def test_a_caller_that_leaves_the_line_takes_no_slot_with_it(scheduler):
    release = asyncio.Event()
    order: list[str] = []

    async def holder():
        async with scheduler.slot(Priority.BATCH):
            await release.wait()

    held = asyncio.create_task(holder())
    await asyncio.sleep(0)
    leaving = asyncio.create_task(hold(scheduler, Priority.FINAL, "left", order))
    staying = asyncio.create_task(hold(scheduler, Priority.INTERIM, "stayed", order))
    assert await queued(scheduler) == 2
    leaving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leaving
    assert scheduler.waiting == 1
    release.set()
    await asyncio.gather(held, staying)
    assert order == ["stayed"]
    # The slot came back: the next caller gets it at once.
    async with asyncio.timeout(1):
        await hold(scheduler, Priority.INTERIM, "next", order)
    assert not scheduler.busy


async def test_live_streams_are_admitted_up_to_the_limit_and_freed_on_release(scheduler):
    scheduler.admit_stream()
    scheduler.admit_stream()
    with pytest.raises(Overloaded, match="all 2 live stream slots are taken") as refused:
        scheduler.admit_stream()
    # The servicer catches AsrError: the shared overload kind must still be one.
    assert isinstance(refused.value, AsrError)
    assert refused.value.retry_after == 1.5
    scheduler.release_stream()
    scheduler.admit_stream()
