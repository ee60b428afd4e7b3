from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AudioFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AUDIO_FORMAT_UNSPECIFIED: _ClassVar[AudioFormat]
    AUDIO_FORMAT_WAV: _ClassVar[AudioFormat]
    AUDIO_FORMAT_PCM: _ClassVar[AudioFormat]
    AUDIO_FORMAT_MP3: _ClassVar[AudioFormat]
    AUDIO_FORMAT_OPUS: _ClassVar[AudioFormat]
    AUDIO_FORMAT_FLAC: _ClassVar[AudioFormat]
    AUDIO_FORMAT_AAC: _ClassVar[AudioFormat]

class Gender(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GENDER_UNSPECIFIED: _ClassVar[Gender]
    GENDER_FEMALE: _ClassVar[Gender]
    GENDER_MALE: _ClassVar[Gender]
    GENDER_NEUTRAL: _ClassVar[Gender]
AUDIO_FORMAT_UNSPECIFIED: AudioFormat
AUDIO_FORMAT_WAV: AudioFormat
AUDIO_FORMAT_PCM: AudioFormat
AUDIO_FORMAT_MP3: AudioFormat
AUDIO_FORMAT_OPUS: AudioFormat
AUDIO_FORMAT_FLAC: AudioFormat
AUDIO_FORMAT_AAC: AudioFormat
GENDER_UNSPECIFIED: Gender
GENDER_FEMALE: Gender
GENDER_MALE: Gender
GENDER_NEUTRAL: Gender

class SynthesizeRequest(_message.Message):
    __slots__ = ("text", "voice", "language", "format", "speed", "sample_rate_hertz", "disable_normalization")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    VOICE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    SPEED_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_HERTZ_FIELD_NUMBER: _ClassVar[int]
    DISABLE_NORMALIZATION_FIELD_NUMBER: _ClassVar[int]
    text: str
    voice: str
    language: str
    format: AudioFormat
    speed: float
    sample_rate_hertz: int
    disable_normalization: bool
    def __init__(self, text: _Optional[str] = ..., voice: _Optional[str] = ..., language: _Optional[str] = ..., format: _Optional[_Union[AudioFormat, str]] = ..., speed: _Optional[float] = ..., sample_rate_hertz: _Optional[int] = ..., disable_normalization: _Optional[bool] = ...) -> None: ...

class SynthesizeResponse(_message.Message):
    __slots__ = ("audio", "format", "sample_rate_hertz", "duration_seconds", "voice", "characters", "synthesis_seconds", "engine")
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_HERTZ_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    VOICE_FIELD_NUMBER: _ClassVar[int]
    CHARACTERS_FIELD_NUMBER: _ClassVar[int]
    SYNTHESIS_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    audio: bytes
    format: AudioFormat
    sample_rate_hertz: int
    duration_seconds: float
    voice: str
    characters: int
    synthesis_seconds: float
    engine: str
    def __init__(self, audio: _Optional[bytes] = ..., format: _Optional[_Union[AudioFormat, str]] = ..., sample_rate_hertz: _Optional[int] = ..., duration_seconds: _Optional[float] = ..., voice: _Optional[str] = ..., characters: _Optional[int] = ..., synthesis_seconds: _Optional[float] = ..., engine: _Optional[str] = ...) -> None: ...

class StreamSynthesizeRequest(_message.Message):
    __slots__ = ("text", "voice", "language", "format", "speed", "sample_rate_hertz", "disable_normalization")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    VOICE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    SPEED_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_HERTZ_FIELD_NUMBER: _ClassVar[int]
    DISABLE_NORMALIZATION_FIELD_NUMBER: _ClassVar[int]
    text: str
    voice: str
    language: str
    format: AudioFormat
    speed: float
    sample_rate_hertz: int
    disable_normalization: bool
    def __init__(self, text: _Optional[str] = ..., voice: _Optional[str] = ..., language: _Optional[str] = ..., format: _Optional[_Union[AudioFormat, str]] = ..., speed: _Optional[float] = ..., sample_rate_hertz: _Optional[int] = ..., disable_normalization: _Optional[bool] = ...) -> None: ...

class StreamSynthesizeResponse(_message.Message):
    __slots__ = ("audio", "format", "sample_rate_hertz", "sentence_index", "offset_seconds", "voice", "duration_seconds", "text")
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_HERTZ_FIELD_NUMBER: _ClassVar[int]
    SENTENCE_INDEX_FIELD_NUMBER: _ClassVar[int]
    OFFSET_SECONDS_FIELD_NUMBER: _ClassVar[int]
    VOICE_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    audio: bytes
    format: AudioFormat
    sample_rate_hertz: int
    sentence_index: int
    offset_seconds: float
    voice: str
    duration_seconds: float
    text: str
    def __init__(self, audio: _Optional[bytes] = ..., format: _Optional[_Union[AudioFormat, str]] = ..., sample_rate_hertz: _Optional[int] = ..., sentence_index: _Optional[int] = ..., offset_seconds: _Optional[float] = ..., voice: _Optional[str] = ..., duration_seconds: _Optional[float] = ..., text: _Optional[str] = ...) -> None: ...

class ListVoicesRequest(_message.Message):
    __slots__ = ("language",)
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    language: str
    def __init__(self, language: _Optional[str] = ...) -> None: ...

class ListVoicesResponse(_message.Message):
    __slots__ = ("voices", "default_voice")
    VOICES_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_VOICE_FIELD_NUMBER: _ClassVar[int]
    voices: _containers.RepeatedCompositeFieldContainer[Voice]
    default_voice: str
    def __init__(self, voices: _Optional[_Iterable[_Union[Voice, _Mapping]]] = ..., default_voice: _Optional[str] = ...) -> None: ...

class Voice(_message.Message):
    __slots__ = ("name", "engine", "language_codes", "gender", "natural_sample_rate_hertz", "aliases")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_CODES_FIELD_NUMBER: _ClassVar[int]
    GENDER_FIELD_NUMBER: _ClassVar[int]
    NATURAL_SAMPLE_RATE_HERTZ_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    name: str
    engine: str
    language_codes: _containers.RepeatedScalarFieldContainer[str]
    gender: Gender
    natural_sample_rate_hertz: int
    aliases: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., engine: _Optional[str] = ..., language_codes: _Optional[_Iterable[str]] = ..., gender: _Optional[_Union[Gender, str]] = ..., natural_sample_rate_hertz: _Optional[int] = ..., aliases: _Optional[_Iterable[str]] = ...) -> None: ...
