from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Task(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TASK_UNSPECIFIED: _ClassVar[Task]
    TASK_TRANSCRIBE: _ClassVar[Task]
    TASK_TRANSLATE: _ClassVar[Task]

class AudioEncoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AUDIO_ENCODING_UNSPECIFIED: _ClassVar[AudioEncoding]
    AUDIO_ENCODING_PCM_S16LE: _ClassVar[AudioEncoding]
    AUDIO_ENCODING_PCM_F32LE: _ClassVar[AudioEncoding]

class SpeechEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SPEECH_EVENT_TYPE_UNSPECIFIED: _ClassVar[SpeechEventType]
    SPEECH_EVENT_TYPE_SPEECH_STARTED: _ClassVar[SpeechEventType]
    SPEECH_EVENT_TYPE_SPEECH_ENDED: _ClassVar[SpeechEventType]
TASK_UNSPECIFIED: Task
TASK_TRANSCRIBE: Task
TASK_TRANSLATE: Task
AUDIO_ENCODING_UNSPECIFIED: AudioEncoding
AUDIO_ENCODING_PCM_S16LE: AudioEncoding
AUDIO_ENCODING_PCM_F32LE: AudioEncoding
SPEECH_EVENT_TYPE_UNSPECIFIED: SpeechEventType
SPEECH_EVENT_TYPE_SPEECH_STARTED: SpeechEventType
SPEECH_EVENT_TYPE_SPEECH_ENDED: SpeechEventType

class RecognitionConfig(_message.Message):
    __slots__ = ("model", "language", "task", "initial_prompt", "hotwords", "vad_filter", "word_timestamps", "temperature", "beam_size", "multichannel", "diarization")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    INITIAL_PROMPT_FIELD_NUMBER: _ClassVar[int]
    HOTWORDS_FIELD_NUMBER: _ClassVar[int]
    VAD_FILTER_FIELD_NUMBER: _ClassVar[int]
    WORD_TIMESTAMPS_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    BEAM_SIZE_FIELD_NUMBER: _ClassVar[int]
    MULTICHANNEL_FIELD_NUMBER: _ClassVar[int]
    DIARIZATION_FIELD_NUMBER: _ClassVar[int]
    model: str
    language: str
    task: Task
    initial_prompt: str
    hotwords: _containers.RepeatedScalarFieldContainer[str]
    vad_filter: bool
    word_timestamps: bool
    temperature: float
    beam_size: int
    multichannel: bool
    diarization: DiarizationConfig
    def __init__(self, model: _Optional[str] = ..., language: _Optional[str] = ..., task: _Optional[_Union[Task, str]] = ..., initial_prompt: _Optional[str] = ..., hotwords: _Optional[_Iterable[str]] = ..., vad_filter: _Optional[bool] = ..., word_timestamps: _Optional[bool] = ..., temperature: _Optional[float] = ..., beam_size: _Optional[int] = ..., multichannel: _Optional[bool] = ..., diarization: _Optional[_Union[DiarizationConfig, _Mapping]] = ...) -> None: ...

class DiarizationConfig(_message.Message):
    __slots__ = ("enable", "min_speakers", "max_speakers", "known_speakers")
    ENABLE_FIELD_NUMBER: _ClassVar[int]
    MIN_SPEAKERS_FIELD_NUMBER: _ClassVar[int]
    MAX_SPEAKERS_FIELD_NUMBER: _ClassVar[int]
    KNOWN_SPEAKERS_FIELD_NUMBER: _ClassVar[int]
    enable: bool
    min_speakers: int
    max_speakers: int
    known_speakers: _containers.RepeatedCompositeFieldContainer[KnownSpeaker]
    def __init__(self, enable: _Optional[bool] = ..., min_speakers: _Optional[int] = ..., max_speakers: _Optional[int] = ..., known_speakers: _Optional[_Iterable[_Union[KnownSpeaker, _Mapping]]] = ...) -> None: ...

class KnownSpeaker(_message.Message):
    __slots__ = ("name", "audio")
    NAME_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    name: str
    audio: bytes
    def __init__(self, name: _Optional[str] = ..., audio: _Optional[bytes] = ...) -> None: ...

class RecognizeRequest(_message.Message):
    __slots__ = ("config", "audio")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    config: RecognitionConfig
    audio: bytes
    def __init__(self, config: _Optional[_Union[RecognitionConfig, _Mapping]] = ..., audio: _Optional[bytes] = ...) -> None: ...

class RecognizeResponse(_message.Message):
    __slots__ = ("text", "language", "language_probability", "duration_seconds", "segments", "model", "diarization")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DIARIZATION_FIELD_NUMBER: _ClassVar[int]
    text: str
    language: str
    language_probability: float
    duration_seconds: float
    segments: _containers.RepeatedCompositeFieldContainer[Segment]
    model: str
    diarization: Diarization
    def __init__(self, text: _Optional[str] = ..., language: _Optional[str] = ..., language_probability: _Optional[float] = ..., duration_seconds: _Optional[float] = ..., segments: _Optional[_Iterable[_Union[Segment, _Mapping]]] = ..., model: _Optional[str] = ..., diarization: _Optional[_Union[Diarization, _Mapping]] = ...) -> None: ...

class Diarization(_message.Message):
    __slots__ = ("speakers", "note")
    SPEAKERS_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    speakers: _containers.RepeatedCompositeFieldContainer[Speaker]
    note: str
    def __init__(self, speakers: _Optional[_Iterable[_Union[Speaker, _Mapping]]] = ..., note: _Optional[str] = ...) -> None: ...

class Speaker(_message.Message):
    __slots__ = ("label", "speech_seconds", "embedding", "channel")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    SPEECH_SECONDS_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    label: str
    speech_seconds: float
    embedding: _containers.RepeatedScalarFieldContainer[float]
    channel: int
    def __init__(self, label: _Optional[str] = ..., speech_seconds: _Optional[float] = ..., embedding: _Optional[_Iterable[float]] = ..., channel: _Optional[int] = ...) -> None: ...

class RecognizeStreamRequest(_message.Message):
    __slots__ = ("config", "audio")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    config: RecognitionConfig
    audio: bytes
    def __init__(self, config: _Optional[_Union[RecognitionConfig, _Mapping]] = ..., audio: _Optional[bytes] = ...) -> None: ...

class RecognizeStreamResponse(_message.Message):
    __slots__ = ("language", "language_probability", "duration_seconds", "model", "segment", "diarization")
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    DIARIZATION_FIELD_NUMBER: _ClassVar[int]
    language: str
    language_probability: float
    duration_seconds: float
    model: str
    segment: Segment
    diarization: Diarization
    def __init__(self, language: _Optional[str] = ..., language_probability: _Optional[float] = ..., duration_seconds: _Optional[float] = ..., model: _Optional[str] = ..., segment: _Optional[_Union[Segment, _Mapping]] = ..., diarization: _Optional[_Union[Diarization, _Mapping]] = ...) -> None: ...

class Segment(_message.Message):
    __slots__ = ("id", "text", "start_seconds", "end_seconds", "words", "avg_logprob", "no_speech_probability", "compression_ratio", "channel", "speaker")
    ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    START_SECONDS_FIELD_NUMBER: _ClassVar[int]
    END_SECONDS_FIELD_NUMBER: _ClassVar[int]
    WORDS_FIELD_NUMBER: _ClassVar[int]
    AVG_LOGPROB_FIELD_NUMBER: _ClassVar[int]
    NO_SPEECH_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    COMPRESSION_RATIO_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SPEAKER_FIELD_NUMBER: _ClassVar[int]
    id: int
    text: str
    start_seconds: float
    end_seconds: float
    words: _containers.RepeatedCompositeFieldContainer[Word]
    avg_logprob: float
    no_speech_probability: float
    compression_ratio: float
    channel: int
    speaker: str
    def __init__(self, id: _Optional[int] = ..., text: _Optional[str] = ..., start_seconds: _Optional[float] = ..., end_seconds: _Optional[float] = ..., words: _Optional[_Iterable[_Union[Word, _Mapping]]] = ..., avg_logprob: _Optional[float] = ..., no_speech_probability: _Optional[float] = ..., compression_ratio: _Optional[float] = ..., channel: _Optional[int] = ..., speaker: _Optional[str] = ...) -> None: ...

class Word(_message.Message):
    __slots__ = ("word", "start_seconds", "end_seconds", "confidence", "speaker")
    WORD_FIELD_NUMBER: _ClassVar[int]
    START_SECONDS_FIELD_NUMBER: _ClassVar[int]
    END_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    SPEAKER_FIELD_NUMBER: _ClassVar[int]
    word: str
    start_seconds: float
    end_seconds: float
    confidence: float
    speaker: str
    def __init__(self, word: _Optional[str] = ..., start_seconds: _Optional[float] = ..., end_seconds: _Optional[float] = ..., confidence: _Optional[float] = ..., speaker: _Optional[str] = ...) -> None: ...

class StreamingRecognizeRequest(_message.Message):
    __slots__ = ("streaming_config", "audio")
    STREAMING_CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    streaming_config: StreamingRecognitionConfig
    audio: bytes
    def __init__(self, streaming_config: _Optional[_Union[StreamingRecognitionConfig, _Mapping]] = ..., audio: _Optional[bytes] = ...) -> None: ...

class StreamingRecognitionConfig(_message.Message):
    __slots__ = ("config", "encoding", "sample_rate_hertz", "audio_channel_count", "interim_results", "endpointing", "enable_insights", "session_id")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_HERTZ_FIELD_NUMBER: _ClassVar[int]
    AUDIO_CHANNEL_COUNT_FIELD_NUMBER: _ClassVar[int]
    INTERIM_RESULTS_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTING_FIELD_NUMBER: _ClassVar[int]
    ENABLE_INSIGHTS_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    config: RecognitionConfig
    encoding: AudioEncoding
    sample_rate_hertz: int
    audio_channel_count: int
    interim_results: bool
    endpointing: Endpointing
    enable_insights: bool
    session_id: str
    def __init__(self, config: _Optional[_Union[RecognitionConfig, _Mapping]] = ..., encoding: _Optional[_Union[AudioEncoding, str]] = ..., sample_rate_hertz: _Optional[int] = ..., audio_channel_count: _Optional[int] = ..., interim_results: _Optional[bool] = ..., endpointing: _Optional[_Union[Endpointing, _Mapping]] = ..., enable_insights: _Optional[bool] = ..., session_id: _Optional[str] = ...) -> None: ...

class Endpointing(_message.Message):
    __slots__ = ("silence_duration_ms", "max_utterance_ms")
    SILENCE_DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_UTTERANCE_MS_FIELD_NUMBER: _ClassVar[int]
    silence_duration_ms: int
    max_utterance_ms: int
    def __init__(self, silence_duration_ms: _Optional[int] = ..., max_utterance_ms: _Optional[int] = ...) -> None: ...

class StreamingRecognizeResponse(_message.Message):
    __slots__ = ("session_id", "results", "speech_event", "insight", "summary")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    SPEECH_EVENT_FIELD_NUMBER: _ClassVar[int]
    INSIGHT_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    results: _containers.RepeatedCompositeFieldContainer[StreamingRecognitionResult]
    speech_event: SpeechEvent
    insight: Insight
    summary: StreamSummary
    def __init__(self, session_id: _Optional[str] = ..., results: _Optional[_Iterable[_Union[StreamingRecognitionResult, _Mapping]]] = ..., speech_event: _Optional[_Union[SpeechEvent, _Mapping]] = ..., insight: _Optional[_Union[Insight, _Mapping]] = ..., summary: _Optional[_Union[StreamSummary, _Mapping]] = ...) -> None: ...

class StreamingRecognitionResult(_message.Message):
    __slots__ = ("transcript", "is_final", "stability", "utterance_index", "start_seconds", "end_seconds", "words", "language", "error", "speaker")
    TRANSCRIPT_FIELD_NUMBER: _ClassVar[int]
    IS_FINAL_FIELD_NUMBER: _ClassVar[int]
    STABILITY_FIELD_NUMBER: _ClassVar[int]
    UTTERANCE_INDEX_FIELD_NUMBER: _ClassVar[int]
    START_SECONDS_FIELD_NUMBER: _ClassVar[int]
    END_SECONDS_FIELD_NUMBER: _ClassVar[int]
    WORDS_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    SPEAKER_FIELD_NUMBER: _ClassVar[int]
    transcript: str
    is_final: bool
    stability: float
    utterance_index: int
    start_seconds: float
    end_seconds: float
    words: _containers.RepeatedCompositeFieldContainer[Word]
    language: str
    error: str
    speaker: str
    def __init__(self, transcript: _Optional[str] = ..., is_final: _Optional[bool] = ..., stability: _Optional[float] = ..., utterance_index: _Optional[int] = ..., start_seconds: _Optional[float] = ..., end_seconds: _Optional[float] = ..., words: _Optional[_Iterable[_Union[Word, _Mapping]]] = ..., language: _Optional[str] = ..., error: _Optional[str] = ..., speaker: _Optional[str] = ...) -> None: ...

class SpeechEvent(_message.Message):
    __slots__ = ("type", "offset_seconds")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_SECONDS_FIELD_NUMBER: _ClassVar[int]
    type: SpeechEventType
    offset_seconds: float
    def __init__(self, type: _Optional[_Union[SpeechEventType, str]] = ..., offset_seconds: _Optional[float] = ...) -> None: ...

class Insight(_message.Message):
    __slots__ = ("type", "text", "generated_at", "model")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    GENERATED_AT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    type: str
    text: str
    generated_at: float
    model: str
    def __init__(self, type: _Optional[str] = ..., text: _Optional[str] = ..., generated_at: _Optional[float] = ..., model: _Optional[str] = ...) -> None: ...

class StreamSummary(_message.Message):
    __slots__ = ("transcript", "audio_seconds", "utterance_count", "word_count", "summary")
    TRANSCRIPT_FIELD_NUMBER: _ClassVar[int]
    AUDIO_SECONDS_FIELD_NUMBER: _ClassVar[int]
    UTTERANCE_COUNT_FIELD_NUMBER: _ClassVar[int]
    WORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    transcript: str
    audio_seconds: float
    utterance_count: int
    word_count: int
    summary: str
    def __init__(self, transcript: _Optional[str] = ..., audio_seconds: _Optional[float] = ..., utterance_count: _Optional[int] = ..., word_count: _Optional[int] = ..., summary: _Optional[str] = ...) -> None: ...

class AlignRequest(_message.Message):
    __slots__ = ("audio", "transcript", "language", "model")
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPT_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    audio: bytes
    transcript: str
    language: str
    model: str
    def __init__(self, audio: _Optional[bytes] = ..., transcript: _Optional[str] = ..., language: _Optional[str] = ..., model: _Optional[str] = ...) -> None: ...

class AlignResponse(_message.Message):
    __slots__ = ("words", "unaligned_words", "duration_seconds")
    WORDS_FIELD_NUMBER: _ClassVar[int]
    UNALIGNED_WORDS_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    words: _containers.RepeatedCompositeFieldContainer[AlignedWord]
    unaligned_words: _containers.RepeatedCompositeFieldContainer[UnalignedWord]
    duration_seconds: float
    def __init__(self, words: _Optional[_Iterable[_Union[AlignedWord, _Mapping]]] = ..., unaligned_words: _Optional[_Iterable[_Union[UnalignedWord, _Mapping]]] = ..., duration_seconds: _Optional[float] = ...) -> None: ...

class AlignedWord(_message.Message):
    __slots__ = ("index", "word", "start_seconds", "end_seconds", "confidence")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    WORD_FIELD_NUMBER: _ClassVar[int]
    START_SECONDS_FIELD_NUMBER: _ClassVar[int]
    END_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    index: int
    word: str
    start_seconds: float
    end_seconds: float
    confidence: float
    def __init__(self, index: _Optional[int] = ..., word: _Optional[str] = ..., start_seconds: _Optional[float] = ..., end_seconds: _Optional[float] = ..., confidence: _Optional[float] = ...) -> None: ...

class UnalignedWord(_message.Message):
    __slots__ = ("index", "word", "reason")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    WORD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    index: int
    word: str
    reason: str
    def __init__(self, index: _Optional[int] = ..., word: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...
