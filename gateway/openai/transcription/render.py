"""ASR results in OpenAI's response formats: json, text, srt, vtt and verbose_json; and the
text deltas of `stream=true`."""

from collections.abc import Iterable, Sequence

from fastapi.responses import JSONResponse, PlainTextResponse, Response

from paneas.asr.v1 import asr_pb2
from paneas.gateway.openai.languages import language_name
from paneas.gateway.openai.transcription.protocol import (
    DurationUsage,
    Granularity,
    ResponseFormat,
    Transcription,
    TranscriptionSegment,
    TranscriptionVerbose,
    TranscriptionWord,
)


def timestamp(seconds: float, decimal_marker: str) -> str:
    """HH:MM:SS,mmm (SRT) or HH:MM:SS.mmm (WebVTT); hours grow past 99 if they must."""
    milliseconds = max(0, round(seconds * 1000))
    hours, milliseconds = divmod(milliseconds, 3_600_000)
    minutes, milliseconds = divmod(milliseconds, 60_000)
    secs, milliseconds = divmod(milliseconds, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal_marker}{milliseconds:03d}"


def _cues(segments: Iterable[asr_pb2.Segment]) -> list[tuple[float, float, str]]:
    return [
        (segment.start_seconds, segment.end_seconds, segment.text.strip())
        for segment in segments
        if segment.text.strip()
    ]


def srt(segments: Iterable[asr_pb2.Segment]) -> str:
    return "".join(
        f"{index}\n{timestamp(start, ',')} --> {timestamp(end, ',')}\n{text}\n\n"
        for index, (start, end, text) in enumerate(_cues(segments), start=1)
    )


def vtt(segments: Iterable[asr_pb2.Segment]) -> str:
    return "WEBVTT\n\n" + "".join(
        f"{timestamp(start, '.')} --> {timestamp(end, '.')}\n{text}\n\n"
        for start, end, text in _cues(segments)
    )


def verbose(
    response: asr_pb2.RecognizeResponse,
    task: str,
    granularities: Sequence[Granularity],
    temperature: float,
    multichannel: bool = False,
) -> TranscriptionVerbose:
    """OpenAI's verbose_json: segments unless only words were asked for, words if asked;
    with `multichannel`, each carries its channel."""
    with_segments = not granularities or "segment" in granularities
    with_words = "word" in granularities
    translated = task == "translate"
    return TranscriptionVerbose(
        task=task,
        # A translation's language is its output's, as OpenAI reports it.
        language="english" if translated else language_name(response.language),
        duration=round(response.duration_seconds, 3),
        text=response.text.strip(),
        segments=[
            TranscriptionSegment(
                id=segment.id,
                seek=round(segment.start_seconds * 100),
                start=round(segment.start_seconds, 3),
                end=round(segment.end_seconds, 3),
                text=segment.text,
                temperature=temperature,
                # float32 on the wire: six decimals is all they hold.
                avg_logprob=round(segment.avg_logprob, 6),
                compression_ratio=round(segment.compression_ratio, 6),
                no_speech_prob=round(segment.no_speech_probability, 6),
                channel=segment.channel if multichannel else None,
            )
            for segment in response.segments
        ]
        if with_segments
        else None,
        words=[
            TranscriptionWord(
                word=word.word.strip(),
                start=round(word.start_seconds, 3),
                end=round(word.end_seconds, 3),
                channel=segment.channel if multichannel else None,
            )
            for segment in response.segments
            for word in segment.words
        ]
        if with_words
        else None,
        usage=None if translated else _usage(response),
    )


def _usage(response: asr_pb2.RecognizeResponse) -> DurationUsage:
    return DurationUsage(seconds=round(response.duration_seconds, 3))


def render(
    response: asr_pb2.RecognizeResponse,
    response_format: ResponseFormat,
    task: str,
    granularities: Sequence[Granularity],
    temperature: float,
    multichannel: bool = False,
) -> Response:
    if response_format == "text":
        return PlainTextResponse(response.text.strip() + "\n")
    if response_format == "srt":
        return PlainTextResponse(srt(response.segments))
    if response_format == "vtt":
        return PlainTextResponse(vtt(response.segments))
    if response_format == "verbose_json":
        body = verbose(response, task, granularities, temperature, multichannel)
    else:
        usage = None if task == "translate" else _usage(response)
        body = Transcription(text=response.text.strip(), usage=usage)
    return JSONResponse(body.model_dump(exclude_none=True))


def join_delta(previous: str, text: str) -> str:
    """The next streamed piece: segment texts joined as the full transcript joins them
    (Whisper's segments carry their leading space; stripped ones get one)."""
    if not previous:
        return text.lstrip()
    if text[:1].isspace() or previous[-1:].isspace():
        return text
    return " " + text
