"""Align: a known transcript's words placed on the audio."""

import grpc
import numpy as np
import pytest

from paneas.asr.v1 import asr_pb2
from paneas.services.asr.evaluation import SAMPLES, sample_path
from tests.support.audio import encode_audio


async def _batch_words(asr, auth_metadata, audio: bytes) -> list[asr_pb2.Word]:
    config = asr_pb2.RecognitionConfig(word_timestamps=True, vad_filter=True)
    response = await asr.Recognize(
        asr_pb2.RecognizeRequest(audio=audio, config=config), metadata=auth_metadata
    )
    return [word for segment in response.segments for word in segment.words]


def _english_over_30s() -> bytes:
    names = ["jfk", "beckett", "en_weather", "en_report", "jfk"]
    gap = np.zeros(8000, dtype=np.int16)
    pieces = []
    for name in names:
        pieces += [np.frombuffer(sample_path(name).read_bytes()[44:], dtype="<i2"), gap]
    return encode_audio(np.concatenate(pieces), "wav", 16000)


@pytest.mark.parametrize("clip", ["jfk", "pt_padaria", "over-30s"])
async def test_alignment_agrees_with_batch_word_timestamps(asr, auth_metadata, clip):
    audio = _english_over_30s() if clip == "over-30s" else sample_path(clip).read_bytes()
    batch = await _batch_words(asr, auth_metadata, audio)
    transcript = " ".join(word.word for word in batch)
    aligned = await asr.Align(
        asr_pb2.AlignRequest(audio=audio, transcript=transcript), metadata=auth_metadata
    )
    assert not aligned.unaligned_words
    assert [word.index for word in aligned.words] == list(range(len(batch)))
    assert [word.word for word in aligned.words] == transcript.split()
    previous_end = 0.0
    for word in aligned.words:
        assert previous_end - 0.01 <= word.start_seconds <= word.end_seconds
        assert word.end_seconds <= aligned.duration_seconds + 0.01
        previous_end = word.end_seconds
    # Word edges compared with the batch decoder's own DTW timings. They differ only where
    # batch snaps the first word after a pause to Whisper's segment timestamp.
    edges = np.array(
        [
            [abs(a.start_seconds - b.start_seconds), abs(a.end_seconds - b.end_seconds)]
            for a, b in zip(aligned.words, batch, strict=True)
        ]
    ).ravel()
    assert np.median(edges) <= 0.05
    assert np.mean(edges <= 0.1) >= 0.9, sorted(edges)[-10:]


async def test_words_beyond_the_speech_are_reported(asr, auth_metadata):
    audio = sample_path("beckett").read_bytes()
    transcript = SAMPLES["beckett"].transcript + " " + SAMPLES["jfk"].transcript
    aligned = await asr.Align(
        asr_pb2.AlignRequest(audio=audio, transcript=transcript, language="en"),
        metadata=auth_metadata,
    )
    placed = {word.index for word in aligned.words}
    missing = {word.index for word in aligned.unaligned_words}
    assert placed | missing == set(range(len(transcript.split())))
    assert not placed & missing
    assert set(range(12)) <= placed  # beckett's own words
    assert missing and all(word.reason for word in aligned.unaligned_words)


@pytest.mark.parametrize(
    ("request_", "says"),
    [
        (asr_pb2.AlignRequest(audio=b"RIFF", transcript="  "), "transcript is empty"),
        (asr_pb2.AlignRequest(transcript="hello"), "audio is empty"),
    ],
    ids=["no-transcript", "no-audio"],
)
async def test_bad_align_requests(asr, auth_metadata, request_, says):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await asr.Align(request_, metadata=auth_metadata)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert says in caught.value.details()
