"""Files (Recognize, RecognizeStream): admitted first, then decoded and transcribed window by
window.

A request takes its scheduler slot before a byte of audio is decoded, so a full instance
refuses at once (RESOURCE_EXHAUSTED) instead of decoding first. The container's stated
duration is checked before decoding; the decoder enforces the limit again as it goes. At
most `ASR_DECODE_WINDOW_SECONDS` of decoded audio (plus the carry into the next window) is
held at a time, so a request's memory depends on that setting, not on the file's length or
compression ratio (hours of silence in a few MB of FLAC cost what a short file does).

With `multichannel` (a call recording, one party per channel) each channel is decoded as a
file of its own and transcribed window by window; the channel furthest behind goes next, and
a segment goes out once every other channel has been decoded past its start, so segments
leave in start-time order while only a window per channel is held.
"""

import dataclasses
import heapq
import itertools
import math
import time
from collections.abc import AsyncIterator, Callable, Iterator

import numpy as np

from paneas.asr.v1 import asr_pb2
from paneas.services.asr import metrics
from paneas.services.asr.audio import SAMPLE_RATE, EncodedFile, open_channels
from paneas.services.asr.engine import DecodeOptions, WhisperEngine
from paneas.services.asr.results import segment_message
from paneas.services.asr.scheduler import DecodeScheduler, Priority
from paneas.services.asr.settings import AsrSettings

Step = asr_pb2.RecognizeStreamResponse | asr_pb2.Segment


@dataclasses.dataclass
class _Channel:
    """One channel's decoding (the whole file mixed down, without multichannel)."""

    number: int
    audio: EncodedFile
    windows: Iterator
    options: DecodeOptions
    # No segment of this channel starts before it: the last segment's start, then the end of
    # the decoded window; infinite once the channel is done.
    frontier: float = 0.0
    # The header (language, duration) of the window its first speech was heard in.
    heard: asr_pb2.RecognizeStreamResponse | None = None


class _Merge:
    """Segments of every channel, handed on in start-time order with their final ids; the
    header goes just before the first."""

    def __init__(self) -> None:
        self._pending: list[tuple] = []
        self._order = itertools.count()
        self.sent = 0

    def add(self, message: asr_pb2.Segment, header: asr_pb2.RecognizeStreamResponse) -> None:
        entry = (message.start_seconds, message.channel, next(self._order), message, header)
        heapq.heappush(self._pending, entry)

    def ready(self, channels: list[_Channel]) -> Iterator[Step]:
        frontier = min(channel.frontier for channel in channels)
        while self._pending and self._pending[0][0] <= frontier:
            *_, message, header = heapq.heappop(self._pending)
            if self.sent == 0:
                yield header
            message.id = self.sent
            self.sent += 1
            yield message


def _open(
    data: bytes, settings: AsrSettings, options: DecodeOptions, multichannel: bool
) -> list[_Channel]:
    files = open_channels(data, settings.max_audio_seconds, multichannel)
    return [
        _Channel(number, audio, audio.windows(settings.decode_window_seconds), options)
        for number, audio in enumerate(files)
    ]


async def transcribe_file(
    engine: WhisperEngine,
    scheduler: DecodeScheduler,
    settings: AsrSettings,
    data: bytes,
    options: DecodeOptions,
    on_decoded: Callable[[float], None] | None = None,
    multichannel: bool = False,
    on_window: Callable[[int, float, np.ndarray], None] | None = None,
) -> AsyncIterator[Step]:
    """Yields the header (language, duration) once, just before the first segment (or at the
    end when nothing was said), then each segment as it is decoded (with `multichannel`, as
    soon as no other channel can still have an earlier one).

    The header's `duration_seconds` is exact for a file of one window (or without speech);
    for a longer one it is what the container states (0 when it states nothing), as later
    windows are not decoded yet when the first segments go out. `on_decoded` is told the
    exact duration at the end (Recognize answers with it). Each channel keeps the language
    its own first speech was heard in. `on_window(channel, offset seconds, samples)` is given
    each decoded window after its transcription, on a decode thread in the same slot
    (diarization embeds its speech there).
    """
    channels: list[_Channel] = []
    started = time.perf_counter()
    first_heard: asr_pb2.RecognizeStreamResponse | None = None
    merge = _Merge()
    try:
        while True:
            # The first slot is the admission: taken before a byte is decoded, refused at once
            # when the instance is full. Each later window waits behind files not started yet
            # (a short file waits for one window, not for a whole long one), never refused.
            async with scheduler.slot(Priority.CONTINUATION if channels else Priority.BATCH):
                if not channels:
                    channels = await scheduler.run(
                        lambda: _open(data, settings, options, multichannel)
                    )
                live = [channel for channel in channels if channel.frontier < math.inf]
                if not live:
                    break
                # The channel furthest behind: the one holding the others' segments back.
                channel = min(live, key=lambda channel: channel.frontier)
                window = await scheduler.run(lambda: next(channel.windows, None))  # noqa: B023
                if window is None:
                    channel.frontier = math.inf
                    for step in merge.ready(channels):
                        yield step
                    continue
                offset, samples = window
                end = offset + samples.size / SAMPLE_RATE
                transcript = await scheduler.run(
                    lambda: engine.transcribe_file(samples, channel.options)  # noqa: B023
                )
                if on_window is not None:
                    await scheduler.run(
                        lambda: on_window(channel.number, offset, samples)  # noqa: B023
                    )
                del window, samples
                audio = channel.audio
                header = asr_pb2.RecognizeStreamResponse(
                    language=transcript.language,
                    language_probability=transcript.language_probability,
                    duration_seconds=(
                        audio.decoded_seconds if audio.finished else audio.stated_seconds or 0.0
                    ),
                    model=engine.model_name,
                )
                if first_heard is None:
                    first_heard = header
                segments = iter(transcript.segments)
                while (segment := await scheduler.run(lambda: _next(segments))) is not None:  # noqa: B023
                    if channel.heard is None:
                        channel.heard = header
                        # Later windows keep the language the first speech was heard in.
                        if channel.options.language is None:
                            channel.options = dataclasses.replace(
                                channel.options, language=header.language
                            )
                    message = _shifted(segment_message(segment, 0), offset)
                    message.channel = channel.number
                    channel.frontier = message.start_seconds
                    merge.add(message, channel.heard)
                    for step in merge.ready(channels):
                        yield step
                channel.frontier = end
                for step in merge.ready(channels):
                    yield step
        if first_heard is not None and merge.sent == 0:
            first_heard.duration_seconds = channels[0].audio.decoded_seconds
            yield first_heard
    finally:
        for channel in channels:
            channel.audio.close()
    seconds = channels[0].audio.decoded_seconds
    if on_decoded is not None:
        on_decoded(seconds)
    # Every channel was decoded and transcribed: that much audio was processed.
    processed = seconds * len(channels)
    metrics.AUDIO_SECONDS.labels(rpc="recognize").inc(processed)
    if processed > 0:
        metrics.REAL_TIME_FACTOR.labels(kind="batch").observe(
            (time.perf_counter() - started) / processed
        )


def _shifted(message: asr_pb2.Segment, offset: float) -> asr_pb2.Segment:
    if offset:
        message.start_seconds += offset
        message.end_seconds += offset
        for word in message.words:
            word.start_seconds += offset
            word.end_seconds += offset
    return message


def _next(segments: Iterator):
    return next(segments, None)
