"""Wire models of OpenAI's audio transcriptions and translations as the gateway serves them
(`/v1/audio/transcriptions`, `/v1/audio/translations`).

Field names, types and presence follow OpenAI's API reference so that the official SDKs
parse them into `Transcription`, `TranscriptionVerbose`, `Translation` ... unchanged; the
models also document the routes in `/openapi.json`.
"""

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import File, Form, Request, UploadFile
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from paneas.gateway.asr.tasks import MULTICHANNEL
from paneas.gateway.openai.errors import OpenAIError

ResponseFormat = Literal["json", "text", "srt", "verbose_json", "vtt", "diarized_json"]
Granularity = Literal["word", "segment"]

File_ = Annotated[
    UploadFile,
    File(description="Audio in any common container: flac, mp3, mp4, m4a, ogg, wav, webm ..."),
]
Model = Annotated[
    str,
    Form(
        description="whisper-1 (or gpt-4o-transcribe, gpt-4o-mini-transcribe) for the "
        "service's default model; gpt-4o-transcribe-diarize for it with speaker labels "
        "(diarized_json); otherwise a model the ASR service serves"
    ),
]
Language = Annotated[str, Form(description="ISO 639-1 code of the spoken language")]
Prompt = Annotated[str, Form(description="Text to guide spelling and style")]
Format = Annotated[
    ResponseFormat,
    Form(description="diarized_json needs gpt-4o-transcribe-diarize (or diarize=true)"),
]
Temperature = Annotated[float, Form(ge=0, le=1)]
Granularities = Annotated[
    list[Granularity],
    Form(
        alias="timestamp_granularities[]",
        description="word and/or segment; needs response_format=verbose_json",
    ),
]
Stream = Annotated[
    bool,
    Form(
        description="Server-sent transcript.text.delta events (transcript.text.segment ones "
        "with diarized_json), then transcript.text.done"
    ),
]
ChunkingStrategyForm = Annotated[
    str | None,
    Form(
        alias="chunking_strategy",
        description='"auto", or a JSON object {"type": "server_vad", "prefix_padding_ms", '
        '"silence_duration_ms", "threshold"} (also as chunking_strategy[type]=... fields, as '
        "the SDKs send it); missing means auto. Accepted and checked; the service's own "
        "voice activity detection cuts the audio either way",
    ),
]
KnownSpeakerNames = Annotated[
    list[str],
    Form(
        alias="known_speaker_names[]",
        description="Up to 4 names (1-64 characters), one per known_speaker_references[]",
    ),
]
KnownSpeakerReferences = Annotated[
    list[str],
    Form(
        alias="known_speaker_references[]",
        description="Data URLs (data:audio/wav;base64,...) of 2-10 s of each known speaker",
    ),
]
# Ours, not OpenAI's: extra form fields the SDKs send through `extra_body`.
Multichannel = Annotated[bool, Form(description=MULTICHANNEL)]
Diarize = Annotated[
    bool,
    Form(
        description="Label speakers with any model: verbose_json segments, srt and vtt cues "
        "carry the speaker, diarized_json is allowed"
    ),
]
SpeakerBound = Annotated[int, Form(ge=0, le=32, description="0: no bound")]

# Known speakers, as OpenAI takes them: names and data-URL samples, in pairs.
MAX_KNOWN_SPEAKERS = 4
MAX_SPEAKER_NAME = 64
# 10 s of 48 kHz stereo float32 WAV is 3.84 MB: anything bigger cannot be a 10 s sample.
MAX_REFERENCE_BYTES = 4 * 1024 * 1024
_DATA_URL = re.compile(
    r"data:(?P<type>[\w.+-]+/[\w.+-]+)?(?P<params>(?:;[\w.+-]+=[^;,]*)*);base64,(?P<data>.*)",
    re.DOTALL,
)
# Media types a sample of speech may come as: OpenAI takes "any of the input audio formats
# supported by file" (mp4 and webm are video/ containers too); browsers and
# mimetypes.guess_type fall back to application/octet-stream.
_AUDIO_TYPES = ("audio/", "video/mp4", "video/webm", "video/ogg", "application/octet-stream")


@dataclass(frozen=True)
class TranscriptionForm:
    """The multipart form both routes take, as the official SDKs send it
    (`timestamp_granularities[]` repeated)."""

    file: UploadFile
    model: str
    language: str
    prompt: str
    response_format: ResponseFormat
    temperature: float
    granularities: list[Granularity]
    stream: bool
    multichannel: bool
    chunking_strategy: "ChunkingStrategy"
    known_speakers: list["KnownSpeakerSample"]
    diarize: bool
    min_speakers: int
    max_speakers: int


