"""StreamingRecognize: live audio in, interim and final results out."""

import asyncio
import random

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from paneas.asr.v1 import asr_pb2
from paneas.services.asr.evaluation import SAMPLES, sample_path, wer
from tests.asr.conftest import pcm16_of, run_stream, stereo_float32_48k, streaming_config


async def test_real_time_stream_is_as_good_as_batch(asr, auth_metadata):
    """jfk paced in real time: finals match the transcript as well as batch does."""
    config = asr_pb2.RecognitionConfig(language="en", word_timestamps=True)
    run = await run_stream(
        asr,
        auth_metadata,
        pcm16_of("jfk"),
        streaming_config(config=config),
        seconds_per_chunk=0.1,
    )
    batch = await asr.Recognize(
        asr_pb2.RecognizeRequest(audio=sample_path("jfk").read_bytes(), config=config),
        metadata=auth_metadata,
    )
    reference = SAMPLES["jfk"].transcript
    assert wer(reference, run.final_text) <= max(0.1, wer(reference, batch.text) + 0.05)

    assert all(sum(r.is_final for r in resp.results) <= 1 for resp in run.responses)
    assert run.interims, "interim results were asked for"
    assert all(0.0 <= r.stability <= 1.0 for r in run.interims)
    assert all(r.stability == 1.0 and r.language == "en" for r in run.finals)
    indices = [r.utterance_index for r in run.finals]
    assert indices == sorted(set(indices))

    words = [word for result in run.finals for word in result.words]
    assert len(words) == len(run.final_text.split())
    for before, after in zip(words, words[1:], strict=False):
        assert before.start_seconds <= before.end_seconds <= after.start_seconds + 0.01
    assert 0.0 <= words[0].start_seconds and words[-1].end_seconds <= 11.05

    kinds = [event.type for event in run.events]
    assert kinds[0] == asr_pb2.SPEECH_EVENT_TYPE_SPEECH_STARTED
    assert kinds.count(asr_pb2.SPEECH_EVENT_TYPE_SPEECH_STARTED) == kinds.count(
        asr_pb2.SPEECH_EVENT_TYPE_SPEECH_ENDED
    )
    assert all(resp.session_id == run.responses[0].session_id for resp in run.responses)

    summary = run.summary
    assert run.responses[-1].HasField("summary")
    assert summary.audio_seconds == pytest.approx(11.0, abs=0.01)
    assert summary.utterance_count == len(run.finals)
    assert summary.word_count == len(words)
    assert summary.transcript == run.final_text


async def test_resamples_stereo_float_at_48k_in_odd_chunks(asr, auth_metadata):
    audio = stereo_float32_48k(pcm16_of("pt_padaria"))
    first = streaming_config(
        config=asr_pb2.RecognitionConfig(language="pt"),
        encoding=asr_pb2.AUDIO_ENCODING_PCM_F32LE,
        audio_channel_count=2,
        interim_results=False,
        sample_rate_hertz=48000,
    )
    # 1001 bytes: chunks split samples and channel frames.
    run = await run_stream(asr, auth_metadata, audio, first, chunk_bytes=1001)
    assert not run.interims
    assert wer(SAMPLES["pt_padaria"].transcript, run.final_text) <= 0.15, run.final_text
    assert run.summary.audio_seconds == pytest.approx(7.41, abs=0.05)


async def test_half_close_mid_utterance_still_gets_its_final(asr, auth_metadata):
    audio = pcm16_of("beckett")[: 32000 * 3]  # "Ever tried. Ever failed." and cut
    run = await run_stream(
        asr, auth_metadata, audio, streaming_config(config=asr_pb2.RecognitionConfig(language="en"))
    )
    assert "ever tried" in run.final_text.lower()
    assert run.summary.utterance_count == len(run.finals) >= 1


async def test_session_id_is_echoed(asr, auth_metadata):
    run = await run_stream(
        asr,
        auth_metadata,
        pcm16_of("en_report")[:32000],
        streaming_config(session_id="call-42"),
    )
    assert {resp.session_id for resp in run.responses} == {"call-42"}


async def _stream_error(asr, auth_metadata, requests) -> grpc.aio.AioRpcError:
    async def iterate():
        for request in requests:
            yield request

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in asr.StreamingRecognize(iterate(), metadata=auth_metadata):
            pass
    return caught.value


@pytest.mark.parametrize(
    ("requests", "code", "says"),
    [
        ([asr_pb2.StreamingRecognizeRequest(audio=b"\0" * 3200)], "INVALID_ARGUMENT", "first"),
        ([streaming_config(), streaming_config()], "INVALID_ARGUMENT", "only be sent once"),
        ([], "INVALID_ARGUMENT", "streaming_config"),
        (
            [
                asr_pb2.StreamingRecognizeRequest(
                    streaming_config=asr_pb2.StreamingRecognitionConfig(sample_rate_hertz=4000)
                )
            ],
            "INVALID_ARGUMENT",
            "8000-48000",
        ),
        (
            [
                streaming_config(),
                asr_pb2.StreamingRecognizeRequest(audio=b"\0" * (1024 * 1024 + 2)),
            ],
            "OUT_OF_RANGE",
            "smaller chunks",
        ),
    ],
    ids=["audio-first", "config-twice", "empty-stream", "sample-rate", "chunk-too-large"],
)
async def test_bad_streams(asr, auth_metadata, asr_service, requests, code, says):
    error = await _stream_error(asr, auth_metadata, requests)
    assert error.code().name == code
    assert says in error.details()


