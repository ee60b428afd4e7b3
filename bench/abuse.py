"""What an attack costs the server: hostile requests against real services, measured from
outside (peak resident memory from /proc, the event loop's stall as the worst latency of a
health check sent every 100 ms, a victim's p50).

    .venv/bin/python -m bench.abuse [--hours 4] [--victims 5]

Attacks (each alone, on a fresh ASR service with its defaults):
  flac-stated     two concurrent uploads of a FLAC of `--hours` of silence (a few MB, under
                  the 50 MB message limit); its container states the duration, within
                  ASR_MAX_AUDIO_SECONDS (14400), so both are decoded and run through the VAD
                  (vad_filter=True, as the gateway's /v1/audio routes set), window by window
  flac-unstated   the same files with the duration field zeroed (as a stream writes them): the
                  limit is enforced while decoding
  flac-over       two uploads of a FLAC stating one hour more than the limit: refused from the
                  container's header
The victim is an 11 s English clip (jfk) through Recognize, `--victims` times idle, then as
often as it can during the attack.

Attacks on the gateway and Envoy (each on fresh processes; the victim is a small
authenticated request, `GET /api/v1/ocr/engines` through the gateway to a real OCR service,
or an empty `Recognize` through Envoy, sent every 50 ms for 3 s idle and throughout the
attack: its worst latency bounds the event loop's stall; peak RSS of the attacked processes
every 20 ms):
  body-fast       unauthenticated 24 MB JSON bodies to /v1/chat/completions, as fast as the
                  socket takes them, one after another for `--seconds` (time to 401)
  body-slow       the same at 2 MB/s
  stream-flood    live-stream opens from one token, 20 at a time for `--seconds`, each held
                  (RATE_LIMIT_CONCURRENT_STREAMS and RATE_LIMIT_STREAM_HANDSHAKES at their
                  defaults, a real ASR service behind)
  fast-audio      one live stream sent `--audio-seconds` of speech (jfk, repeated) in 1 MiB
                  frames as fast as the socket takes them, then stop (gateway and ASR memory)
  metric-labels   made-up 4 KB methods, distinct bogus paths and distinct bogus chat models
                  (/metrics size before and after)
  envoy-45mb      unauthenticated 45 MB Recognize calls through Envoy, two at a time, for
                  `--seconds` (time to UNAUTHENTICATED; Envoy and ASR memory)
`--before WORKTREE` also runs each of these against an older checkout (`git worktree add
/tmp/before <commit>`): its gateway, ASR service and Envoy configuration are imported from it
through a PYTHONPATH shim, with this venv's packages (the victim's OCR service stays this
checkout's). Results go in
docs/benchmarks.md ("Abuse").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import grpc
import httpx
import numpy as np
from faster_whisper import decode_audio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bench.machine import describe
from bench.services import LOGS, gateway, grpc_service
from bench.stats import percentile
from paneas.asr.v1 import asr_pb2, asr_pb2_grpc
from paneas.services.asr.evaluation import flac_of_silence, sample_path
from paneas.services.envoy.process import command as envoy_command
from paneas.services.processes import LoggedProcess, free_port, http_ok, wait_until

MB = 1024 * 1024
# The WebSocket's control events (docs/api.md).
STOP = json.dumps({"event": "stop"})


def start(**config: object) -> str:
    return json.dumps({"event": "start", "config": {"language": "en", **config}})


async def events_until_closed(ws, within: float) -> list[dict]:
    """Every event the server sends until it closes the connection (or `within` passes)."""
    events = []
    with contextlib.suppress(ConnectionClosed):
        async with asyncio.timeout(within):
            while True:
                events.append(json.loads(await ws.recv()))
    return events


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Sampler:
    """Peak RSS of `pid` (every 20 ms) and the worst health-check round trip (every 100 ms:
    health is answered on the service's event loop, so its latency is the loop's stall)."""

    def __init__(self, pid: int, target: str) -> None:
        self.pid, self.target = pid, target
        self.baseline = rss_mb(pid)
        self.peak = self.baseline
        self.worst_health = 0.0
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._memory, daemon=True),
            threading.Thread(target=self._health, daemon=True),
        ]

    def _memory(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mb(self.pid))

    def _health(self) -> None:
        with grpc.insecure_channel(self.target) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while not self._stop.wait(0.1):
                started = time.perf_counter()
                health.Check(health_pb2.HealthCheckRequest(), timeout=60)
                self.worst_health = max(self.worst_health, time.perf_counter() - started)

    def __enter__(self) -> Sampler:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


@dataclass
class Outcome:
    attack: str
    attack_seconds: float
    outcomes: list[str]
    rss_added_mb: float
    worst_health_ms: float
    victim_idle_p50: float
    victim_attack_p50: float
    victims_during: int


def attack(
    name: str,
    payload: bytes,
    token: str,
    victims: int,
) -> Outcome:
    env = {"API_TOKENS": token, "ASR_METRICS_PORT": "0", "LOG_LEVEL": "WARNING"}
    metadata = (("authorization", f"Bearer {token}"),)
    victim = asr_pb2.RecognizeRequest(
        audio=sample_path("jfk").read_bytes(), config=asr_pb2.RecognitionConfig(vad_filter=True)
    )
    hostile = asr_pb2.RecognizeRequest(
        audio=payload, config=asr_pb2.RecognitionConfig(vad_filter=True)
    )
    options = [("grpc.max_send_message_length", 64 * MB)]
    with grpc_service("asr", env, f"abuse-{name}") as (target, process):
        with grpc.insecure_channel(target, options=options) as channel:
            stub = asr_pb2_grpc.AsrServiceStub(channel)

            def timed(call: Callable[[], object]) -> float:
                started = time.perf_counter()
                call()
                return time.perf_counter() - started

            def recognize_victim() -> object:
                return stub.Recognize(victim, metadata=metadata, timeout=900)

            recognize_victim()  # warm-up: the first decode allocates what later ones reuse
            idle = [timed(recognize_victim) for _ in range(victims)]

            def hostile_call() -> str:
                try:
                    stub.Recognize(hostile, metadata=metadata, timeout=900)
                    return "OK"
                except grpc.RpcError as error:
                    return error.code().name

            during: list[float] = []
            with Sampler(process.process.pid, target) as sampler:
                started = time.perf_counter()
                with ThreadPoolExecutor(2) as pool:
                    calls = [pool.submit(hostile_call) for _ in range(2)]
                    time.sleep(0.5)
                    while not all(call.done() for call in calls):
                        during.append(timed(recognize_victim))
                    outcomes = [call.result() for call in calls]
                attack_seconds = time.perf_counter() - started
            return Outcome(
                name,
                attack_seconds,
                outcomes,
                sampler.peak - sampler.baseline,
                sampler.worst_health * 1000,
                percentile(idle, 0.5),
                percentile(during, 0.5) if during else float("nan"),
                len(during),
            )


def unstated(flac: bytes) -> bytes:
    data = bytearray(flac)
    data[8 + 13] &= 0xF0
    data[8 + 14 : 8 + 18] = b"\0\0\0\0"
    return bytes(data)


# --- Attacks on the gateway and Envoy -------------------------------------------------------

SERVICE_ATTACKS = ("flac-stated", "flac-unstated", "flac-over")
EDGE_ATTACKS = (
    "body-fast",
    "body-slow",
    "stream-flood",
    "fast-audio",
    "metric-labels",
    "envoy-45mb",
)
VICTIM_EVERY = 0.05
IDLE_SECONDS = 3.0


def before_shim(worktree: Path) -> Path:
    """A folder for PYTHONPATH whose `paneas` is the older checkout's (contracts, services,
    gateway), as the editable install maps this one's; the venv's packages stay."""
    root = Path(tempfile.mkdtemp(prefix="paneas-before-"))
    package = root / "paneas"
    package.mkdir()
    for entry in (worktree / "gen" / "python" / "paneas").iterdir():
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    (package / "services").symlink_to(worktree / "services")
    (package / "gateway").symlink_to(worktree / "gateway")
    return root


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Memory:
    """Peak RSS of each named process, every 20 ms, and the CPU time each used meanwhile."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.baseline = {name: rss_mb(pid) for name, pid in pids.items()}
        self.peak = dict(self.baseline)
        self.cpu = {name: cpu_seconds(pid) for name, pid in pids.items()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            for name, pid in self.pids.items():
                with contextlib.suppress(OSError):
                    self.peak[name] = max(self.peak[name], rss_mb(pid))

    def __enter__(self) -> Memory:
        self._thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
        self._thread.join()
        for name, pid in self.pids.items():
            with contextlib.suppress(OSError):
                self.cpu[name] = cpu_seconds(pid) - self.cpu[name]


def victim_call(kind: str, target: str, token: str) -> Callable[[], object]:
    """The victim's request: `http`, GET /api/v1/ocr/engines through the gateway at
    `target`; `grpc`, an authenticated Recognize with no audio through Envoy at `target`
    (to ASR's event loop and back; its INVALID_ARGUMENT is the answer)."""
    if kind == "http":
        client = httpx.Client(headers=bearer(token), timeout=120)
        return lambda: client.get(f"{target}/api/v1/ocr/engines").raise_for_status()
    stub = asr_pb2_grpc.AsrServiceStub(grpc.insecure_channel(target))
    metadata = (("authorization", f"Bearer {token}"),)

    def call() -> object:
        try:
            return stub.Recognize(asr_pb2.RecognizeRequest(), metadata=metadata, timeout=60)
        except grpc.RpcError as error:
            if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAUTHENTICATED):
                raise
            return error.code()

    return call


