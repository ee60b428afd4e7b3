"""Multichannel recognition (a call recording, one party per channel) against the real
service: each channel transcribed on its own, segments labelled and merged in time order."""

import grpc
import pytest

from paneas.asr.v1 import asr_pb2
from paneas.services.asr.audio import MAX_CHANNELS
from paneas.services.asr.evaluation import SAMPLES, sample_path, wer
from tests.support.audio import call_recording

JFK, BECKETT = SAMPLES["jfk"].transcript, SAMPLES["beckett"].transcript
# Kennedy (channel 0) starts while Beckett (channel 1) is between two of his short sentences:
# the merge must interleave the channels.
JFK_STARTS = 3.0


@pytest.fixture(scope="module")
def call() -> bytes:
    return call_recording([("jfk", JFK_STARTS), ("beckett", 0.0)])


def channel_text(segments, channel: int) -> str:
    return " ".join(segment.text for segment in segments if segment.channel == channel)


def assert_two_parties(segments) -> None:
    assert {segment.channel for segment in segments} == {0, 1}
    assert wer(JFK, channel_text(segments, 0)) <= 0.1, channel_text(segments, 0)
    assert wer(BECKETT, channel_text(segments, 1)) <= 0.2, channel_text(segments, 1)
    starts = [segment.start_seconds for segment in segments]
    assert starts == sorted(starts)
    assert [segment.id for segment in segments] == list(range(len(segments)))
    # Kennedy's channel is silent before he starts; Beckett's first words come first.
    assert segments[0].channel == 1
    assert min(s.start_seconds for s in segments if s.channel == 0) >= JFK_STARTS - 0.5
    # Interleaved in time: some of Beckett's speech comes after Kennedy's first words.
    first_jfk = next(i for i, s in enumerate(segments) if s.channel == 0)
    assert any(s.channel == 1 for s in segments[first_jfk:])


async def test_each_channel_is_transcribed_and_merged_in_time_order(asr, auth_metadata, call):
    config = asr_pb2.RecognitionConfig(language="en", vad_filter=True, multichannel=True)
    response = await asr.Recognize(
        asr_pb2.RecognizeRequest(audio=call, config=config), metadata=auth_metadata
    )
    assert_two_parties(response.segments)
    assert response.duration_seconds == pytest.approx(len(call[44:]) / 4 / 16000, abs=0.05)

    steps = [
        step
        async for step in asr.RecognizeStream(
            asr_pb2.RecognizeStreamRequest(audio=call, config=config), metadata=auth_metadata
        )
    ]
    assert steps[0].language == "en" and steps[0].model
    assert [step.segment for step in steps] == list(response.segments)


async def test_without_multichannel_the_channels_are_mixed_down(asr, auth_metadata, call):
    config = asr_pb2.RecognitionConfig(language="en", vad_filter=True)
    response = await asr.Recognize(
        asr_pb2.RecognizeRequest(audio=call, config=config), metadata=auth_metadata
    )
    assert {segment.channel for segment in response.segments} == {0}
    # Both parties are heard, in one transcript.
    assert "country" in response.text and "fail" in response.text.lower()


async def test_a_mono_file_is_channel_0(asr, auth_metadata):
    config = asr_pb2.RecognitionConfig(language="en", multichannel=True)
    response = await asr.Recognize(
        asr_pb2.RecognizeRequest(audio=sample_path("jfk").read_bytes(), config=config),
        metadata=auth_metadata,
    )
    assert {segment.channel for segment in response.segments} == {0}
    assert wer(JFK, response.text) <= 0.1


async def test_more_channels_than_the_cap_are_refused(asr, auth_metadata):
    parties = [("beckett", 0.0)] * (MAX_CHANNELS + 1)
    config = asr_pb2.RecognitionConfig(multichannel=True)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await asr.Recognize(
            asr_pb2.RecognizeRequest(audio=call_recording(parties), config=config),
            metadata=auth_metadata,
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"has {MAX_CHANNELS + 1} channels" in caught.value.details()
    assert f"at most {MAX_CHANNELS}" in caught.value.details()


async def test_a_live_stream_refuses_multichannel(asr, auth_metadata):
    async def requests():
        config = asr_pb2.StreamingRecognitionConfig(
            config=asr_pb2.RecognitionConfig(multichannel=True), sample_rate_hertz=16000
        )
        yield asr_pb2.StreamingRecognizeRequest(streaming_config=config)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in asr.StreamingRecognize(requests(), metadata=auth_metadata):
            pass
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "multichannel is for files" in caught.value.details()