async def test_service_stays_healthy_after_bad_streams(asr, asr_channel, auth_metadata):
    for _ in range(3):
        await _stream_error(asr, auth_metadata, [asr_pb2.StreamingRecognizeRequest(audio=b"x")])
    health = health_pb2_grpc.HealthStub(asr_channel)
    reply = await health.Check(health_pb2.HealthCheckRequest(service="paneas.asr.v1.AsrService"))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    run = await asyncio.wait_for(
        run_stream(asr, auth_metadata, pcm16_of("en_weather"), streaming_config()), 60
    )
    assert wer(SAMPLES["en_weather"].transcript, run.final_text) <= 0.15


async def test_clients_that_vanish_mid_stream_leave_the_service_serving(
    asr, asr_channel, asr_service, auth_metadata
):
    """Cancelled calls used to crash grpcio when asked for their peer afterwards, and to
    leave their cleanup to the garbage collector."""
    audio = pcm16_of("jfk")
    timing = random.Random(7)
    for _ in range(20):
        call = asr.StreamingRecognize(metadata=auth_metadata)
        await call.write(streaming_config(config=asr_pb2.RecognitionConfig(language="en")))
        sent = int(32000 * timing.uniform(0.5, 4))
        for offset in range(0, sent, 3200):
            await call.write(asr_pb2.StreamingRecognizeRequest(audio=audio[offset : offset + 3200]))
        await asyncio.sleep(timing.uniform(0, 0.5))
        call.cancel()
        await asyncio.sleep(0.3)
    await asyncio.sleep(0.5)
    assert asr_service.process.process.poll() is None
    # Cleanup ran in each call's own task, where its tracing context lives.
    assert "Failed to detach context" not in asr_service.process.log_path.read_text()
    health = health_pb2_grpc.HealthStub(asr_channel)
    reply = await health.Check(health_pb2.HealthCheckRequest(service="paneas.asr.v1.AsrService"))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


LONG_PROMPT = asr_pb2.RecognitionConfig(
    language="en", initial_prompt="alpha " * 300, hotwords=["beta"] * 300
)


async def test_prompt_and_hotwords_over_the_token_window_are_refused_at_once(asr, auth_metadata):
    """They used to kill the stream's decoder, and the stream then never answered."""
    audio = pcm16_of("jfk")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async with asyncio.timeout(30):
            await run_stream(asr, auth_metadata, audio, streaming_config(config=LONG_PROMPT))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "600 tokens" in caught.value.details()
    assert "limit is 223 tokens" in caught.value.details()


def _prompt_of(tokens: int) -> str:
    """English text of about `tokens` Whisper tokens (~1.3 per word here)."""
    words = " ".join(SAMPLES[name].transcript for name in ("en_weather", "en_report")).split()
    return " ".join((words * 10)[: int(tokens / 1.3)])


async def test_a_prompt_near_the_limit_leaves_room_for_the_transcript(asr, auth_metadata):
    """Prompt and hotwords near the limit: the decode budget counts them, so every
    utterance still gets its final, and the stream its summary."""
    config = asr_pb2.RecognitionConfig(
        language="en",
        initial_prompt=_prompt_of(150),
        hotwords=["Americans", "country", "fellow"] * 5,
        word_timestamps=True,
    )
    async with asyncio.timeout(120):
        run = await run_stream(asr, auth_metadata, pcm16_of("jfk"), streaming_config(config=config))
    assert run.summary is not None
    assert all(not result.error for result in run.finals)
    assert "americans" in run.final_text.lower()


def _continuous_speech() -> tuple[bytes, str]:
    """53 s of recorded speech back to back, to be heard as one utterance."""
    names = ["jfk", "beckett", "jfk", "beckett", "jfk"]
    return (
        b"".join(pcm16_of(name) for name in names),
        " ".join(SAMPLES[name].transcript for name in names),
    )


async def test_an_utterance_longer_than_a_window_is_finalised_whole(asr, auth_metadata):
    """Endpointing that never cuts (pauses under 5 s, utterances up to 2 minutes): the 53 s
    utterance is decoded window by window and comes back as one final, words on the
    stream's timeline."""
    audio, transcript = _continuous_speech()
    first = streaming_config(
        config=asr_pb2.RecognitionConfig(language="en", word_timestamps=True),
        endpointing=asr_pb2.Endpointing(silence_duration_ms=5000, max_utterance_ms=120_000),
    )
    async with asyncio.timeout(180):
        run = await run_stream(asr, auth_metadata, audio, first)
    assert [result.utterance_index for result in run.finals] == [0]
    final = run.finals[0]
    assert not final.error
    assert final.end_seconds > 50
    assert wer(transcript, final.transcript) <= 0.2, final.transcript
    words = final.words
    assert words[0].start_seconds < 2 and words[-1].end_seconds > 48
    for before, after in zip(words, words[1:], strict=False):
        assert before.start_seconds <= after.start_seconds + 0.01
    assert run.summary.utterance_count == 1
    assert run.summary.audio_seconds == pytest.approx(len(audio) / 32000, abs=0.01)