def _victim_main(kind: str, target: str, token: str, pipe: Connection) -> None:
    call = victim_call(kind, target, token)
    for _ in range(5):  # warm-up
        call()
    pipe.send("ready")
    samples = []
    while not pipe.poll(VICTIM_EVERY):
        started = time.monotonic()
        try:
            call()
            ok = True
        except Exception:  # noqa: BLE001 (a victim's failure is a result)
            ok = False
        samples.append((started, time.monotonic() - started, ok))
    pipe.send(samples)


class Victim:
    """The victim's request every 50 ms (after the previous one returned), from a process of
    its own so that the attacker's work in this one (the GIL) does not delay it; yields the
    (start, latency, ok) samples once stopped."""

    def __init__(self, kind: str, target: str, token: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=_victim_main, args=(kind, target, token, child))
        self.samples: list[tuple[float, float, bool]] = []

    def __enter__(self) -> Victim:
        self._process.start()
        if not self._pipe.poll(120) or self._pipe.recv() != "ready":
            raise RuntimeError("the victim did not start")
        return self

    def __exit__(self, *_) -> None:
        self._pipe.send("stop")
        self.samples = self._pipe.recv()
        self._process.join()

    def between(self, start: float, end: float) -> tuple[list[float], int]:
        """Latencies of the requests sent in [start, end), and how many failed."""
        chosen = [(latency, ok) for at, latency, ok in self.samples if start <= at < end]
        return [latency for latency, _ in chosen], sum(1 for _, ok in chosen if not ok)


