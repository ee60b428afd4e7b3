"""Files (Recognize, RecognizeStream): admitted first, then decoded and transcribed window by
window.

A request takes its scheduler slot before a byte of audio is decoded, so a full instance
refuses at once (RESOURCE_EXHAUSTED) instead of decoding first. The container's stated
duration is checked before decoding; the decoder enforces the limit again as it goes. At
most `ASR_DECODE_WINDOW_SECONDS` of decoded audio (plus the carry into the next window) is
held at a time, so a request's memory depends on that setting, not on the file's length or
compression ratio (hours of silence in a few MB of FLAC cost what a short file does).
"""

import dataclasses
import time
from collections.abc import AsyncIterator, Callable, Iterator

from paneas.asr.v1 import asr_pb2
from paneas.services.asr import metrics
from paneas.services.asr.audio import EncodedFile
from paneas.services.asr.engine import DecodeOptions, WhisperEngine
from paneas.services.asr.results import segment_message
from paneas.services.asr.scheduler import DecodeScheduler, Priority
from paneas.services.asr.settings import AsrSettings


async def transcribe_file(
    engine: WhisperEngine,
    scheduler: DecodeScheduler,
    settings: AsrSettings,
    data: bytes,
    options: DecodeOptions,
    on_decoded: Callable[[float], None] | None = None,
) -> AsyncIterator[asr_pb2.RecognizeStreamResponse | asr_pb2.Segment]:
    """Yields the header (language, duration) once, just before the first segment (or at the
    end when nothing was said), then each segment as it is decoded.

    The header's `duration_seconds` is exact for a file of one window (or without speech);
    for a longer one it is what the container states (0 when it states nothing), as later
    windows are not decoded yet when the first segments go out. `on_decoded` is told the
    exact duration at the end (Recognize answers with it).
    """
    audio: EncodedFile | None = None
    started = time.perf_counter()
    first_heard: asr_pb2.RecognizeStreamResponse | None = None
    index = 0
    try:
        while True:
            # The first slot is the admission: taken before a byte is decoded, refused at once
            # when the instance is full. Each later window waits its turn behind work queued
            # meanwhile (a short file waits for one window, not for a whole long one), never
            # refused: the file was admitted.
            async with scheduler.slot(Priority.BATCH, admitted=audio is not None):
                if audio is None:
                    audio = await scheduler.run(
                        lambda: EncodedFile(data, settings.max_audio_seconds)
                    )
                    windows = audio.windows(settings.decode_window_seconds)
                window = await scheduler.run(lambda: next(windows, None))  # noqa: B023
                if window is None:
                    break
                offset, samples = window
                transcript = await scheduler.run(
                    lambda: engine.transcribe_file(samples, options)  # noqa: B023
                )
                del window, samples
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
                    if index == 0:
                        yield header
                        # Later windows keep the language the first speech was heard in.
                        if options.language is None:
                            options = dataclasses.replace(options, language=header.language)
                    yield _shifted(segment_message(segment, index), offset)
                    index += 1
        if first_heard is not None and index == 0:
            first_heard.duration_seconds = audio.decoded_seconds
            yield first_heard
    finally:
        if audio is not None:
            audio.close()
    seconds = audio.decoded_seconds
    if on_decoded is not None:
        on_decoded(seconds)
    metrics.AUDIO_SECONDS.labels(rpc="recognize").inc(seconds)
    if seconds > 0:
        metrics.REAL_TIME_FACTOR.labels(kind="batch").observe(
            (time.perf_counter() - started) / seconds
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
