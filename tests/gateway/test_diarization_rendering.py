"""Speaker labels in OpenAI's transcription formats, in process: diarized_json as the official
client's `TranscriptionDiarized`, verbose_json segments with `speaker`, SRT and WebVTT cues with
the speaker, and the parsing of `chunking_strategy` and known speakers. The routes' tests
against the real service are in test_diarization_routes.py."""

import base64
import json

import pytest
from openai.types.audio import TranscriptionDiarized, TranscriptionVerbose

from paneas.asr.v1 import asr_pb2
from paneas.gateway.openai import transcription
from paneas.gateway.openai.errors import OpenAIError
from paneas.gateway.openai.transcription.protocol import (
    ServerVad,
    known_speaker_samples,
    parse_chunking_strategy,
)
from paneas.gateway.openai.transcription.render import vtt


def conversation() -> asr_pb2.RecognizeResponse:
    """Two speakers, a blank segment between their turns, words labelled by overlap."""
    return asr_pb2.RecognizeResponse(
        text=" Hello, how can I help? My card was declined.",
        language="en",
        duration_seconds=6.4999,
        segments=[
            asr_pb2.Segment(
                id=0,
                start_seconds=0.5,
                end_seconds=2.0,
                text=" Hello, how can I help?",
                speaker="agent",
                words=[
                    asr_pb2.Word(
                        word=" Hello,", start_seconds=0.5, end_seconds=0.9, speaker="agent"
                    )
                ],
            ),
            asr_pb2.Segment(id=1, start_seconds=2.0, end_seconds=2.5, text=" ", speaker="agent"),
            asr_pb2.Segment(
                id=2,
                start_seconds=2.5,
                end_seconds=6.1234,
                # The service's segments may start without a space (a sentence split after
                # a stop): diarized_json's still join into the transcript.
                text="My card was declined.",
                speaker="A",
            ),
        ],
        diarization=asr_pb2.Diarization(
            speakers=[
                asr_pb2.Speaker(label="agent", speech_seconds=1.5, embedding=[0.1] * 192),
                asr_pb2.Speaker(label="A", speech_seconds=3.6, embedding=[0.2] * 192),
            ]
        ),
    )


def rendered(response_format: str, diarized: bool = True, granularities=()):
    return transcription.render(
        conversation(), response_format, "transcribe", list(granularities), 0.0, False, diarized
    )


def test_diarized_json_is_openais_shape_with_spoken_segments_numbered_in_order():
    body = json.loads(rendered("diarized_json").body)
    assert body == {
        "task": "transcribe",
        "duration": 6.5,
        "text": "Hello, how can I help? My card was declined.",
        "segments": [
            {
                "type": "transcript.text.segment",
                "id": "seg_0",
                "start": 0.5,
                "end": 2.0,
                "text": " Hello, how can I help?",
                "speaker": "agent",
            },
            {
                "type": "transcript.text.segment",
                "id": "seg_1",
                "start": 2.5,
                "end": 6.123,
                "text": " My card was declined.",
                "speaker": "A",
            },
        ],
        "usage": {"type": "duration", "seconds": 6.5},
    }
    assert "".join(segment["text"] for segment in body["segments"]).strip() == body["text"]
    # The official client's model takes it as it is: every field known, none missing.
    parsed = TranscriptionDiarized.model_validate(body)
    assert parsed.segments[1].speaker == "A" and parsed.usage.seconds == 6.5
    assert not parsed.model_extra and not parsed.segments[0].model_extra
    # The voices' embeddings stay out of OpenAI's answer.
    assert "embedding" not in rendered("diarized_json").body.decode()


def test_verbose_json_segments_carry_the_speaker_only_when_diarized():
    body = json.loads(rendered("verbose_json", granularities=["segment", "word"]).body)
    assert [segment["speaker"] for segment in body["segments"]] == ["agent", "agent", "A"]
    # Words have no speaker in OpenAI's verbose_json; /api/v1/asr has them.
    assert "speaker" not in body["words"][0]
    TranscriptionVerbose.model_validate(body)
    plain = json.loads(rendered("verbose_json", diarized=False).body)
    assert all("speaker" not in segment for segment in plain["segments"])


def test_srt_and_vtt_cues_name_their_speaker():
    assert rendered("srt").body.decode() == (
        "1\n00:00:00,500 --> 00:00:02,000\nagent: Hello, how can I help?\n\n"
        "2\n00:00:02,500 --> 00:00:06,123\nA: My card was declined.\n\n"
    )
    assert rendered("vtt").body.decode() == (
        "WEBVTT\n\n"
        "00:00:00.500 --> 00:00:02.000\n<v agent>Hello, how can I help?\n\n"
        "00:00:02.500 --> 00:00:06.123\n<v A>My card was declined.\n\n"
    )