@dataclass
class Row:
    attack: str
    code: str
    outcome: str
    seconds: float
    memory: dict[str, tuple[float, float]]  # process -> (baseline MB, peak MB)
    cpu: dict[str, float]  # process -> CPU seconds during the attack
    idle: list[float]
    during: list[float]
    failures: int


def measure(
    attack_name: str,
    code: str,
    pids: dict[str, int],
    victim: tuple[str, str, str],
    hostile: Callable[[], str],
) -> Row:
    with Victim(*victim) as samples:
        idle_start = time.monotonic()
        time.sleep(IDLE_SECONDS)
        with Memory(pids) as memory:
            started = time.monotonic()
            outcome = hostile()
            ended = time.monotonic()
    idle, _ = samples.between(idle_start, started)
    during, failures = samples.between(started, ended)
    return Row(
        attack_name,
        code,
        outcome,
        ended - started,
        {name: (memory.baseline[name], memory.peak[name]) for name in pids},
        memory.cpu,
        idle,
        during,
        failures,
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def code_env(shim: Path | None) -> dict[str, str]:
    return {"PYTHONPATH": str(shim)} if shim else {}


@contextlib.contextmanager
def gateway_stack(
    tokens: list[str],
    shim: Path | None,
    asr: bool = False,
    extra_env: dict[str, str] | None = None,
) -> Iterator[tuple[str, dict[str, int]]]:
    """A real OCR service (the victim's backend; always this checkout's), an ASR service
    when asked, and the gateway (both the older checkout's with `shim`); an LLM target where
    nothing listens, so the chat routes exist. Yields the gateway's URL and the pids of what
    is attacked."""
    quiet = {"API_TOKENS": ",".join(tokens), "LOG_LEVEL": "WARNING"}
    work = Path(tempfile.mkdtemp(prefix="paneas-abuse-"))
    with contextlib.ExitStack() as stack:
        ocr_target, _ = stack.enter_context(
            grpc_service(
                "ocr", {**quiet, "OCR_METRICS_PORT": "0", "OCR_ENGINES": "tesseract"}, "abuse-ocr"
            )
        )
        targets = {"ocr": ocr_target, "llm": f"127.0.0.1:{free_port()}"}
        pids = {}
        if asr:
            asr_env = {
                **quiet,
                **code_env(shim),
                "ASR_METRICS_PORT": "0",
                "ASR_MAX_STREAMS": "16",
            }
            asr_target, asr_process = stack.enter_context(
                grpc_service("asr", {**asr_env, "ASR_LLM_TARGET": ""}, "abuse-asr")
            )
            targets["asr"] = asr_target
            pids["asr"] = asr_process.process.pid
        env = {**code_env(shim), "LOG_LEVEL": "WARNING", **(extra_env or {})}
        url, process = stack.enter_context(gateway(",".join(tokens), targets, work, env))
        yield url, {"gateway": process.process.pid, **pids}


def chat_body(size: int) -> bytes:
    """A valid chat request of about `size` bytes: many 1 KB user messages."""
    message = b'{"role": "user", "content": "' + b"a" * 1000 + b'"}'
    count = size // (len(message) + 2)
    return b'{"model": "m", "messages": [' + b", ".join([message] * count) + b"]}"


def unauthenticated_post(url: str, path: str, body: bytes, rate: float) -> tuple[int, float, int]:
    """POSTs `body` without a token (at `rate` bytes/s, 0 for as fast as the socket takes
    it) while waiting for the answer's status line: the status, the seconds it took and how
    many body bytes had been sent by then."""
    host, port = url.removeprefix("http://").split(":")
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    sock = socket.create_connection((host, int(port)), timeout=300)
    sent = [0]
    done = threading.Event()

    def send() -> None:
        chunk = 64 * 1024
        view = memoryview(body)
        with contextlib.suppress(OSError):
            sock.sendall(head)
            for offset in range(0, len(body), chunk):
                if done.is_set():
                    return
                sock.sendall(view[offset : offset + chunk])
                sent[0] = offset + chunk
                if rate:
                    time.sleep(chunk / rate)

    started = time.perf_counter()
    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    received = b""
    with contextlib.suppress(OSError):
        while b"\r\n" not in received:
            data = sock.recv(65536)
            if not data:
                break
            received += data
    elapsed, sent_then = time.perf_counter() - started, min(sent[0], len(body))
    done.set()
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sender.join()
    sock.close()
    status = int(received.split(b" ", 2)[1]) if received.startswith(b"HTTP/") else 0
    return status, elapsed, sent_then


def repeat(seconds: float, action: Callable[[], object]) -> list:
    """`action` over and over until `seconds` have passed (at least once)."""
    results, started = [], time.perf_counter()
    while True:
        results.append(action())
        if time.perf_counter() - started >= seconds:
            return results


def body_attack(url: str, seconds: float, rate: float) -> str:
    body = chat_body(24 * MB)
    posts = repeat(seconds, lambda: unauthenticated_post(url, "/v1/chat/completions", body, rate))
    statuses = Counter(status for status, _, _ in posts)
    times = [elapsed for _, elapsed, _ in posts]
    sent = [sent_then / MB for _, _, sent_then in posts]
    return (
        f"{len(posts)} bodies: {', '.join(f'{code} x{n}' for code, n in statuses.items())}; "
        f"status after p50 {percentile(times, 0.5):.2f} s (max {max(times):.2f}), "
        f"{percentile(sent, 0.5):.1f} MB of {len(body) / MB:.0f} sent by then"
    )


async def stream_flood(ws_url: str, token: str, seconds: float) -> str:
    """Live-stream opens from one token, 20 at a time, for `seconds`; each one accepted is
    held until the end."""
    outcomes: Counter[str] = Counter()
    held = []
    deadline = time.monotonic() + seconds

    async def one() -> None:
        try:
            ws = await connect(ws_url, additional_headers=bearer(token), open_timeout=120)
        except InvalidStatus as refused:
            outcomes[f"HTTP {refused.response.status_code}"] += 1
            return
        except (OSError, TimeoutError) as failed:
            outcomes[type(failed).__name__] += 1
            return
        try:
            with contextlib.suppress(ConnectionClosed):
                await ws.send(start())
            first = json.loads(await asyncio.wait_for(ws.recv(), 120))
        except (ConnectionClosed, TimeoutError):
            outcomes["closed"] += 1
            await ws.close()
            return
        if first["event"] == "ready":
            outcomes["ready"] += 1
            held.append(ws)
        else:
            outcomes[first.get("code") or first["event"]] += 1
            await ws.close()

    async def opener() -> None:
        while time.monotonic() < deadline:
            await one()

    await asyncio.gather(*(opener() for _ in range(20)))
    for ws in held:
        with contextlib.suppress(ConnectionClosed):
            await ws.send(STOP)
    await asyncio.gather(*(events_until_closed(ws, within=120) for ws in held))
    total = sum(outcomes.values())
    return f"{total} opens: " + ", ".join(f"{name} x{n}" for name, n in outcomes.most_common())


def speech_pcm(seconds: float) -> bytes:
    """jfk (11 s) with a second of silence after each, repeated to `seconds`, PCM16 16 kHz."""
    clip = decode_audio(str(sample_path("jfk")), sampling_rate=16000)
    one = np.concatenate([clip, np.zeros(16000, dtype=np.float32)])
    audio = np.tile(one, int(np.ceil(seconds * 16000 / len(one))))[: int(seconds * 16000)]
    return (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()


async def fast_audio(ws_url: str, token: str, pcm: bytes, frame: int) -> str:
    # No keepalive pings: a stream held back by the server (it reads no more while the
    # decoder is behind) answers no ping until it reads again, and the attack is its memory.
    async with connect(
        ws_url, additional_headers=bearer(token), max_size=None, ping_interval=None
    ) as ws:
        await ws.send(start())
        ready = json.loads(await ws.recv())
        assert ready["event"] == "ready", ready
        started = time.perf_counter()
        for offset in range(0, len(pcm), frame):
            await ws.send(pcm[offset : offset + frame])
        sent_in = time.perf_counter() - started
        await ws.send(STOP)
        events = await events_until_closed(ws, within=1800)
    finals = sum(1 for e in events if e["event"] == "batch_processed" and e["is_final"])
    last = events[-1] if events else {"event": "nothing"}
    return (
        f"{len(pcm) / 32000:.0f} s of audio sent in {sent_in:.1f} s; {finals} finals; "
        f"ends {last['event']} ({last.get('audio_seconds', last.get('code', ''))})"
    )


def metric_labels(url: str, token: str) -> str:
    with httpx.Client(timeout=60) as client:
        size_before = len(client.get(f"{url}/metrics").content)
        statuses: Counter[int] = Counter()
        for index in range(300):
            method = "X" * 4096 + str(index)
            statuses[client.request(method, f"{url}/api/v1/health").status_code] += 1
        for _ in range(300):
            statuses[client.get(f"{url}/bogus/{secrets.token_hex(8)}").status_code] += 1
        for index in range(100):
            request = {
                "model": f"bogus-{index}-{secrets.token_hex(8)}",
                "messages": [{"role": "user", "content": "hi"}],
                "max_tokens": 1,
            }
            response = client.post(
                f"{url}/v1/chat/completions", headers=bearer(token), json=request
            )
            statuses[response.status_code] += 1
        started = time.perf_counter()
        size_after = len(client.get(f"{url}/metrics").content)
        scrape = time.perf_counter() - started
    return (
        f"300 made-up methods, 300 paths, 100 models "
        f"({', '.join(f'{code} x{n}' for code, n in sorted(statuses.items()))}): /metrics "
        f"{size_before / 1024:.0f} -> {size_after / 1024:.0f} KB, scraped in {scrape * 1000:.0f} ms"
    )


@contextlib.contextmanager
def envoy_stack(token: str, shim: Path | None) -> Iterator[tuple[str, dict[str, int]]]:
    """One ASR service behind Envoy, the configuration rendered by the code under test
    (`local` target); yields Envoy's address and the pids of Envoy and ASR."""
    asr_env = {
        **code_env(shim),
        "API_TOKENS": token,
        "ASR_METRICS_PORT": "0",
        "ASR_LLM_TARGET": "",
        "LOG_LEVEL": "WARNING",
    }
    with grpc_service("asr", asr_env, "abuse-envoy-asr") as (asr_target, asr_process):
        listen, admin = free_port(), free_port()
        arguments = {
            "asr_ports": [int(asr_target.rsplit(":", 1)[1])],
            "ports": {name: free_port() for name in ("ocr", "llm", "tts")},
            "listen_port": listen,
            "admin_port": admin,
            "directory_port": free_port(),
        }
        work = Path(tempfile.mkdtemp(prefix="paneas-abuse-envoy-"))
        render = (
            "import json, sys; from paneas.services.envoy.config import local_target, "
            "render_yaml; print(render_yaml(local_target(**json.loads(sys.argv[1]))))"
        )
        config = work / "envoy.yaml"
        config.write_text(
            subprocess.run(
                [sys.executable, "-c", render, json.dumps(arguments)],
                env={**os.environ, **code_env(shim)},
                cwd=work,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        # Its own session: Envoy started from a shell that exits can get SIGTERM.
        envoy = LoggedProcess(
            "envoy",
            envoy_command(config),
            {**os.environ, "API_TOKENS": token},
            LOGS / f"abuse-envoy-{listen}.log",
            new_session=True,
        )
        try:
            ready = f"http://127.0.0.1:{admin}/ready"
            wait_until(lambda: http_ok(ready), "envoy", envoy.process, timeout=60)
            pids = {"envoy": envoy.process.pid, "asr": asr_process.process.pid}
            yield f"127.0.0.1:{listen}", pids
        finally:
            envoy.stop(timeout=15)


def envoy_attack(address: str, seconds: float) -> str:
    options = [("grpc.max_send_message_length", 64 * MB)]
    request = asr_pb2.RecognizeRequest(audio=bytes(45 * MB))

    def hostile() -> tuple[str, float]:
        with grpc.insecure_channel(address, options=options) as channel:
            stub = asr_pb2_grpc.AsrServiceStub(channel)
            started = time.perf_counter()
            try:
                stub.Recognize(request, timeout=120)
                code = "OK"
            except grpc.RpcError as error:
                code = error.code().name
            return code, time.perf_counter() - started

    with ThreadPoolExecutor(2) as pool:
        loops = [pool.submit(repeat, seconds, hostile) for _ in range(2)]
        calls = [call for loop in loops for call in loop.result()]
    codes = Counter(code for code, _ in calls)
    times = [elapsed for _, elapsed in calls]
    return (
        f"{len(calls)} calls: {', '.join(f'{code} x{n}' for code, n in codes.items())}; "
        f"answered after p50 {percentile(times, 0.5):.2f} s (max {max(times):.2f})"
    )


def edge_attack(name: str, code: str, shim: Path | None, args: argparse.Namespace) -> Row:
    attacker, victim_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    if name == "envoy-45mb":
        # Envoy's check knows one token list; the victim uses the attacker's valid one.
        with envoy_stack(attacker, shim) as (address, pids):
            call = victim_call("grpc", address, attacker)
            wait_until(lambda: _succeeds(call), "ASR through Envoy", _Alive(), timeout=60)
            hostile = lambda: envoy_attack(address, args.seconds)  # noqa: E731
            return measure(name, code, pids, ("grpc", address, attacker), hostile)
    streams = name in ("stream-flood", "fast-audio")
    limits = {
        "RATE_LIMIT_ENABLED": "true",
        "RATE_LIMIT_GLOBAL": "100000000",
        "RATE_LIMIT_OCR": "100000000",
        "RATE_LIMIT_LLM": "100000000",
    }
    tokens = [attacker, victim_token]
    extra_env = limits if streams else None
    with gateway_stack(tokens, shim, asr=streams, extra_env=extra_env) as (url, pids):
        ws_url = url.replace("http://", "ws://", 1) + "/api/v1/asr/stream"
        if name == "body-fast":
            hostile = lambda: body_attack(url, args.seconds, 0)  # noqa: E731
        elif name == "body-slow":
            hostile = lambda: body_attack(url, args.seconds, 2 * MB)  # noqa: E731
        elif name == "stream-flood":
            flood = stream_flood(ws_url, attacker, args.seconds)
            hostile = lambda: asyncio.run(flood)  # noqa: E731
        elif name == "fast-audio":
            pcm = speech_pcm(args.audio_seconds)
            audio = fast_audio(ws_url, attacker, pcm, args.audio_frame_bytes)
            hostile = lambda: asyncio.run(audio)  # noqa: E731
        else:
            hostile = lambda: metric_labels(url, attacker)  # noqa: E731
        return measure(name, code, pids, ("http", url, victim_token), hostile)


class _Alive:
    """wait_until wants a process; the victim's target has none of its own to watch."""

    def poll(self) -> None:
        return None


def _succeeds(call: Callable[[], object]) -> bool:
    try:
        call()
    except grpc.RpcError:
        return False
    return True


def print_row(row: Row) -> None:
    memory = ", ".join(
        f"{name} {baseline:.0f} -> {peak:.0f} MB ({row.cpu[name]:.1f} s CPU)"
        for name, (baseline, peak) in row.memory.items()
    )
    if not row.during:
        row.during = [float("nan")]
    idle50, during50 = percentile(row.idle, 0.5), percentile(row.during, 0.5)
    ratio = during50 / idle50
    print(
        f"| {row.attack} | {row.code} | {row.outcome} | {row.seconds:.1f} | {memory} "
        f"| {idle50 * 1000:.1f} / {percentile(row.idle, 0.95) * 1000:.1f} "
        f"| {during50 * 1000:.1f} / {percentile(row.during, 0.95) * 1000:.1f} "
        f"/ {max(row.during) * 1000:.0f} ({len(row.during)}, {row.failures} failed) "
        f"| {ratio:.1f}x {'yes' if ratio <= 5 else 'NO'} |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.abuse")
    parser.add_argument("--hours", type=float, default=4.0)
    parser.add_argument("--victims", type=int, default=5)
    parser.add_argument(
        "--attacks",
        default=",".join((*SERVICE_ATTACKS, *EDGE_ATTACKS)),
        help="comma-separated",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="repeated attacks' length")
    parser.add_argument("--audio-seconds", type=float, default=600.0, help="fast-audio's audio")
    parser.add_argument(
        "--audio-frame-bytes",
        type=int,
        # The largest frame GATEWAY_ASR_STREAM_MAX_FRAME_BYTES lets through.
        default=MB,
        help="fast-audio's WebSocket frames (3200: 100 ms, as live clients send)",
    )
    parser.add_argument(
        "--before", type=Path, help="a worktree of an older commit, for before/after"
    )
    args = parser.parse_args()
    chosen = args.attacks.split(",")
    token = secrets.token_urlsafe(24)
    print(describe())
    if any(name in chosen for name in SERVICE_ATTACKS):
        stated = flac_of_silence(args.hours)
        attacks = {
            "flac-stated": stated,
            "flac-unstated": unstated(stated),
            "flac-over": flac_of_silence(5.0),
        }
        window = os.environ.get("ASR_DECODE_WINDOW_SECONDS", "default")
        print(f"files: {args.hours:g} h FLAC {len(stated) / MB:.1f} MB; over: 5 h; window {window}")
        print(
            "| attack | outcome (2 calls) | attack s | RSS added MB | worst health ms "
            "| victim p50 idle s | victim p50 during s (n) |"
        )
        print("|---|---|---|---|---|---|---|")
        for name, payload in attacks.items():
            if name not in chosen:
                continue
            result = attack(name, payload, token, args.victims)
            print(
                f"| {name} | {', '.join(result.outcomes)} | {result.attack_seconds:.1f} "
                f"| {result.rss_added_mb:.0f} | {result.worst_health_ms:.0f} "
                f"| {result.victim_idle_p50:.2f} | {result.victim_attack_p50:.2f} "
                f"({result.victims_during}) |",
                flush=True,
            )
    edge = [name for name in EDGE_ATTACKS if name in chosen]
    if edge:
        shim = before_shim(args.before.resolve()) if args.before else None
        print(
            "| attack | code | outcome | attack s | RSS baseline -> peak (CPU during) "
            "| victim idle p50 / p95 ms | victim during p50 / p95 / max ms (n, failed) "
            "| p50 ratio, within 5x |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for name in edge:
            if shim:
                print_row(edge_attack(name, "before", shim, args))
            print_row(edge_attack(name, "after", None, args))


if __name__ == "__main__":
    main()
