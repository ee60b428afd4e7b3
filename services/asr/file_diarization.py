"""Speaker labels for files (Recognize, RecognizeStream): the request's diarization options
checked, its known speakers' samples decoded and embedded, each decoded window's speech
embedded as the file is transcribed, and the speakers clustered once the whole file is heard.

Every step runs on the decode threads inside a DecodeScheduler slot, so diarization is
bounded as decoding is (`ASR_WORKERS` at once, `ASR_MAX_QUEUE` waiting): a window's speech is
embedded in the slot of its transcription; the known voices take a slot before the file is
admitted (refused like any work when the instance is full); the clustering takes one once the
file is heard (never refused: the file was admitted). Besides the window being decoded, a
request holds only its subsegments' times and embeddings (~1.3 kB per second of speech).

With `multichannel` each channel is diarized on its own: labels ("A", "B", ...) are per
channel, and each speaker of the summary says its channel.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from paneas.asr.v1 import asr_pb2
from paneas.services.asr import metrics
from paneas.services.asr.audio import SAMPLE_RATE, decode_file
from paneas.services.asr.diarization import (
    KNOWN_SPEAKER_SECONDS,
    MAX_KNOWN_SPEAKERS,
    MAX_NAME_CHARACTERS,
    MAX_SPEAKERS,
    Diarized,
    SpeakerEngine,
    SpeakerTrack,
    Voice,
    label_segments,
)
from paneas.services.asr.errors import (
    AudioTooLong,
    DiarizationDisabled,
    InvalidAudio,
    InvalidRequest,
)
from paneas.services.asr.scheduler import DecodeScheduler, Priority
from paneas.services.asr.settings import AsrSettings

# Encoders pad (mp3 and AAC priming, the last frame filled up): a 10 s sample may decode to a
# few tens of milliseconds more.
_LENGTH_TOLERANCE_SECONDS = 0.1


@dataclass(frozen=True)
class DiarizationRequest:
    min_speakers: int
    max_speakers: int
    known: tuple[tuple[str, bytes], ...]


def diarization_request(
    config: asr_pb2.DiarizationConfig, settings: AsrSettings
) -> DiarizationRequest | None:
    """The request's diarization options, checked (InvalidRequest naming the rule broken);
    None when it does not ask for speaker labels."""
    if not config.enable:
        return None
    if not settings.diarization_enabled:
        raise DiarizationDisabled(
            "speaker diarization is off on this ASR instance (ASR_DIARIZATION_ENABLED=false); "
            "send the request without diarization.enable, or turn it on"
        )
    for name in ("min_speakers", "max_speakers"):
        value = getattr(config, name)
        if not 0 <= value <= MAX_SPEAKERS:
            raise InvalidRequest(
                f"diarization.{name} is {value}; it must be 0-{MAX_SPEAKERS} (0: no bound)"
            )
    if config.min_speakers and config.max_speakers and config.min_speakers > config.max_speakers:
        raise InvalidRequest(
            f"diarization.min_speakers ({config.min_speakers}) is over max_speakers "
            f"({config.max_speakers})"
        )
    known = config.known_speakers
    if len(known) > MAX_KNOWN_SPEAKERS:
        raise InvalidRequest(
            f"diarization.known_speakers has {len(known)} voices; send at most {MAX_KNOWN_SPEAKERS}"
        )
    names: set[str] = set()
    for number, speaker in enumerate(known):
        if not speaker.name.strip() or len(speaker.name) > MAX_NAME_CHARACTERS:
            raise InvalidRequest(
                f"diarization.known_speakers[{number}].name must be 1-{MAX_NAME_CHARACTERS} "
                f"characters (not only spaces); got {len(speaker.name)}"
            )
        if speaker.name in names:
            raise InvalidRequest(
                f"diarization.known_speakers names {speaker.name!r} twice; names must differ"
            )
        names.add(speaker.name)
        if not speaker.audio:
            raise InvalidRequest(
                f"known speaker {speaker.name!r} has no audio; send 2-10 s of that person "
                "speaking alone"
            )
    return DiarizationRequest(
        config.min_speakers,
        config.max_speakers,
        tuple((speaker.name, speaker.audio) for speaker in known),
    )


@dataclass
class _Channel:
    track: SpeakerTrack
    busy_seconds: float = 0.0
    audio_seconds: float = 0.0


@dataclass
class FileDiarization:
    """One file's diarization, from its known voices to its speakers."""

    engine: SpeakerEngine
    scheduler: DecodeScheduler
    request: DiarizationRequest
    _known: list[Voice] = field(default_factory=list)
    _channels: dict[int, _Channel] = field(default_factory=dict)

    @property
    def known(self) -> tuple[Voice, ...]:
        """The request's known voices, embedded (empty before `prepare`, or without any)."""
        return tuple(self._known)

    async def prepare(self) -> None:
        """Loads the models (once per process) and embeds the known voices; InvalidRequest
        when a sample is not 2-10 s of decodable speech."""
        # Outside the decode slots: the first load (torch, ~2 s) holds up no one's decode.
        await asyncio.to_thread(self.engine.load)
        if self.request.known:
            async with self.scheduler.slot(Priority.BATCH):
                self._known = await self.scheduler.run(self._known_voices)

    def _known_voices(self) -> list[Voice]:
        low, high = KNOWN_SPEAKER_SECONDS
        voices = []
        for name, data in self.request.known:
            try:
                samples = decode_file(data, high + 1, "known_speakers' 10 s")
            except AudioTooLong as error:
                raise InvalidRequest(
                    f"known speaker {name!r}: its sample is longer than {high:g} s; send "
                    f"{low:g}-{high:g} s of that person speaking alone"
                ) from error
            except InvalidAudio as error:
                raise InvalidRequest(f"known speaker {name!r}: {error}") from error
            seconds = samples.size / SAMPLE_RATE
            if not low - _LENGTH_TOLERANCE_SECONDS <= seconds <= high + _LENGTH_TOLERANCE_SECONDS:
                raise InvalidRequest(
                    f"known speaker {name!r}: its sample is {seconds:.1f} s; send "
                    f"{low:g}-{high:g} s of that person speaking alone"
                )
            embedding = self.engine.embed(samples)
            if embedding is None:
                raise InvalidRequest(
                    f"known speaker {name!r}: no speech heard in its sample; send "
                    f"{low:g}-{high:g} s of that person speaking alone"
                )
            voices.append(Voice(name, embedding, seconds))
        return voices

    def on_window(self, channel: int, offset: float, samples: np.ndarray) -> None:
        """Takes one decoded window of a channel (on a decode thread, in its slot)."""
        started = time.perf_counter()
        state = self._channels.get(channel)
        if state is None:
            state = self._channels[channel] = _Channel(self.engine.track())
        state.track.add(offset, samples)
        state.audio_seconds += samples.size / SAMPLE_RATE
        state.busy_seconds += time.perf_counter() - started

    async def finish(self) -> dict[int, Diarized]:
        """Each channel's speakers and turns, once every window was taken."""
        async with self.scheduler.slot(Priority.CONTINUATION):
            return await self.scheduler.run(self._cluster)

    def _cluster(self) -> dict[int, Diarized]:
        results = {}
        for number in sorted(self._channels):
            state = self._channels[number]
            started = time.perf_counter()
            result = state.track.finish(
                min_speakers=self.request.min_speakers,
                max_speakers=self.request.max_speakers,
                known=self._known,
            )
            seconds = state.busy_seconds + time.perf_counter() - started
            metrics.DIARIZATION_SECONDS.observe(seconds)
            if state.audio_seconds > 0:
                metrics.DIARIZATION_RTF.observe(seconds / state.audio_seconds)
            metrics.SPEAKERS_FOUND.observe(len(result.speakers))
            results[number] = result
        return results


def label(segments: Sequence[asr_pb2.Segment], results: dict[int, Diarized]) -> None:
    """Sets the speaker of every segment and word from its channel's turns."""
    for number, result in results.items():
        label_segments([s for s in segments if s.channel == number], result.turns)


def summary(results: dict[int, Diarized]) -> asr_pb2.Diarization:
    message = asr_pb2.Diarization()
    notes = []
    for number, result in results.items():
        for voice in result.speakers:
            message.speakers.append(
                asr_pb2.Speaker(
                    label=voice.label,
                    speech_seconds=voice.speech_seconds,
                    embedding=voice.embedding.tolist(),
                    channel=number,
                )
            )
        if result.note:
            notes.append(result.note if len(results) == 1 else f"channel {number}: {result.note}")
    message.note = "; ".join(notes)
    return message
