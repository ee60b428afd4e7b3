"""Who spoke when over REST against the real ASR service, on a conversation of four real voices
in ten alternating turns (tests/support/speakers.py): OpenAI's gpt-4o-transcribe-diarize through
the official client (diarized_json, its stream of transcript.text.segment events, known
speakers named by data-URL samples), our own /api/v1/asr, and the transcoded
/api/v1/asr:recognize (on a short clip).

Each diarized request costs the service a Whisper decode of ~56 s and a diarization, so the
module makes few of them: one diarized_json answer is shared by the tests that read it."""

import base64
import re

import httpx
import openai
import pytest
from openai.types.audio import (
    TranscriptionDiarized,
    TranscriptionTextDoneEvent,
    TranscriptionTextSegmentEvent,
)

from paneas.services.asr.evaluation import sample_path
from tests.support.audio import encode_audio, load_float32_16k
from tests.support.metrics import metric_value
from tests.support.speakers import (
    RATE,
    consistent_fraction,
    conversation,
    known_voices,
    turn_labels,
)

pytestmark = pytest.mark.backends("asr")

LETTERS = {"A", "B", "C", "D", "E", "F"}
# Files (or channels) the ASR service has diarized.
DIARIZED_FILES = "paneas_asr_diarization_seconds_count"


@pytest.fixture(scope="module")
def talk():
    return conversation()


@pytest.fixture(scope="module")
def talk_wav(talk) -> bytes:
    return encode_audio(talk.samples, "wav")


@pytest.fixture(scope="module")
def client(gateway, api_token) -> openai.OpenAI:
    # No retries: a refusal must surface as the error the test expects; diarizing a minute
    # of speech on two busy cores takes a while.
    return openai.OpenAI(
        base_url=f"{gateway.url}/v1", api_key=api_token, max_retries=0, timeout=300
    )


@pytest.fixture(scope="module")
def headers(api_token) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token}"}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def data_url(samples) -> str:
    return "data:audio/wav;base64," + b64(encode_audio(samples, "wav"))


def spans(segments) -> list[tuple[float, float, str]]:
    return [(segment.start, segment.end, segment.speaker) for segment in segments]


@pytest.fixture(scope="module")
def diarized(client, talk_wav) -> TranscriptionDiarized:
    return client.audio.transcriptions.create(
        file=("call.wav", talk_wav),
        model="gpt-4o-transcribe-diarize",
        response_format="diarized_json",
        chunking_strategy="auto",
        language="en",
    )


def test_diarized_json_labels_each_voice_consistently(diarized, talk):
    assert isinstance(diarized, TranscriptionDiarized)
    assert diarized.task == "transcribe"
    assert diarized.duration == pytest.approx(talk.seconds, abs=0.1)
    assert diarized.usage.type == "duration"
    assert diarized.usage.seconds == pytest.approx(talk.seconds, abs=0.1)
    segments = diarized.segments
    assert [segment.id for segment in segments] == [f"seg_{i}" for i in range(len(segments))]
    assert all(segment.type == "transcript.text.segment" for segment in segments)
    assert [segment.start for segment in segments] == sorted(s.start for s in segments)
    # "A", "B" ... in order of first appearance, one per voice.
    labels = list(dict.fromkeys(segment.speaker for segment in segments))
    assert labels == sorted(labels) and set(labels) <= LETTERS
    assert len(labels) == len(talk.speakers), turn_labels(talk.turns, spans(segments))
    assert consistent_fraction(talk.turns, spans(segments)) >= 0.9, spans(segments)
    assert "fail" in diarized.text.lower() and "country" in diarized.text.lower()
    # Nothing but OpenAI's fields (no voice embeddings on the OpenAI route).
    assert set(diarized.model_dump()) == {"task", "duration", "text", "segments", "usage"}


def test_a_diarized_stream_sends_each_segment_with_its_speaker(client, talk, talk_wav, diarized):
    events = list(
        client.audio.transcriptions.create(
            file=("call.wav", talk_wav),
            model="gpt-4o-transcribe-diarize",
            response_format="diarized_json",
            chunking_strategy={"type": "server_vad", "silence_duration_ms": 500},
            language="en",
            stream=True,
        )
    )
    *segments, done = events
    assert isinstance(done, TranscriptionTextDoneEvent)
    assert segments and all(isinstance(e, TranscriptionTextSegmentEvent) for e in segments)
    assert [segment.id for segment in segments] == [f"seg_{i}" for i in range(len(segments))]
    assert segments[0].speaker == "A"
    assert len({segment.speaker for segment in segments}) == len(talk.speakers)
    assert consistent_fraction(talk.turns, spans(segments)) >= 0.9, spans(segments)
    # The same transcript as the answer in one piece.
    assert done.text == diarized.text
    assert "".join(segment.text for segment in segments).strip() == done.text


def test_known_speakers_are_named(client, talk, talk_wav):
    voices = known_voices()
    result = client.audio.transcriptions.create(
        file=("call.wav", talk_wav),
        model="gpt-4o-transcribe-diarize",
        response_format="diarized_json",
        chunking_strategy="auto",
        language="en",
        known_speaker_names=list(voices),
        known_speaker_references=[data_url(samples) for samples in voices.values()],
    )
    labels = turn_labels(talk.turns, spans(result.segments))
    for turn, label in zip(talk.turns, labels, strict=True):
        if turn.speaker in voices:
            assert label == turn.speaker, (turn, labels)
        else:
            # The voices nobody named keep letters.
            assert label in LETTERS, (turn, labels)
    assert consistent_fraction(talk.turns, spans(result.segments)) >= 0.9


