"""Live ASR sessions through real Envoy: consistent hash on x-session-id, ejection of a dead
instance, drain of a stopping one. Each test leaves all instances up for the next."""

import asyncio
import signal
import time
import uuid

import grpc
import pytest

from tests.envoy.conftest import LiveStream, short_stream


@pytest.fixture(autouse=True)
def all_instances_up(mesh):
    mesh.restore()
    yield
    mesh.restore()


async def wait_for(check, what: str, limit: float = 30) -> float:
    """Polls `check` until true; returns the seconds it took."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < limit, f"{what}: not after {limit}s"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


def streams_on(mesh, port: int) -> int:
    return int(mesh.envoy.hosts("asr")[f"127.0.0.1:{port}"].get("rq_active", "0"))


async def test_each_session_sticks_to_one_instance_across_reconnects(
    mesh, envoy_asr, auth_metadata
):
    sessions = [f"session-{i}-{uuid.uuid4().hex[:8]}" for i in range(20)]
    first = {sid: await short_stream(envoy_asr, auth_metadata, sid) for sid in sessions}
    for _ in range(2):  # reconnects, in another order
        for sid in reversed(sessions):
            assert await short_stream(envoy_asr, auth_metadata, sid) == first[sid], sid
    names = {instance.name for instance in mesh.asr}
    assert set(first.values()) <= names
    # 20 keys over 3 instances: every instance gets some (the chance one gets none is ~1e-3
    # for a fair hash; MAGLEV's table is fair to within a percent).
    assert set(first.values()) == names, first


async def test_killed_instance_fails_its_streams_and_is_ejected(mesh, envoy_asr, auth_metadata):
    sid = uuid.uuid4().hex
    victim = mesh.instance(await short_stream(envoy_asr, auth_metadata, sid))
    others = {i.name for i in mesh.asr} - {victim.name}
    live = LiveStream(envoy_asr, auth_metadata, sid)
    await wait_for(lambda: streams_on(mesh, victim.port) >= 1, "stream open on the victim")
    await wait_for(lambda: live.sent >= 3, "audio flowing")

    victim.process.process.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    code, details = await live.outcome()
    # Envoy turns the upstream's reset into INTERNAL (RST_STREAM), never OK.
    assert code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE), (code, details)
    live.finish.set()

    await wait_for(lambda: victim.port not in mesh.envoy.healthy_ports("asr"), "victim ejected", 30)
    ejected_after = time.monotonic() - killed_at
    assert ejected_after < 3.0, f"ejected after {ejected_after:.2f}s"

    # The same session reconnects, and new sessions start, on the others.
    assert await short_stream(envoy_asr, auth_metadata, sid) in others
    for _ in range(10):
        assert await short_stream(envoy_asr, auth_metadata, uuid.uuid4().hex) in others


async def test_draining_instance_finishes_its_streams_and_takes_no_new_ones(
    mesh, envoy_asr, auth_metadata
):
    sid = uuid.uuid4().hex
    draining = mesh.instance(await short_stream(envoy_asr, auth_metadata, sid))
    others = {i.name for i in mesh.asr} - {draining.name}
    live = LiveStream(envoy_asr, auth_metadata, sid)
    await wait_for(lambda: streams_on(mesh, draining.port) >= 1, "stream open")

    draining.process.process.send_signal(signal.SIGTERM)
    await wait_for(
        lambda: draining.port not in mesh.envoy.healthy_ports("asr"), "draining taken out", 30
    )
    # New sessions, and a second stream of the same session, go to the others...
    for session_id in [sid] + [uuid.uuid4().hex for _ in range(8)]:
        assert await short_stream(envoy_asr, auth_metadata, session_id) in others
    # ... while the open stream keeps flowing on the draining instance and ends well.
    before = live.sent
    await wait_for(lambda: live.sent >= before + 5, "audio still flowing")
    assert draining.process.process.poll() is None, "the instance waits for its stream"
    live.finish.set()
    code, details = await live.outcome()
    assert code == grpc.StatusCode.OK, details
    assert live.responses and live.responses[-1].HasField("summary")
    assert dict(await live.call.initial_metadata())["x-paneas-instance"] == draining.name
    assert draining.process.process.wait(30) == 0
