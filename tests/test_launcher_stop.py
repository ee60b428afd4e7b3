"""`Stack.stop` stops the stack in order: the gateway, then ASR, then the other services,
Envoy and its directory last. Real child processes that log when SIGTERM reaches them and
when they have finished draining."""

import asyncio
import sys
import textwrap
import time

import pytest

from paneas.services.launcher import (
    STOP_ASR,
    STOP_GATEWAY,
    STOP_INGRESS,
    STOP_SERVICES,
    Component,
    Stack,
)

# Slow: real child processes stopped in order.
pytestmark = pytest.mark.slow

# Drains for a moment on SIGTERM, like a server finishing its calls, logging both ends.
CHILD = textwrap.dedent(
    """
    import signal, sys, time
    name, log = sys.argv[1], sys.argv[2]
    def note(what):
        with open(log, "a") as out:
            out.write(f"{what} {name} {time.monotonic()}\\n")
    def drain(*_):
        note("term")
        time.sleep(0.3)
        note("exit")
        sys.exit(0)
    signal.signal(signal.SIGTERM, drain)
    note("ready")
    while True:
        time.sleep(1)
    """
)


async def _never_checked() -> bool:
    return True


async def test_stop_goes_gateway_then_asr_then_services_then_ingress(tmp_path):
    log = tmp_path / "stops.log"
    stages = {
        "gateway": STOP_GATEWAY,
        "asr-0": STOP_ASR,
        "asr-1": STOP_ASR,
        "llm": STOP_SERVICES,
        "ocr": STOP_SERVICES,
        "directory": STOP_INGRESS,
        "envoy": STOP_INGRESS,
    }
    # Started in the launcher's own order (services, ingress, gateway), stopped by stage.
    order = ["ocr", "asr-0", "asr-1", "llm", "directory", "envoy", "gateway"]
    components = [
        Component(
            name,
            "",
            "grpc://127.0.0.1:1",
            _never_checked,
            argv=[sys.executable, "-c", CHILD, name, str(log)],
            stop_stage=stages[name],
        )
        for name in order
    ]
    stack = Stack(components, {}, strict=False)
    await stack.start()
    deadline = time.monotonic() + 30
    while not log.exists() or log.read_text().count("ready") < len(order):
        assert time.monotonic() < deadline, "the children did not start"
        await asyncio.sleep(0.1)
    started = time.monotonic()
    await stack.stop()
    assert time.monotonic() - started < 60
    events = [line.split() for line in log.read_text().splitlines() if "ready" not in line]
    times = {(what, name): float(at) for what, name, at in events}
    assert {name for _, name in times} == set(order), events
    for earlier in range(STOP_INGRESS):
        exits = [times["exit", n] for n, stage in stages.items() if stage == earlier]
        terms = [times["term", n] for n, stage in stages.items() if stage > earlier]
        # Every component of a stage had exited before any later one was told to stop.
        assert max(exits) <= min(terms), events