def test_a_known_speaker_sample_too_short_is_a_400_naming_the_parameter(client, talk_wav):
    one_second = known_voices()["reader"][:RATE]
    with pytest.raises(openai.BadRequestError) as raised:
        client.audio.transcriptions.create(
            file=("call.wav", talk_wav),
            model="gpt-4o-transcribe-diarize",
            response_format="diarized_json",
            known_speaker_names=["reader"],
            known_speaker_references=[data_url(one_second)],
        )
    assert raised.value.param == "known_speaker_references"
    assert "10" in raised.value.message, raised.value.message


def test_diarize_as_an_extra_field_labels_vtt_cues_with_any_model(client, talk_wav):
    vtt = client.audio.transcriptions.create(
        file=("call.wav", talk_wav),
        model="whisper-1",
        response_format="vtt",
        language="en",
        extra_body={"diarize": True, "max_speakers": 2},
    )
    cues = [block.split("\n") for block in vtt.removeprefix("WEBVTT\n\n").strip().split("\n\n")]
    voices = {re.match(r"<v ([^>]+)>", text)[1] for _, text in cues}
    # Four voices, held to two by max_speakers.
    assert voices == {"A", "B"}, vtt


def test_json_of_the_diarize_model_streams_deltas_with_segment_ids_and_runs_no_diarization(
    client, asr_service
):
    """json and text have no room for a speaker: the diarize model's answer in them costs no
    diarization; streamed, its deltas name their segment as OpenAI's do."""
    before = metric_value(asr_service.metrics_url, DIARIZED_FILES)
    events = list(
        client.audio.transcriptions.create(
            file=("jfk.wav", sample_path("jfk").read_bytes()),
            model="gpt-4o-transcribe-diarize",
            chunking_strategy="auto",
            language="en",
            stream=True,
        )
    )
    *deltas, done = events
    assert deltas and all(event.type == "transcript.text.delta" for event in deltas)
    assert [event.segment_id for event in deltas] == [f"seg_{i}" for i in range(len(deltas))]
    assert "".join(event.delta for event in deltas) == done.text
    assert "country" in done.text
    assert metric_value(asr_service.metrics_url, DIARIZED_FILES) == before


def test_rest_asr_carries_speakers_on_segments_and_words_and_a_summary(
    gateway, headers, talk, talk_wav
):
    answer = httpx.post(
        f"{gateway.url}/api/v1/asr",
        headers=headers,
        files={"file": ("call.wav", talk_wav)},
        data={
            "language": "en",
            "vad_filter": "true",
            "word_timestamps": "true",
            "diarize": "true",
            "max_speakers": "4",
        },
        timeout=300,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    segments = body["segments"]
    labelled = [(s["start_seconds"], s["end_seconds"], s["speaker"]) for s in segments]
    assert consistent_fraction(talk.turns, labelled) >= 0.9, labelled
    words = [
        (w["start_seconds"], w["end_seconds"], w["speaker"]) for s in segments for w in s["words"]
    ]
    assert all(label for _, _, label in words)
    assert consistent_fraction(talk.turns, words) >= 0.9
    speakers = body["diarization"]["speakers"]
    assert [speaker["label"] for speaker in speakers] == ["A", "B", "C", "D"]
    assert {s["speaker"] for s in segments} == {"A", "B", "C", "D"}
    assert all(speaker["speech_seconds"] > 1 for speaker in speakers)
    # The voices, for matching speakers across files (192 floats each, L2-normalised).
    for speaker in speakers:
        norm = sum(value * value for value in speaker["embedding"]) ** 0.5
        assert len(speaker["embedding"]) >= 64 and norm == pytest.approx(1.0, abs=1e-3)


def test_transcoded_recognize_takes_the_diarization_config(gateway, headers, asr_service):
    """The JSON route transcoded from the contract: no gateway code of its own, so one short
    clip whose only voice is given as a known speaker shows the options arrive."""
    jfk = load_float32_16k(sample_path("jfk"))
    before = metric_value(asr_service.metrics_url, DIARIZED_FILES)
    answer = httpx.post(
        f"{gateway.url}/api/v1/asr:recognize",
        headers=headers,
        json={
            "config": {
                "language": "en",
                "diarization": {
                    "enable": True,
                    "max_speakers": 1,
                    "known_speakers": [
                        {"name": "kennedy", "audio": b64(encode_audio(jfk[: 5 * RATE], "wav"))}
                    ],
                },
            },
            "audio": b64(encode_audio(jfk, "wav")),
        },
        timeout=300,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["segments"] and {s["speaker"] for s in body["segments"]} == {"kennedy"}
    assert [speaker["label"] for speaker in body["diarization"]["speakers"]] == ["kennedy"]
    # The count that shows when json and text run none (above).
    assert metric_value(asr_service.metrics_url, DIARIZED_FILES) == before + 1