def test_a_vtt_voice_is_escaped():
    segments = [asr_pb2.Segment(start_seconds=0, end_seconds=1, text="Hi", speaker="R&D <lead>")]
    assert "<v R&amp;D &lt;lead&gt;>Hi" in vtt(segments)


def test_text_and_json_show_no_speaker():
    assert rendered("text").body.decode() == "Hello, how can I help? My card was declined.\n"
    assert set(json.loads(rendered("json").body)) == {"text", "usage"}


@pytest.mark.parametrize(
    "raw, nested, expected",
    [
        (None, {}, "auto"),
        ("auto", {}, "auto"),
        (
            '{"type": "server_vad", "prefix_padding_ms": 300, "silence_duration_ms": 500, '
            '"threshold": 0.5}',
            {},
            ServerVad(
                type="server_vad", prefix_padding_ms=300, silence_duration_ms=500, threshold=0.5
            ),
        ),
        (
            None,
            {"type": "server_vad", "threshold": "0.6"},
            ServerVad(type="server_vad", threshold=0.6),
        ),
    ],
    ids=["missing", "auto", "json-object", "sdk-nested-fields"],
)
def test_chunking_strategy_takes_openais_values(raw, nested, expected):
    assert parse_chunking_strategy(raw, nested) == expected


@pytest.mark.parametrize(
    "raw, nested",
    [
        ("manual", {}),
        ('{"type": "auto"}', {}),
        ('{"type": "server_vad", "threshold": 2}', {}),
        ('{"type": "server_vad", "window": 3}', {}),
        ('{"type": "server_vad"', {}),
        (None, {"type": "semantic_vad"}),
        ("{" + '"a":' + "[" * 100_000, {}),
    ],
    ids=[
        "unknown-string",
        "auto-as-object",
        "threshold-over-1",
        "unknown-field",
        "bad-json",
        "nested-type",
        "nested-too-deep",
    ],
)
def test_chunking_strategy_refuses_anything_else_naming_the_accepted_values(raw, nested):
    with pytest.raises(OpenAIError) as raised:
        parse_chunking_strategy(raw, nested)
    assert raised.value.status == 400 and raised.value.param == "chunking_strategy"
    assert '"auto"' in raised.value.message and "server_vad" in raised.value.message


def data_url(audio: bytes, media_type: str = "audio/wav") -> str:
    return f"data:{media_type};base64,{base64.b64encode(audio).decode()}"


def test_known_speakers_decode_their_data_urls():
    samples = known_speaker_samples(
        [" agent ", "customer"],
        [data_url(b"RIFF-1"), data_url(b"OggS", "audio/ogg;codecs=opus")],
    )
    assert [(sample.name, sample.audio) for sample in samples] == [
        ("agent", b"RIFF-1"),
        ("customer", b"OggS"),
    ]
    assert known_speaker_samples([], []) == []


@pytest.mark.parametrize(
    "names, references, param, words",
    [
        (["agent"], [], "known_speaker_names", "pair up"),
        (["agent"], [data_url(b"a"), data_url(b"b")], "known_speaker_references", "pair up"),
        (list("abcde"), [data_url(b"x")] * 5, "known_speaker_names", "at most 4"),
        ([""], [data_url(b"x")], "known_speaker_names", "1-64"),
        (["x" * 65], [data_url(b"x")], "known_speaker_names", "1-64"),
        (["a", "a"], [data_url(b"x")] * 2, "known_speaker_names", "twice"),
        (["a"], ["https://example.com/a.wav"], "known_speaker_references", "data URL"),
        (["a"], [data_url(b"x", "text/plain")], "known_speaker_references", "must be audio"),
        (["a"], [data_url(b"x", "image/png")], "known_speaker_references", "must be audio"),
        (["a"], ["data:audio/wav;base64,not*base64"], "known_speaker_references", "base64"),
        (["a"], ["data:audio/wav;base64,"], "known_speaker_references", "empty"),
        (["a"], [data_url(b"\0" * (4 * 1024 * 1024 + 3))], "known_speaker_references", "MiB"),
    ],
    ids=[
        "name-without-reference",
        "reference-without-name",
        "five",
        "empty-name",
        "long-name",
        "same-name",
        "not-a-data-url",
        "text",
        "image",
        "bad-base64",
        "empty",
        "too-big",
    ],
)
def test_known_speakers_are_refused_with_the_rule(names, references, param, words):
    with pytest.raises(OpenAIError) as raised:
        known_speaker_samples(names, references)
    assert raised.value.status == 400 and raised.value.param == param
    assert words in raised.value.message
