"""Live ASR through the gateway: OpenAI Realtime transcription (WS /v1/realtime) next to the
native WebSocket (WS /api/v1/asr/stream), on the same audio and the same number of streams.

    .venv/bin/python -m bench.asr_realtime [--streams 1,2] [--seconds 30] [--native-interims]

One ASR service and one gateway; the streams of `bench.asr_live` (real recordings, English and
Portuguese, 0.5 s apart), paced in real time in 100 ms chunks. The native path sends 16 kHz
PCM16 with interim results off unless --native-interims (Realtime sessions skip interims: their
deltas are sent at completion); the Realtime path sends the same audio resampled to 24 kHz as
base64 appends, with server VAD at 500 ms (the service's default endpointing silence).
Measured in the client, per utterance:
  final   arrival of the native final / the Realtime `...transcription.completed`, minus the
          moment the audio up to (speech end + 500 ms) had been sent: the earliest an
          endpointer could know the utterance was over. Speech end is the native
          speech_ended offset / the Realtime speech_stopped `audio_end_ms`.
Prints p50/p95 per path and stream count, and the Realtime minus native difference (target:
within 50 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import secrets
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
from websockets.asyncio.client import connect

from bench.asr import SAMPLE_RATE, asr_service
from bench.asr_live import CHUNK_SECONDS, SILENCE_SECONDS, StreamPlan, stream_plans
from bench.load import wait_for_quiet
from bench.machine import describe
from bench.services import gateway
from bench.stats import percentile

REALTIME_RATE = 24_000
_EPSILON = 1e-6


@dataclass
class Timeline:
    """When each 100 ms chunk went out, and what came back when."""

    sent: list[float] = field(default_factory=list)
    # (arrival, speech end in seconds of stream audio) per final / completed.
    finals: list[tuple[float, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def sent_by(self, seconds: float) -> float:
        index = math.ceil(seconds / CHUNK_SECONDS - _EPSILON) - 1
        return self.sent[min(len(self.sent) - 1, max(0, index))]

    def latencies(self) -> list[float]:
        return [
            arrived - self.sent_by(speech_end + SILENCE_SECONDS)
            for arrived, speech_end in self.finals
        ]


def resampled(samples: np.ndarray, rate: int) -> bytes:
    resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = SAMPLE_RATE
    frames = [*resampler.resample(frame), *resampler.resample(None)]
    return b"".join(f.to_ndarray().tobytes() for f in frames)


def chunked(data: bytes, rate: int) -> list[bytes]:
    step = int(rate * CHUNK_SECONDS) * 2
    return [data[start : start + step] for start in range(0, len(data), step)]


async def _paced(send, chunks: list, start: float, timeline: Timeline) -> None:
    for index, chunk in enumerate(chunks):
        await asyncio.sleep(max(0.0, start + (index + 1) * CHUNK_SECONDS - time.perf_counter()))
        await send(chunk)
        timeline.sent.append(time.perf_counter())


async def native_stream(
    url: str, token: str, plan: StreamPlan, start: float, interims: bool
) -> Timeline:
    timeline = Timeline()
    chunks = chunked(plan.samples.astype("<i2").tobytes(), SAMPLE_RATE)
    headers = {"Authorization": f"Bearer {token}"}
    async with connect(f"{url}/api/v1/asr/stream", additional_headers=headers) as ws:
        config = {"language": plan.language, "sample_rate": SAMPLE_RATE}
        await ws.send(
            json.dumps({"event": "start", "config": config | {"interim_results": interims}})
        )
        speech_ends: list[float] = []

        async def receive() -> None:
            async for message in ws:
                event, now = json.loads(message), time.perf_counter()
                if event["event"] == "speech_ended":
                    speech_ends.append(event["offset"])
                elif event["event"] == "batch_processed" and event["is_final"]:
                    inside = [e for e in speech_ends if event["start"] < e <= event["end"] + 1e-3]
                    timeline.finals.append((now, max(inside) if inside else event["end"]))
                elif event["event"] == "error":
                    timeline.errors.append(event["message"])
                elif event["event"] == "final_summary":
                    return

        receiver = asyncio.create_task(receive())
        await _paced(ws.send, chunks, start, timeline)
        await ws.send(json.dumps({"event": "stop"}))
        await asyncio.wait_for(receiver, 120)
    return timeline


async def realtime_stream(url: str, token: str, plan: StreamPlan, start: float) -> Timeline:
    timeline = Timeline()
    chunks = chunked(resampled(plan.samples, REALTIME_RATE), REALTIME_RATE)
    headers = {"Authorization": f"Bearer {token}"}
    ws_url = f"{url}/v1/realtime?intent=transcription"
    async with connect(ws_url, additional_headers=headers, max_size=None) as ws:
        session = {
            "type": "transcription",
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": REALTIME_RATE},
                    "transcription": {"model": "whisper-1", "language": plan.language},
                    "turn_detection": {"type": "server_vad", "silence_duration_ms": 500},
                }
            },
        }
        await ws.send(json.dumps({"type": "session.update", "session": session}))
        stopped: dict[str, float] = {}
        started: set[str] = set()
        completed: set[str] = set()
        audio_done = asyncio.Event()

        async def receive() -> None:
            async for message in ws:
                event, now = json.loads(message), time.perf_counter()
                kind = event["type"]
                if kind == "input_audio_buffer.speech_started":
                    started.add(event["item_id"])
                elif kind == "input_audio_buffer.speech_stopped":
                    stopped[event["item_id"]] = event["audio_end_ms"] / 1000
                elif kind == "conversation.item.input_audio_transcription.completed":
                    item = event["item_id"]
                    completed.add(item)
                    if item in stopped:
                        timeline.finals.append((now, stopped[item]))
                elif kind == "error":
                    timeline.errors.append(event["error"]["message"])
                if audio_done.is_set() and started <= completed:
                    return

        async def send(chunk: bytes) -> None:
            append = {
                "type": "input_audio_buffer.append",
                "audio": base64.b64encode(chunk).decode(),
            }
            await ws.send(json.dumps(append))

        receiver = asyncio.create_task(receive())
        await _paced(send, chunks, start, timeline)
        # The plan ends in 1.5 s of silence: every turn ends by endpointing.
        await asyncio.sleep(2)
        audio_done.set()
        await ws.send(json.dumps({"type": "input_audio_buffer.clear"}))  # wakes the receiver
        await asyncio.wait_for(receiver, 120)
    return timeline


async def run(url: str, token: str, plans: list[StreamPlan], path: str, interims: bool):
    start = time.perf_counter() + 0.5
    if path == "native":
        streams = (native_stream(url, token, plan, start, interims) for plan in plans)
    else:
        streams = (realtime_stream(url, token, plan, start) for plan in plans)
    return list(await asyncio.gather(*streams))


def p50_p95(values: list[float]) -> tuple[float, float]:
    return percentile(values, 0.5) * 1000, percentile(values, 0.95) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", default="1,2", help="concurrent stream counts")
    parser.add_argument("--seconds", type=float, default=30, help="least audio per stream")
    parser.add_argument("--native-interims", action="store_true")
    parser.add_argument("--max-load", type=float, default=0.5)
    parser.add_argument("--patience", type=float, default=900, help="seconds to wait for it")
    args = parser.parse_args()
    counts = [int(count) for count in args.streams.split(",")]
    token = secrets.token_urlsafe(24)
    print(describe(), flush=True)
    with (
        asr_service(token, max_streams=2 * max(counts)) as service,
        tempfile.TemporaryDirectory() as work,
        gateway(token, {"asr": service.target}, Path(work)) as (url, _),
    ):
        ws_url = url.replace("http://", "ws://", 1)
        print(f"{'streams':>7} {'path':>9} {'finals':>6} {'p50 ms':>7} {'p95 ms':>7}", flush=True)
        for count in counts:
            plans = stream_plans(count, args.seconds)
            figures = {}
            for path in ("native", "realtime"):
                wait_for_quiet(args.max_load, args.patience)
                timelines = asyncio.run(run(ws_url, token, plans, path, args.native_interims))
                latencies = [value for t in timelines for value in t.latencies()]
                errors = [error for t in timelines for error in t.errors]
                p50, p95 = p50_p95(latencies) if latencies else (math.nan, math.nan)
                figures[path] = (p50, p95)
                print(
                    f"{count:>7} {path:>9} {len(latencies):>6} {p50:>7.0f} {p95:>7.0f}", flush=True
                )
                for error in errors:
                    print(f"        error: {error}", flush=True)
            p50_gap, p95_gap = (figures["realtime"][i] - figures["native"][i] for i in (0, 1))
            print(
                f"{count:>7} {'rt-native':>9} {'':>6} {p50_gap:>+7.0f} {p95_gap:>+7.0f}", flush=True
            )


if __name__ == "__main__":
    main()
