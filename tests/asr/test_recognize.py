"""Recognize and RecognizeStream against the real service on the packaged Whisper base."""

import grpc
import numpy as np
import pytest

from paneas.asr.v1 import asr_pb2
from paneas.services.asr.evaluation import LANGUAGES, SAMPLES, sample_path, wer
from tests.support.audio import encode_audio

SYNTHESISED = [name for name in SAMPLES if name not in ("jfk", "beckett")]


def assert_word_timings(response: asr_pb2.RecognizeResponse) -> None:
    words = [word for segment in response.segments for word in segment.words]
    assert words, "word timestamps were requested"
    previous_end = 0.0
    for word in words:
        assert 0.0 <= word.start_seconds <= word.end_seconds <= response.duration_seconds + 0.01
        assert word.start_seconds >= previous_end - 0.01, f"{word.word} starts before the last"
        assert 0.0 <= word.confidence <= 1.0
        previous_end = word.end_seconds


@pytest.mark.parametrize("name", ["jfk", "beckett"])
async def test_real_speech_with_word_timings(asr, auth_metadata, name):
    config = asr_pb2.RecognitionConfig(word_timestamps=True)
    response = await asr.Recognize(
        asr_pb2.RecognizeRequest(audio=sample_path(name).read_bytes(), config=config),
        metadata=auth_metadata,
    )
    assert wer(SAMPLES[name].transcript, response.text) <= 0.1, response.text
    assert response.language == "en" and response.language_probability > 0.5
    assert response.duration_seconds == pytest.approx(
        len(sample_path(name).read_bytes()[44:]) / 32000, abs=0.05
    )
    assert response.model == "base"
    assert_word_timings(response)


@pytest.mark.parametrize("name", SYNTHESISED)
async def test_detects_language_of_pt_and_en_speech(asr, auth_metadata, name):
    response = await asr.Recognize(
        asr_pb2.RecognizeRequest(audio=sample_path(name).read_bytes()), metadata=auth_metadata
    )
    assert response.language == LANGUAGES[name]
    assert wer(SAMPLES[name].transcript, response.text) <= 0.15, response.text


@pytest.mark.parametrize(
    ("fmt", "rate"),
    [
        ("mp3", 44100),
        ("ogg", 48000),
        ("webm", 48000),
        ("m4a", 44100),
        ("flac", 22050),
        ("wav", 8000),
    ],
)
async def test_decodes_containers_and_rates(asr, auth_metadata, fmt, rate):
    audio = encode_audio(sample_path("pt_chuva"), fmt, rate)
    config = asr_pb2.RecognitionConfig(language="pt-BR")
    response = await asr.Recognize(
        asr_pb2.RecognizeRequest(audio=audio, config=config), metadata=auth_metadata
    )
    assert response.language == "pt"
    assert wer(SAMPLES["pt_chuva"].transcript, response.text) <= 0.15, response.text


async def test_translates_portuguese_to_english(asr, auth_metadata):
    config = asr_pb2.RecognitionConfig(task=asr_pb2.TASK_TRANSLATE)
    response = await asr.Recognize(
        asr_pb2.RecognizeRequest(audio=sample_path("pt_padaria").read_bytes(), config=config),
        metadata=auth_metadata,
    )
    words = set(response.text.lower().replace(",", " ").replace(".", " ").split())
    assert words & {"bakery", "bread", "coffee", "breakfast", "morning"}, response.text
    assert wer(SAMPLES["pt_padaria"].transcript, response.text) > 0.8


async def test_prompt_and_hotwords_are_accepted(asr, auth_metadata):
    config = asr_pb2.RecognitionConfig(
        language="en", initial_prompt="A speech by President Kennedy.", hotwords=["Americans"]
    )
    response = await asr.Recognize(
        asr_pb2.RecognizeRequest(audio=sample_path("jfk").read_bytes(), config=config),
        metadata=auth_metadata,
    )
    assert wer(SAMPLES["jfk"].transcript, response.text) <= 0.1, response.text


@pytest.fixture(scope="module")
def long_english() -> tuple[bytes, str]:
    """Over 30 s: Whisper needs more than one window."""
    names = ["jfk", "beckett", "en_weather", "en_report", "jfk"]
    gap = np.zeros(8000, dtype=np.int16)
    pieces = []
    for name in names:
        pcm = np.frombuffer(sample_path(name).read_bytes()[44:], dtype="<i2")
        pieces += [pcm, gap]
    audio = encode_audio(np.concatenate(pieces), "flac", 16000)
    return audio, " ".join(SAMPLES[name].transcript for name in names)


@pytest.mark.parametrize("vad_filter", [True, False], ids=["batched-vad", "sequential"])
async def test_long_audio(asr, auth_metadata, long_english, vad_filter):
    audio, transcript = long_english
    config = asr_pb2.RecognitionConfig(language="en", vad_filter=vad_filter)
    response = await asr.Recognize(
        asr_pb2.RecognizeRequest(audio=audio, config=config), metadata=auth_metadata
    )
    assert response.duration_seconds > 40
    assert len(response.segments) > 1
    assert wer(transcript, response.text) <= 0.1, response.text


async def test_recognize_stream_sends_segments_as_decoded(asr, auth_metadata, long_english):
    audio, transcript = long_english
    config = asr_pb2.RecognitionConfig(language="en", vad_filter=True)
    steps = [
        step
        async for step in asr.RecognizeStream(
            asr_pb2.RecognizeStreamRequest(audio=audio, config=config), metadata=auth_metadata
        )
    ]
    assert len(steps) > 1
    assert steps[0].language == "en" and steps[0].duration_seconds > 40
    assert all(not step.language for step in steps[1:])
    text = " ".join(step.segment.text for step in steps)
    assert wer(transcript, text) <= 0.1
    starts = [step.segment.start_seconds for step in steps]
    assert starts == sorted(starts)


@pytest.mark.parametrize(
    ("request_", "code", "says"),
    [
        (asr_pb2.RecognizeRequest(), grpc.StatusCode.INVALID_ARGUMENT, "empty"),
        (
            asr_pb2.RecognizeRequest(audio=b"this is not audio at all" * 100),
            grpc.StatusCode.INVALID_ARGUMENT,
            "could not be decoded",
        ),
        (
            asr_pb2.RecognizeRequest(
                audio=b"RIFF", config=asr_pb2.RecognitionConfig(model="large-v3")
            ),
            grpc.StatusCode.NOT_FOUND,
            "ASR_MODEL=large-v3",
        ),
        (
            asr_pb2.RecognizeRequest(
                audio=b"RIFF", config=asr_pb2.RecognitionConfig(language="klingon")
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "ISO 639-1",
        ),
        (
            asr_pb2.RecognizeRequest(
                audio=b"RIFF", config=asr_pb2.RecognitionConfig(temperature=3)
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "temperature",
        ),
        (
            asr_pb2.RecognizeRequest(
                audio=b"RIFF",
                config=asr_pb2.RecognitionConfig(
                    initial_prompt="alpha " * 300, hotwords=["beta"] * 300
                ),
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "the limit is 223 tokens",
        ),
    ],
    ids=[
        "empty",
        "undecodable",
        "unknown-model",
        "unknown-language",
        "temperature",
        "prompt-over-the-token-window",
    ],
)
async def test_bad_requests(asr, auth_metadata, request_, code, says):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await asr.Recognize(request_, metadata=auth_metadata)
    assert caught.value.code() == code
    assert says in caught.value.details()
