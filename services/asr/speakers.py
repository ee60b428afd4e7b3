"""Speaker labels on a live stream: online clustering of its utterances' voice embeddings.

A file is diarized once it is all heard (`diarization.py`); a live stream labels each final
as it goes, and a label once sent is never revised. So each final utterance's voice (one
embedding of its audio) is compared with the voices heard so far on the stream, and with the
known speakers given for it:

- it joins the most similar one when their cosine similarity is at least the threshold
  (`ASR_DIARIZATION_LIVE_THRESHOLD`), whose voice then becomes the running mean of its
  utterances' embeddings, weighted by their speech;
- else it is a new speaker, labelled "A", "B", ... in order of first appearance; once
  `max_speakers` are heard, it joins the most similar of them instead.

Utterances with under `MIN_SPEECH_SECONDS` of speech ("yes", "okay") give the least reliable
embeddings: they never start a speaker (while another exists) or move one's voice; they take
the most similar speaker if it is at least `SHORT_MARGIN` below the threshold, else the
previous utterance's speaker, a guess that a short answer is no new voice. A speaker started by
such an utterance is provisional until the first reliable one: a reliable utterance that would
start a new speaker takes over a provisional one that is not clearly another voice, so one
"Hi" at the start does not leave its speaker with a voice too noisy for later ones to match.

Measured on the test conversation (tests/support/speakers.py: four real voices, 18 utterances
as the stream's endpointer cuts them, most of 0.7-2.7 s of speech), with the voices
`LiveVoices` embeds: every threshold from 0.45 to 0.55 labels every utterance consistently
(0.60 splits a voice), and the default is the middle, 0.50. The line for short speech is
0.5 s, not the 1 s one might expect: embeddings of 0.7-1 s of speech still told these voices
apart, and with a 1 s line half the conversation's utterances were "short" and the labels
copied from the previous utterance went wrong at changes of speaker (0.61-0.78 of them
consistent). Similarities depend on the channel: between the voiced lines of a game's
characters (the bench's Amazon Queen audio, one processing chain) different voices score 0.54
in the median, and the threshold that labels them best is about 0.65.

`min_speakers` is not used to label: a stream cannot know whether another voice will come, and
lowering the bar for a new speaker until there are enough would split the first speaker's
turns whenever the second is late to speak, with labels that cannot be taken back.
"""

import asyncio
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from paneas.services.asr import metrics
from paneas.services.asr.audio import SAMPLE_RATE
from paneas.services.asr.labels import speaker_label

if TYPE_CHECKING:
    from paneas.services.asr.diarization import SpeakerEngine

# Speech below which an utterance's embedding is not trusted to start or move a speaker.
MIN_SPEECH_SECONDS = 0.5
# How much lower the bar is for a short utterance to join the most similar speaker.
SHORT_MARGIN = 0.1


@dataclass
class _Speaker:
    label: str
    # Sum of the embeddings of its reliable utterances (or its reference), each weighted by
    # its seconds of speech; None for a speaker heard only in utterances without a voice.
    total: np.ndarray | None
    weight: float
    known: bool = False
    heard: bool = False

    @property
    def voice(self) -> np.ndarray | None:
        if self.total is None:
            return None
        norm = float(np.linalg.norm(self.total))
        return self.total / norm if norm > 0 else None

    @property
    def provisional(self) -> bool:
        """Heard only in short utterances so far."""
        return not self.known and self.weight < MIN_SPEECH_SECONDS

    def add(self, embedding: np.ndarray, seconds: float) -> None:
        weighted = embedding.astype(np.float64) * seconds
        self.total = weighted if self.total is None else self.total + weighted
        self.weight += seconds


@dataclass(frozen=True)
class KnownVoice:
    name: str
    embedding: np.ndarray  # L2-normalised
    speech_seconds: float


@dataclass(frozen=True)
class SpeakerOptions:
    """A stream's speaker labelling, from its DiarizationConfig."""

    threshold: float
    max_speakers: int = 0
    known: tuple[KnownVoice, ...] = ()


