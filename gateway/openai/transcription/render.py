"""ASR results in OpenAI's response formats: json, text, srt, vtt, verbose_json and
diarized_json; and the text deltas and diarized segments of `stream=true`.

A segment's speaker (with diarization) shows where the format has room for it: diarized_json,
verbose_json's segments, an SRT cue's "A: " prefix and a WebVTT cue's voice tag `<v A>`."""

from collections.abc import Iterable, Sequence

from fastapi.responses import JSONResponse, PlainTextResponse, Response

from paneas.asr.v1 import asr_pb2
from paneas.gateway.openai.languages import language_name
from paneas.gateway.openai.transcription.protocol import (
    DurationUsage,
    Granularity,
    ResponseFormat,
    Transcription,
    TranscriptionDiarized,
    TranscriptionDiarizedSegment,
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


def _cues(segments: Iterable[asr_pb2.Segment]) -> list[tuple[float, float, str, str]]:
    return [
        (segment.start_seconds, segment.end_seconds, segment.text.strip(), segment.speaker)
        for segment in segments
        if segment.text.strip()
    ]


def _vtt_voice(speaker: str) -> str:
    # A voice tag's annotation ends at ">" and cue text may not hold "&", "<" or a
    # newline unescaped (WebVTT, 4.2.2).
    name = speaker.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f"<v {' '.join(name.split())}>"


def srt(segments: Iterable[asr_pb2.Segment]) -> str:
    """SubRip cues; a labelled segment's cue starts with its speaker: "A: Hello"."""
    return "".join(
        f"{index}\n{timestamp(start, ',')} --> {timestamp(end, ',')}\n"
        f"{f'{speaker}: ' if speaker else ''}{text}\n\n"
        for index, (start, end, text, speaker) in enumerate(_cues(segments), start=1)
    )


def vtt(segments: Iterable[asr_pb2.Segment]) -> str:
    """WebVTT cues; a labelled segment's cue is in its speaker's voice: "<v A>Hello"."""
    return "WEBVTT\n\n" + "".join(
        f"{timestamp(start, '.')} --> {timestamp(end, '.')}\n"
        f"{_vtt_voice(speaker) if speaker else ''}{text}\n\n"
        for start, end, text, speaker in _cues(segments)
    )


def segment_id(index: int) -> str:
    """A diarized segment's id as OpenAI writes them: "seg_0", "seg_1" ..."""
    return f"seg_{index}"


def diarized_segment(index: int, segment: asr_pb2.Segment) -> TranscriptionDiarizedSegment:
    """One segment with its speaker. Its text starts with a space, as Whisper's (and OpenAI's)
    mostly do: the segments' texts joined are the transcript, "Mr." + " John" and never
    "Mr.John" where the service split a sentence after a stop."""
    text = segment.text if segment.text[:1].isspace() else " " + segment.text
    return TranscriptionDiarizedSegment(
        id=segment_id(index),
        start=round(segment.start_seconds, 3),
        end=round(segment.end_seconds, 3),
        text=text,
        speaker=segment.speaker,
    )


def diarized_transcription(response: asr_pb2.RecognizeResponse) -> TranscriptionDiarized:
    """OpenAI's diarized_json: the spoken segments, each with its speaker, numbered in time
    order (blank ones left out, as a stream of them leaves them out)."""
    spoken = [segment for segment in response.segments if segment.text.strip()]
    return TranscriptionDiarized(
        duration=round(response.duration_seconds, 3),
        text=response.text.strip(),
        segments=[diarized_segment(index, segment) for index, segment in enumerate(spoken)],
        usage=_usage(response),
    )


def verbose(
    response: asr_pb2.RecognizeResponse,
    task: str,
    granularities: Sequence[Granularity],
    temperature: float,
    multichannel: bool = False,
    diarized: bool = False,
) -> TranscriptionVerbose:
    """OpenAI's verbose_json: segments unless only words were asked for, words if asked;
    with `multichannel`, each carries its channel; with `diarized`, each segment its speaker
    (words do not: OpenAI's words have no room for one; /api/v1/asr has them)."""
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
                speaker=segment.speaker if diarized else None,
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
    diarized: bool = False,
) -> Response:
    if response_format == "text":
        return PlainTextResponse(response.text.strip() + "\n")
    if response_format == "srt":
        return PlainTextResponse(srt(response.segments))
    if response_format == "vtt":
        return PlainTextResponse(vtt(response.segments))
    if response_format == "diarized_json":
        body = diarized_transcription(response)
    elif response_format == "verbose_json":
        body = verbose(response, task, granularities, temperature, multichannel, diarized)
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
