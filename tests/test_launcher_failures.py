"""A failing part of the stack is named, and the rest keeps serving: through `paneas` itself.

One launcher run is shared by the module: its LLM is given a model file that does not exist,
so it exits at start. The stack comes up without it (the gateway answers chat with 503
naming the llm service), live ASR goes on without insights, and when one of the two ASR
instances is killed mid-stream its streams end with close 1012 while the other instance's
finish, and new streams land on the survivor. `PANEAS_STRICT=1` stops everything instead.
"""

import asyncio
import contextlib
import json
import os
import re
import signal
import time

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from paneas.services.asr.evaluation import SAMPLES, read_pcm16, sample_path, wer
from tests.support.launcher import Launcher, launcher_env

pytestmark = pytest.mark.slow

TOKEN = "launcher-failure-test-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
STOP = json.dumps({"event": "stop"})
FRAME_SECONDS = 0.1
MISSING_MODEL = "no-such-model.gguf"


def failing_llm_env(tmp_path, **extra: str) -> dict[str, str]:
    return launcher_env(
        API_TOKENS=TOKEN,
        # Read by the LLM service only: it exits while loading, the launcher starts fine.
        LLM_ENGINES__CPU__MODEL=str(tmp_path / MISSING_MODEL),
        # Cheap to load; the tests never speak.
        TTS_ENGINES="piper",
        # Insights fail fast with the LLM down; the closing summary waits no longer than this.
        ASR_SUMMARY_TIMEOUT_SECONDS="5",
        **extra,
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("launcher-failures")
    launcher = Launcher(failing_llm_env(tmp_path), tmp_path / "launcher.log")
    try:
        launcher.wait_for_output("Press Ctrl-C", timeout=300)
        yield launcher
    finally:
        launcher.stop()


@pytest.fixture(scope="module")
def ws_url(stack) -> str:
    return stack.gateway_url.replace("http://", "ws://", 1) + "/api/v1/asr/stream"


@pytest.fixture(scope="module")
def jfk_pcm() -> tuple[bytes, int]:
    samples, rate = read_pcm16(sample_path("jfk"))
    return samples.tobytes(), rate


def test_a_service_failing_at_start_is_named_with_its_last_lines_and_the_rest_comes_up(stack):
    output = stack.log_text()
    assert "paneas: llm exited with code 1; the rest keeps running without it" in output
    tail = [line for line in output.splitlines() if line.startswith("  llm | ")]
    assert any(MISSING_MODEL in line for line in tail), output
    assert "Paneas Stack is up, without llm:" in output
    assert re.search(r"^  llm +grpc://\S+ +DOWN: exited with code 1", output, re.MULTILINE)
    assert re.search(r"^  asr-1 +grpc://\S+ +\[pid \d+\]", output, re.MULTILINE), output
    assert stack.process.poll() is None


def test_the_gateway_answers_503_naming_the_llm_and_health_shows_it(stack):
    url = stack.gateway_url
    chat = {"model": "auto", "messages": [{"role": "user", "content": "Hi"}]}
    openai = httpx.post(f"{url}/v1/chat/completions", headers=BEARER, json=chat, timeout=30)
    assert openai.status_code == 503, openai.text
    error = openai.json()["error"]
    assert error["type"] == "server_error"
    assert "the llm service is unavailable" in error["message"]

    transcoded = httpx.post(
        f"{url}/api/v1/llm:chat",
        headers=BEARER,
        json={"messages": [{"role": "ROLE_USER", "content": "Hi"}]},
        timeout=30,
    )
    assert transcoded.status_code == 503, transcoded.text
    assert transcoded.json()["code"] == 14  # UNAVAILABLE, google.rpc.Status body
    assert "the llm service is unavailable" in transcoded.json()["message"]

    health = httpx.get(f"{url}/api/v1/health", timeout=30)
    assert health.status_code == 503
    statuses = {name: entry["status"] for name, entry in health.json()["backends"].items()}
    assert statuses.pop("llm") == "UNREACHABLE", health.text
    assert set(statuses.values()) == {"SERVING"}, health.text


def start_event(**config: object) -> str:
    return json.dumps({"event": "start", "config": {"language": "en", **config}})


async def events_until_closed(ws: ClientConnection, within: float) -> list[dict]:
    events = []
    with contextlib.suppress(ConnectionClosed):
        async with asyncio.timeout(within):
            async for message in ws:
                events.append(json.loads(message))
    return events


async def served_by(url: str, session_id: str) -> str:
    """The ASR instance a short session of this id lands on."""
    async with connect(url, additional_headers=BEARER) as ws:
        await ws.send(start_event(session_id=session_id))
        await ws.send(STOP)
        events = await events_until_closed(ws, within=60)
    assert events[-1]["event"] == "final_summary", events
    assert ws.close_code == 1000
    return events[-1]["instance"]


async def sessions_on_each_instance(url: str, per_instance: int) -> dict[str, list[str]]:
    """Session ids that Envoy's consistent hash puts on each ASR instance."""
    placed: dict[str, list[str]] = {"asr-0": [], "asr-1": []}
    for index in range(40):
        session_id = f"failover-{index}"
        ids = placed[await served_by(url, session_id)]
        if len(ids) < per_instance:
            ids.append(session_id)
        if all(len(ids) == per_instance for ids in placed.values()):
            return placed
    raise AssertionError(f"40 session ids did not fill both instances: {placed}")


class LiveSession:
    """Real speech paced in real time, with insights asked for; events kept as they come."""

    def __init__(self, url: str, session_id: str, pcm: bytes, rate: int) -> None:
        self.url, self.session_id, self.pcm, self.rate = url, session_id, pcm, rate
        self.events: list[dict] = []
        self.heard = asyncio.Event()  # the service answered: the instance is known
        self.close_code: int | None = None

    async def run(self) -> None:
        async with connect(self.url, additional_headers=BEARER) as ws:
            await ws.send(
                start_event(
                    session_id=self.session_id,
                    sample_rate=self.rate,
                    interim_results=False,
                    enable_insights=True,
                )
            )
            assert json.loads(await ws.recv())["event"] == "ready"
            receiver = asyncio.create_task(self._receive(ws))
            size = int(self.rate * FRAME_SECONDS) * 2
            with contextlib.suppress(ConnectionClosed):
                for offset in range(0, len(self.pcm), size):
                    await ws.send(self.pcm[offset : offset + size])
                    await asyncio.sleep(FRAME_SECONDS)
                await ws.send(STOP)
            await asyncio.wait_for(receiver, 120)
        self.close_code = ws.close_code

    async def _receive(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in ws:
                self.events.append(json.loads(message))
                self.heard.set()

    def last(self, kind: str) -> dict | None:
        return next((e for e in reversed(self.events) if e["event"] == kind), None)


async def test_killing_one_asr_instance_ends_only_its_streams_and_new_ones_go_to_the_other(
    stack, ws_url, jfk_pcm
):
    pcm, rate = jfk_pcm
    victim, survivor = "asr-0", "asr-1"
    placed = await sessions_on_each_instance(ws_url, per_instance=2)
    sessions = {
        instance: [LiveSession(ws_url, sid, pcm, rate) for sid in ids]
        for instance, ids in placed.items()
    }
    everyone = sessions[victim] + sessions[survivor]
    running = [asyncio.create_task(session.run()) for session in everyone]
    async with asyncio.timeout(60):
        await asyncio.gather(*(session.heard.wait() for session in everyone))

    os.kill(stack.pid_of(victim), signal.SIGKILL)
    # At once, before Envoy's health checks can have ejected it: a new stream of a session
    # that hashed to the dead instance starts on the survivor.
    assert await served_by(ws_url, placed[victim][0]) == survivor

    async with asyncio.timeout(150):
        await asyncio.gather(*running)
    for session in sessions[victim]:
        error = session.last("error")
        assert error is not None, session.events
        assert error["code"] == "UNAVAILABLE" and error["instance"] == victim, error
        assert "reconnect" in error["message"]
        assert session.close_code == 1012, (session.close_code, session.events)
        assert session.last("final_summary") is None
    for session in sessions[survivor]:
        summary = session.last("final_summary")
        assert summary is not None, session.events
        assert session.close_code == 1000
        assert summary["instance"] == survivor
        assert wer(SAMPLES["jfk"].transcript, summary["transcript"]) <= 0.35, summary
        # Transcribed without the LLM: an error insight saying so, and no summary.
        assert summary["summary"] == ""
        insight = session.last("insight")
        assert insight is not None and insight["type"] == "error", session.events

    deadline = time.monotonic() + 10
    reported = f"paneas: {victim} exited with signal SIGKILL (code -9); the rest keeps running"
    while reported not in (output := stack.log_text()):
        assert time.monotonic() < deadline, output
        await asyncio.sleep(0.2)
    assert stack.process.poll() is None
    async with httpx.AsyncClient() as client:
        health = (await client.get(f"{stack.gateway_url}/api/v1/health", timeout=30)).json()
    assert health["backends"]["asr"]["status"] == "SERVING", health


def test_ctrl_c_stops_a_stack_that_lost_parts_with_status_1(stack):
    assert stack.stop() == 1
    output = stack.log_text()
    assert output.rstrip().endswith("paneas: stopped"), output[-2000:]


def test_strict_mode_stops_everything_when_a_service_fails(tmp_path):
    env = failing_llm_env(tmp_path, PANEAS_STRICT="1", ASR_INSTANCES="1")
    launcher = Launcher(env, tmp_path / "strict.log")
    try:
        status = launcher.process.wait(180)
    finally:
        launcher.stop()
    output = launcher.log_text()
    assert status == 1, output
    assert "paneas: llm exited with code 1; stopping the stack (PANEAS_STRICT=1)" in output
    assert any(
        line.startswith("  llm | ") and MISSING_MODEL in line for line in output.splitlines()
    ), output
    assert "paneas: stopped" in output