class LiveSpeakers:
    """One stream's speakers. Not thread-safe: `assign` each final in utterance order."""

    def __init__(self, options: SpeakerOptions) -> None:
        self._threshold = options.threshold
        self._max_speakers = options.max_speakers
        known = [(k.name, k.embedding, k.speech_seconds) for k in options.known]
        self._speakers = [
            _Speaker(name, embedding.astype(np.float64) * seconds, seconds, known=True)
            for name, embedding, seconds in known
        ]
        self._names = {name for name, _, _ in known}
        self._unnamed = 0
        self._previous: _Speaker | None = None

    @property
    def heard(self) -> list[str]:
        """The labels given so far, in order of first appearance."""
        return [speaker.label for speaker in self._heard()]

    def _heard(self) -> list[_Speaker]:
        return [speaker for speaker in self._speakers if speaker.heard]

    def assign(self, embedding: np.ndarray | None, speech_seconds: float) -> str:
        """The label of the next final utterance, from its voice (None: the engine heard no
        speech in it) and its seconds of speech."""
        if embedding is None or speech_seconds < MIN_SPEECH_SECONDS:
            speaker = self._short(embedding, speech_seconds)
        else:
            speaker = self._reliable(embedding, speech_seconds)
        speaker.heard = True
        self._previous = speaker
        return speaker.label

    def _reliable(self, embedding: np.ndarray, seconds: float) -> _Speaker:
        best, similarity = self._nearest(embedding, self._speakers)
        if best is None or similarity < self._threshold:
            provisional = [s for s in self._speakers if s.provisional]
            taken, taken_similarity = self._nearest(embedding, provisional)
            if taken is None and provisional:
                taken = provisional[0]  # heard, but without a voice at all
            elif taken is not None and taken_similarity < self._threshold - SHORT_MARGIN:
                taken = None
            if taken is not None:
                best = taken
            elif self._room_for_another() or best is None:
                best = self._new_speaker()
            else:
                best, _ = self._nearest(embedding, self._heard())
                if best is None:  # every heard speaker is voiceless: the first of them
                    best = self._heard()[0]
        best.add(embedding, seconds)
        return best

    def _short(self, embedding: np.ndarray | None, seconds: float) -> _Speaker:
        if embedding is not None:
            best, similarity = self._nearest(embedding, self._speakers)
            if best is not None and similarity >= self._threshold - SHORT_MARGIN:
                return best
        if self._previous is not None:
            return self._previous
        # The stream's first utterance: it starts a provisional speaker, with what voice
        # there is (short speech, or none).
        speaker = self._new_speaker()
        if embedding is not None and seconds > 0:
            speaker.add(embedding, seconds)
        return speaker

    def _room_for_another(self) -> bool:
        return not self._max_speakers or len(self._heard()) < self._max_speakers

    def _new_speaker(self) -> _Speaker:
        while (label := speaker_label(self._unnamed)) in self._names:
            self._unnamed += 1
        self._unnamed += 1
        speaker = _Speaker(label, None, 0.0)
        self._speakers.append(speaker)
        return speaker

    @staticmethod
    def _nearest(
        embedding: np.ndarray, speakers: Sequence[_Speaker]
    ) -> tuple[_Speaker | None, float]:
        best, best_similarity = None, -2.0
        for speaker in speakers:
            voice = speaker.voice
            if voice is None:
                continue
            similarity = float(np.dot(voice, embedding))
            if similarity > best_similarity:
                best, best_similarity = speaker, similarity
        return best, best_similarity


# The most of an utterance's audio embedded (its end): ~1 s of CPU on one core, and plenty
# of speech for a voice.
MAX_VOICE_SECONDS = 30.0


@dataclass(frozen=True)
class UtteranceVoice:
    # L2-normalised; None when the speaker model heard no speech in the utterance.
    embedding: np.ndarray | None
    speech_seconds: float


class LiveVoices:
    """Voice embeddings of live utterances, off the event loop on one thread of their own,
    shared by every stream of the process: no decode and no file waits in line before them.
    The speaker models still run one pass at a time (`SpeakerEngine`'s lock), so a file's
    window being embedded at that moment (in its decode slot) delays one by that pass. The
    work is bounded by the streams: each has at most MAX_UNDECODED_SECONDS of finals in
    flight, and an utterance's voice is taken from its last MAX_VOICE_SECONDS."""

    def __init__(self, engine: "SpeakerEngine") -> None:
        self._engine = engine
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-voices")

    async def voice(self, audio: np.ndarray) -> UtteranceVoice:
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, self._voice, audio[-int(MAX_VOICE_SECONDS * SAMPLE_RATE) :]
        )

    def _voice(self, audio: np.ndarray) -> UtteranceVoice:
        """One CAM++ pass over the utterance's speech (`SpeakerEngine.voice`: from the speaker
        model's VAD's first speech to its last), not the mean of 1.5 s windows every 0.6 s that
        files get: an utterance is one voice, and one pass costs about half (measured on a
        quiet core: 7 s of speech, VAD 38 ms + one pass 140 ms against 344 ms for ten
        windows). The voices it gives are a little further apart, so the threshold is tuned on
        them."""
        started = time.perf_counter()
        voice = self._engine.voice(audio)
        metrics.LIVE_VOICE_SECONDS.observe(time.perf_counter() - started)
        if voice is None:
            # No speech heard: without a voice the labelling ignores the seconds.
            return UtteranceVoice(None, 0.0)
        embedding, seconds = voice
        return UtteranceVoice(embedding, seconds)
