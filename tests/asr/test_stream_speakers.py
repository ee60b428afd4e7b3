"""Speaker labels on live streams through the suite's real ASR service: a real conversation
of four voices, streamed, gets one stable label per voice on its finals."""

import grpc
import pytest

from paneas.asr.v1 import asr_pb2
from tests.asr.conftest import pcm16_of, run_stream, streaming_config
from tests.support.audio import encode_audio
from tests.support.speakers import consistent_fraction, conversation, known_voices, turn_labels


def _diarized(**options) -> asr_pb2.RecognitionConfig:
    return asr_pb2.RecognitionConfig(
        language="en", diarization=asr_pb2.DiarizationConfig(enable=True, **options)
    )


async def test_a_conversation_gets_a_stable_label_per_voice(asr, auth_metadata):
    talk = conversation()
    # Faster than real time: endpointing counts samples, not seconds, so the utterances and
    # their voices are those of a real-time stream.
    run = await run_stream(
        asr, auth_metadata, talk.samples.tobytes(), streaming_config(config=_diarized())
    )
    finals = [result for result in run.finals if result.transcript]
    assert all(result.speaker for result in finals)
    assert not any(result.speaker for result in run.interims), "interims carry no speaker"
    # Each utterance has one final: a label once sent is never sent again, nor revised.
    indices = [result.utterance_index for result in run.finals]
    assert len(indices) == len(set(indices))
    labels = list(dict.fromkeys(result.speaker for result in finals))
    assert labels == ["A", "B", "C", "D"]  # four voices, lettered as they are first heard
    labelled = [(r.start_seconds, r.end_seconds, r.speaker) for r in finals]
    assert consistent_fraction(talk.turns, labelled) >= 0.9, labelled


async def test_known_voices_name_their_speakers(asr, auth_metadata):
    talk = conversation()
    known = [
        asr_pb2.KnownSpeaker(name=name, audio=encode_audio(samples, "wav"))
        for name, samples in known_voices().items()
    ]
    run = await run_stream(
        asr,
        auth_metadata,
        talk.samples.tobytes(),
        streaming_config(config=_diarized(known_speakers=known), interim_results=False),
    )
    finals = [(r.start_seconds, r.end_seconds, r.speaker) for r in run.finals if r.transcript]
    for turn, label in zip(talk.turns, turn_labels(talk.turns, finals), strict=True):
        if turn.speaker in ("reader", "dealer"):
            assert label == turn.speaker, (turn, finals)
        else:
            assert label in ("A", "B"), (turn, finals)  # the others keep letters


async def test_without_diarization_no_final_has_a_speaker(asr, auth_metadata):
    run = await run_stream(
        asr,
        auth_metadata,
        pcm16_of("jfk"),
        streaming_config(config=asr_pb2.RecognitionConfig(language="en")),
    )
    assert run.finals and not any(result.speaker for result in run.finals + run.interims)


async def test_one_voice_is_one_speaker(asr, auth_metadata):
    run = await run_stream(
        asr, auth_metadata, pcm16_of("jfk"), streaming_config(config=_diarized(max_speakers=2))
    )
    assert {result.speaker for result in run.finals if result.transcript} == {"A"}


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"min_speakers": 3, "max_speakers": 2}, "over max_speakers"),
        ({"max_speakers": 33}, "0-32"),
        (
            {"known_speakers": [asr_pb2.KnownSpeaker(name="agent", audio=b"not audio")]},
            "agent",
        ),
    ],
)
async def test_bad_speaker_options_are_refused(asr, auth_metadata, options, says):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await run_stream(
            asr,
            auth_metadata,
            pcm16_of("jfk")[:3200],
            streaming_config(config=_diarized(**options)),
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert says in caught.value.details()
