"""Live speaker labels in this process: the stream's own VAD and endpointer cut a real
conversation of four voices into utterances, the real speaker models embed each, and
`LiveSpeakers` labels them one by one, as a stream's finals are."""

import asyncio

import numpy as np
import pytest

from paneas.asr.v1 import asr_pb2
from paneas.services.asr.diarization import SpeakerEngine
from paneas.services.asr.endpointer import Endpointer, UtteranceEnded, UtteranceStarted
from paneas.services.asr.engine import WhisperEngine
from paneas.services.asr.errors import DiarizationDisabled
from paneas.services.asr.labels import speaker_label
from paneas.services.asr.scheduler import DecodeScheduler
from paneas.services.asr.servicer import AsrServicer
from paneas.services.asr.settings import AsrSettings
from paneas.services.asr.speakers import (
    KnownVoice,
    LiveSpeakers,
    LiveVoices,
    SpeakerOptions,
    UtteranceVoice,
)
from paneas.services.asr.vad import FRAME_SAMPLES, StreamingVad
from tests.support.speakers import consistent_fraction, conversation, known_voices, turn_labels

THRESHOLD = AsrSettings().diarization_live_threshold


@pytest.fixture(scope="module")
def voices() -> LiveVoices:
    return LiveVoices(SpeakerEngine(AsrSettings()))


def _utterances(samples: np.ndarray) -> list[tuple[float, float, np.ndarray]]:
    """(start, end, audio) of each utterance, as a live stream's endpointer cuts them."""
    audio = samples.astype(np.float32) / 32768
    endpointer = Endpointer(
        vad_threshold=0.5, silence_ms=500, max_utterance_ms=30_000, interim_interval_ms=None
    )
    found, start = [], 0
    for index, probability in enumerate(StreamingVad().process(audio)):
        frame = audio[index * FRAME_SAMPLES : (index + 1) * FRAME_SAMPLES]
        for event in endpointer.push(frame, float(probability)):
            if isinstance(event, UtteranceStarted):
                start = event.start_sample
            elif isinstance(event, UtteranceEnded):
                found.append((start / 16000, (start + event.audio.size) / 16000, event.audio))
    return found


@pytest.fixture(scope="module")
def heard(voices) -> list[tuple[float, float, UtteranceVoice]]:
    """The conversation's utterances with their voices."""

    utterances = _utterances(conversation().samples)

    async def embed():
        return [await voices.voice(audio) for _, _, audio in utterances]

    return [
        (start, end, voice)
        for (start, end, _), voice in zip(utterances, asyncio.run(embed()), strict=True)
    ]


def _labelled(speakers: LiveSpeakers, heard) -> list[tuple[float, float, str]]:
    return [
        (start, end, speakers.assign(voice.embedding, voice.speech_seconds))
        for start, end, voice in heard
    ]


def test_a_conversation_of_four_voices_gets_four_stable_labels(heard):
    truth = conversation().turns
    assert len(heard) > len(truth)  # turns of several utterances: labels must agree across
    speakers = LiveSpeakers(SpeakerOptions(THRESHOLD))
    labelled = _labelled(speakers, heard)
    assert speakers.heard == ["A", "B", "C", "D"]
    assert consistent_fraction(truth, labelled) >= 0.9, labelled
    # Every utterance of a turn under the turn's label: not only the majority of its time.
    labels = turn_labels(truth, labelled)
    for start, end, label in labelled:
        turn = next(i for i, t in enumerate(truth) if min(end, t.end) > max(start, t.start))
        assert label == labels[turn], (start, end, label, truth[turn])


def test_max_speakers_bounds_the_labels(heard):
    speakers = LiveSpeakers(SpeakerOptions(THRESHOLD, max_speakers=2))
    labels = {label for *_, label in _labelled(speakers, heard)}
    assert labels == {"A", "B"}


def test_known_voices_are_named(heard, voices):
    async def embed():
        return {
            name: await voices.voice(samples.astype(np.float32) / 32768)
            for name, samples in known_voices().items()
        }

    known = tuple(
        KnownVoice(name, voice.embedding, voice.speech_seconds)
        for name, voice in asyncio.run(embed()).items()
    )
    speakers = LiveSpeakers(SpeakerOptions(THRESHOLD, known=known))
    truth = conversation().turns
    labels = turn_labels(truth, _labelled(speakers, heard))
    for turn, label in zip(truth, labels, strict=True):
        if turn.speaker in ("reader", "dealer"):
            assert label == turn.speaker
        else:
            assert label in ("A", "B")  # the others keep letters, in order of appearance
    assert set(labels) == {"reader", "dealer", "A", "B"}


def test_short_utterances_never_start_a_speaker(heard):
    """Under 0.5 s of speech a voice is not trusted: after the first utterance, nothing
    starts a new speaker, whatever the voices."""
    speakers = LiveSpeakers(SpeakerOptions(THRESHOLD))
    labels = {speakers.assign(voice.embedding, 0.3) for *_, voice in heard}
    assert labels == {"A"}
    # Without a voice at all (the speaker model heard no speech): the previous speaker.
    speakers = LiveSpeakers(SpeakerOptions(THRESHOLD))
    first, second = heard[0][2], heard[1][2]
    assert speakers.assign(first.embedding, first.speech_seconds) == "A"
    assert speakers.assign(second.embedding, second.speech_seconds) == "B"
    assert speakers.assign(None, 0.0) == "B"


def test_a_voiceless_first_utterance_is_taken_over_by_the_first_voice(heard):
    speakers = LiveSpeakers(SpeakerOptions(THRESHOLD))
    assert speakers.assign(None, 0.0) == "A"
    labels = [speakers.assign(v.embedding, v.speech_seconds) for *_, v in heard]
    assert labels[0] == "A" and speakers.heard == ["A", "B", "C", "D"]


def test_labels_run_as_spreadsheet_columns():
    assert [speaker_label(i) for i in (0, 1, 25, 26, 27, 51, 52)] == [
        "A",
        "B",
        "Z",
        "AA",
        "AB",
        "AZ",
        "BA",
    ]


async def test_a_stream_loads_the_speaker_models_only_when_it_asks_for_labels():
    settings = AsrSettings()
    scheduler = DecodeScheduler(slots=1, max_waiting=1, max_streams=1, retry_after=1.0)
    speakers = SpeakerEngine(settings)
    servicer = AsrServicer(WhisperEngine(settings), scheduler, settings, None, speakers)
    try:
        assert await servicer._stream_speakers(asr_pb2.DiarizationConfig()) is None
        assert not speakers.loaded
        options = await servicer._stream_speakers(
            asr_pb2.DiarizationConfig(enable=True, max_speakers=3)
        )
        assert speakers.loaded
        assert options.threshold == settings.diarization_live_threshold
        assert options.max_speakers == 3 and options.known == ()

        off = AsrSettings(diarization_enabled=False)
        servicer = AsrServicer(WhisperEngine(off), scheduler, off, None, SpeakerEngine(off))
        with pytest.raises(DiarizationDisabled):
            await servicer._stream_speakers(asr_pb2.DiarizationConfig(enable=True))
    finally:
        scheduler.close()