async def transcription_form(
    request: Request,
    file: File_,
    model: Model,
    language: Language = "",
    prompt: Prompt = "",
    response_format: Format = "json",
    temperature: Temperature = 0.0,
    timestamp_granularities: Granularities = [],  # noqa: B006 - FastAPI copies defaults
    stream: Stream = False,
    chunking_strategy: ChunkingStrategyForm = None,
    known_speaker_names: KnownSpeakerNames = [],  # noqa: B006
    known_speaker_references: KnownSpeakerReferences = [],  # noqa: B006
    multichannel: Multichannel = False,
    diarize: Diarize = False,
    min_speakers: SpeakerBound = 0,
    max_speakers: SpeakerBound = 0,
) -> TranscriptionForm:
    # FastAPI has read the form already; this is its cached copy, for the nested fields
    # (chunking_strategy[type] ...) that no declared parameter can name.
    fields = await request.form()
    nested = {
        key[len("chunking_strategy[") : -1]: value
        for key, value in fields.multi_items()
        if key.startswith("chunking_strategy[") and key.endswith("]") and isinstance(value, str)
    }
    return TranscriptionForm(
        file,
        model,
        language,
        prompt,
        response_format,
        temperature,
        timestamp_granularities,
        stream,
        multichannel,
        parse_chunking_strategy(chunking_strategy, nested),
        known_speaker_samples(known_speaker_names, known_speaker_references),
        diarize,
        min_speakers,
        max_speakers,
    )


class ServerVad(BaseModel):
    """OpenAI's manual chunking: `{"type": "server_vad", ...}`."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["server_vad"]
    prefix_padding_ms: int | None = Field(None, ge=0)
    silence_duration_ms: int | None = Field(None, ge=0)
    threshold: float | None = Field(None, ge=0, le=1)


ChunkingStrategy = Literal["auto"] | ServerVad

_CHUNKING_VALUES = (
    'chunking_strategy must be "auto" or a JSON object {"type": "server_vad", '
    '"prefix_padding_ms": int, "silence_duration_ms": int, "threshold": 0-1}'
)


def parse_chunking_strategy(raw: str | None, nested: dict[str, str]) -> ChunkingStrategy:
    """`chunking_strategy` as a form carries it: the string "auto", a JSON object, or the
    object's fields one by one (`chunking_strategy[type]=server_vad`, as the SDKs encode a
    dict in multipart). Missing is "auto"."""
    if nested:
        if raw is not None:
            raise OpenAIError(
                400,
                f"{_CHUNKING_VALUES}; got both chunking_strategy and chunking_strategy[...]",
                param="chunking_strategy",
                code="invalid_value",
            )
        candidate: object = nested
    elif raw is None or raw.strip() == "auto":
        return "auto"
    elif raw.lstrip().startswith("{"):
        try:
            candidate = json.loads(raw)
        except (json.JSONDecodeError, RecursionError) as error:
            raise OpenAIError(
                400,
                f"{_CHUNKING_VALUES}; got invalid JSON ({error})",
                param="chunking_strategy",
                code="invalid_value",
            ) from None
    else:
        raise OpenAIError(
            400,
            f"{_CHUNKING_VALUES}; got {raw[:40]!r}",
            param="chunking_strategy",
            code="invalid_value",
        )
    try:
        return ServerVad.model_validate(candidate)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or 'value'}: {item['msg']}"
            for item in error.errors()
        )
        raise OpenAIError(
            400, f"{_CHUNKING_VALUES}; {problems}", param="chunking_strategy", code="invalid_value"
        ) from None


@dataclass(frozen=True)
class KnownSpeakerSample:
    name: str
    audio: bytes


def _reference_error(message: str, param: str = "known_speaker_references") -> OpenAIError:
    return OpenAIError(400, message, param=param, code="invalid_value")


def known_speaker_samples(names: list[str], references: list[str]) -> list[KnownSpeakerSample]:
    """OpenAI's known speakers checked as far as the gateway can: in pairs, at most 4, names
    of 1-64 characters and each unique, references data URLs of audio in base64 of a sane
    size. Whether each is 2-10 s of decodable speech is the ASR service's to say."""
    if len(names) != len(references):
        raise _reference_error(
            f"known_speaker_names[] and known_speaker_references[] must pair up: got "
            f"{len(names)} names and {len(references)} references",
            "known_speaker_names" if len(names) > len(references) else "known_speaker_references",
        )
    if len(names) > MAX_KNOWN_SPEAKERS:
        raise _reference_error(
            f"at most {MAX_KNOWN_SPEAKERS} known speakers are supported; got {len(names)}",
            "known_speaker_names",
        )
    samples: list[KnownSpeakerSample] = []
    for index, (name, reference) in enumerate(zip(names, references, strict=True)):
        name = name.strip()
        if not 1 <= len(name) <= MAX_SPEAKER_NAME:
            raise _reference_error(
                f"known_speaker_names[{index}] must be 1-{MAX_SPEAKER_NAME} characters; got "
                f"{len(name)}",
                "known_speaker_names",
            )
        if any(sample.name == name for sample in samples):
            raise _reference_error(
                f"known_speaker_names[{index}] {name!r} is given twice; names must be unique",
                "known_speaker_names",
            )
        samples.append(KnownSpeakerSample(name, _reference_audio(index, reference)))
    return samples


