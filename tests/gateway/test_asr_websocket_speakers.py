"""Speaker labels on WS /api/v1/asr/stream against the real ASR service: `enable_diarization`
in the start config gives each final event a `speaker`, stable for the stream."""

import json

import pytest
from websockets.asyncio.client import connect

from paneas.asr.v1 import asr_pb2
from paneas.gateway.asr.stream import events_of
from tests.gateway.test_asr_websocket import STOP, bearer, events_until_closed, frames, start, url
from tests.support.speakers import consistent_fraction, conversation

pytestmark = pytest.mark.backends("asr")

__all__ = ["bearer", "url"]  # the fixtures, shared with the WebSocket tests


async def _stream(
    url: str, headers: dict, pcm: bytes, **config: object
) -> tuple[list[dict], int | None]:
    """Every event of a stream of `pcm`, and its close code."""
    async with connect(url, additional_headers=headers) as ws:
        await ws.send(start(sample_rate=16000, **config))
        assert json.loads(await ws.recv())["event"] == "ready"
        # As fast as the service takes it: its endpointing counts samples, not seconds.
        for frame in frames(pcm, 16000):
            await ws.send(frame)
        await ws.send(STOP)
        events = await events_until_closed(ws, within=240)
    return events, ws.close_code


async def test_final_events_carry_a_stable_speaker_per_voice(url, bearer):
    talk = conversation()
    events, close_code = await _stream(
        url, bearer, talk.samples.tobytes(), enable_diarization=True, max_speakers=6
    )
    assert close_code == 1000, events[-1]
    results = [event for event in events if event["event"] == "batch_processed"]
    finals = [event for event in results if event["is_final"] and event["text"]]
    assert finals and all(event.get("speaker") for event in finals)
    assert not any("speaker" in event for event in results if not event["is_final"])
    assert list(dict.fromkeys(event["speaker"] for event in finals)) == ["A", "B", "C", "D"]
    labelled = [(event["start"], event["end"], event["speaker"]) for event in finals]
    assert consistent_fraction(talk.turns, labelled) >= 0.9, labelled


async def test_bad_speaker_bounds_end_the_stream_with_the_rule(url, bearer):
    events, close_code = await _stream(
        url, bearer, b"", enable_diarization=True, min_speakers=3, max_speakers=2
    )
    assert close_code == 1007
    assert events[-1]["event"] == "error" and events[-1]["code"] == "INVALID_ARGUMENT", events
    assert "over max_speakers" in events[-1]["message"]


def test_only_labelled_results_have_a_speaker():
    response = asr_pb2.StreamingRecognizeResponse(
        results=[
            asr_pb2.StreamingRecognitionResult(transcript="hi", is_final=True, speaker="agent"),
            asr_pb2.StreamingRecognitionResult(transcript="hello", is_final=True),
        ]
    )
    labelled, plain = events_of(response)
    assert labelled["speaker"] == "agent"
    assert "speaker" not in plain
