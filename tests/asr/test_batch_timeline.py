"""Files are decoded with their long pauses shortened (services/asr/batch.py `Compaction`);
every time a caller sees is still on the file's own timeline."""

import numpy as np
import pytest
from faster_whisper.transcribe import Segment, Word

from paneas.services.asr.batch import SAMPLE_RATE, Compaction, Span
from paneas.services.asr.engine import DecodeOptions, WhisperEngine
from paneas.services.asr.settings import AsrSettings
from tests.support.audio import load_float32_16k
from tests.support.recordings import (
    assert_every_sentence_heard,
    assert_words_on_the_speech,
    call_recording_flac,
    call_recording_speech,
)


def segment(words: list[Word] | None, start: float = 0.0, end: float = 0.0) -> Segment:
    return Segment(
        id=0,
        seek=0,
        start=start,
        end=end,
        text="",
        tokens=[],
        avg_logprob=-0.2,
        compression_ratio=1.2,
        no_speech_prob=0.01,
        words=words,
        temperature=0.0,
    )


SPEECH = [Span(1.0, 2.0), Span(5.0, 6.0), Span(6.5, 7.0)]


@pytest.fixture
def compaction() -> Compaction:
    # Each sample holds its own time, so the compacted audio shows what was kept.
    audio = np.arange(8 * SAMPLE_RATE, dtype=np.float32) / SAMPLE_RATE
    return Compaction(audio, SPEECH, pause=1.0)


def test_long_pauses_are_shortened_and_short_ones_kept(compaction):
    kept = compaction.audio
    # 1.0-2.0, then 4.0-7.0: the 3 s pause shortened to the second in front of the next
    # speech, the 0.5 s pause whole; nothing before the first speech.
    assert kept.size == 4 * SAMPLE_RATE
    assert kept[0] == pytest.approx(1.0)
    assert kept[SAMPLE_RATE] == pytest.approx(4.0)
    assert compaction.speech == [Span(0.0, 1.0), Span(2.0, 3.0), Span(3.5, 4.0)]


def test_words_go_back_to_the_file_timeline_by_where_their_middle_lies(compaction):
    words = [
        Word(start=0.1, end=0.9, word=" one", probability=0.9),
        # Whisper starts the word after a pause early, before the cut: its middle is after.
        Word(start=0.8, end=1.6, word=" two", probability=0.9),
        Word(start=3.6, end=3.9, word=" three", probability=0.9),
    ]
    restored = compaction.restore(segment(words))
    assert [(w.start, w.end) for w in restored.words] == [
        (1.1, 1.9),
        (4.0, 4.6),  # kept out of the removed pause
        (6.6, 6.9),
    ]
    assert (restored.start, restored.end) == (1.1, 6.9)


def test_a_segment_without_words_is_restored_by_its_ends(compaction):
    restored = compaction.restore(segment(None, start=0.2, end=3.9))
    assert (restored.start, restored.end) == (1.2, 6.9)


def test_no_speech_leaves_the_audio_whole():
    audio = np.zeros(SAMPLE_RATE, dtype=np.float32)
    compaction = Compaction(audio, [], pause=1.0)
    assert compaction.audio.size == audio.size and compaction.speech == []


@pytest.mark.slow  # loads Whisper
def test_a_call_decoded_with_short_pauses_keeps_its_words_on_its_speech():
    """The call recording (pauses of 0.3-3 s) with `ASR_FILE_PAUSE_SECONDS=0.3`: most of its
    pauses are shortened, and every sentence and word is still where it was said."""
    flac, sentences, _ = call_recording_flac()
    engine = WhisperEngine(AsrSettings(file_pause_seconds=0.3))
    engine.load()
    transcript = engine.transcribe_file(
        load_float32_16k(flac), DecodeOptions(language="en", vad_filter=True, word_timestamps=True)
    )
    segments = list(transcript.segments)
    assert_every_sentence_heard(sentences, " ".join(s.text for s in segments))
    times = [(w.start, w.end) for s in segments for w in s.words]
    assert [a for a, _ in times] == sorted(a for a, _ in times)
    assert_words_on_the_speech(times, call_recording_speech())