def _reference_audio(index: int, reference: str) -> bytes:
    where = f"known_speaker_references[{index}]"
    match = _DATA_URL.fullmatch(reference.strip())
    if match is None:
        raise _reference_error(
            f"{where} must be a base64 data URL of audio, e.g. data:audio/wav;base64,UklGR...; "
            f"got {reference[:30]!r}"
        )
    media_type = (match["type"] or "").lower()
    if not media_type.startswith(_AUDIO_TYPES):
        raise _reference_error(
            f"{where} must be audio (a data URL of type audio/*, e.g. audio/wav); got "
            f"{media_type or 'no type'}"
        )
    data = re.sub(r"\s+", "", match["data"])
    if len(data) * 3 // 4 > MAX_REFERENCE_BYTES:
        raise _reference_error(
            f"{where} is over {MAX_REFERENCE_BYTES // (1024 * 1024)} MiB; a known speaker's "
            f"sample is 2-10 s of audio"
        )
    try:
        audio = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise _reference_error(f"{where} is not valid base64") from None
    if not audio:
        raise _reference_error(f"{where} is empty; a known speaker's sample is 2-10 s of audio")
    return audio


class DurationUsage(BaseModel):
    """Usage of models billed by audio duration (Whisper)."""

    type: Literal["duration"] = "duration"
    seconds: float = Field(description="Duration of the input audio in seconds")


class Transcription(BaseModel):
    """`response_format=json`: the text alone (translations carry no usage)."""

    text: str
    usage: DurationUsage | None = None


class TranscriptionWord(BaseModel):
    word: str
    start: float
    end: float
    # Ours: with multichannel=true, the channel the word was heard on.
    channel: int | None = None


class TranscriptionSegment(BaseModel):
    id: int
    # Whisper's decoding-window offset in 10 ms frames; here the segment start in frames.
    seek: int
    start: float
    end: float
    text: str
    # Token ids are not exposed by the service; always empty.
    tokens: list[int] = []
    temperature: float
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float
    # Ours: with multichannel=true, the channel (0-based) the segment was heard on.
    channel: int | None = None
    # Ours: with diarization (diarize=true or gpt-4o-transcribe-diarize), who spoke it.
    speaker: str | None = None


class TranscriptionVerbose(BaseModel):
    """`response_format=verbose_json`."""

    task: Literal["transcribe", "translate"]
    language: str = Field(description='Full lowercase English name, e.g. "english"')
    duration: float
    text: str
    segments: list[TranscriptionSegment] | None = None
    words: list[TranscriptionWord] | None = None
    usage: DurationUsage | None = None


class TranscriptionDiarizedSegment(BaseModel):
    """A segment of `diarized_json`, and the `transcript.text.segment` event of its stream."""

    type: Literal["transcript.text.segment"] = "transcript.text.segment"
    id: str = Field(description='"seg_0", "seg_1" ... in time order')
    start: float
    end: float
    text: str
    speaker: str = Field(
        description='"A", "B" ... in order of first appearance, or a known speaker\'s name'
    )


class TranscriptionDiarized(BaseModel):
    """`response_format=diarized_json`."""

    task: Literal["transcribe"] = "transcribe"
    duration: float
    text: str
    segments: list[TranscriptionDiarizedSegment]
    usage: DurationUsage | None = None


class TranscriptTextDelta(BaseModel):
    """`stream=true`: one per decoded segment, in order."""

    type: Literal["transcript.text.delta"] = "transcript.text.delta"
    delta: str
    # gpt-4o-transcribe-diarize only: the segment ("seg_0" ...) the delta belongs to.
    segment_id: str | None = None


class TranscriptTextDone(BaseModel):
    """`stream=true`: the last event, with the whole text."""

    type: Literal["transcript.text.done"] = "transcript.text.done"
    text: str
