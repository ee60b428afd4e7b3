"""faster-whisper results -> paneas.asr.v1 messages."""

from collections.abc import Iterable

from faster_whisper.transcribe import Segment

from paneas.asr.v1 import asr_pb2


def words_of(segments: Iterable[Segment], offset: float = 0.0) -> list[asr_pb2.Word]:
    return [
        asr_pb2.Word(
            word=word.word.strip(),
            start_seconds=offset + word.start,
            end_seconds=offset + word.end,
            confidence=word.probability,
        )
        for segment in segments
        for word in segment.words or ()
    ]


def segment_message(segment: Segment, index: int) -> asr_pb2.Segment:
    return asr_pb2.Segment(
        id=index,
        text=segment.text.strip(),
        start_seconds=segment.start,
        end_seconds=segment.end,
        words=words_of([segment]),
        avg_logprob=segment.avg_logprob,
        no_speech_probability=segment.no_speech_prob,
        compression_ratio=segment.compression_ratio,
    )
