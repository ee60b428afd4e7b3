"""Multipart conveniences for ASR (the JSON routes `/api/v1/asr:recognize` ... are transcoded
from the contract):

- POST /api/v1/asr: upload -> paneas.asr.v1.AsrService/Recognize
- POST /api/v1/align: upload + transcript -> paneas.asr.v1.AsrService/Align
- POST /api/v1/asr/stream/tickets: a short-lived, single-use ticket for the live-stream
  WebSocket, for browsers that cannot send an Authorization header there
"""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from pydantic import BaseModel

from paneas.asr.v1 import asr_pb2
from paneas.gateway import calls
from paneas.gateway.asr.tasks import MULTICHANNEL, TASKS
from paneas.gateway.auth import require_token
from paneas.gateway.metadata import grpc_metadata
from paneas.gateway.protojson import to_json

router = APIRouter(tags=["asr"], dependencies=[Depends(require_token)])

Audio = Annotated[
    UploadFile, File(description="Audio in any common container (wav, mp3, ogg, webm, m4a ...)")
]
Language = Annotated[str, Form(description="ISO 639-1 or BCP-47; detected when empty")]
Model = Annotated[str, Form(description="Model name or path; the service default when empty")]


Diarize = Annotated[
    bool,
    Form(
        description="Label speakers: segments and words carry `speaker`, the answer a "
        "`diarization` summary (the speakers, their speech seconds and voice embeddings)"
    ),
]
SpeakerBound = Annotated[int, Form(ge=0, le=32, description="With diarize; 0: no bound")]
KnownSpeakerNames = Annotated[
    list[str],
    Form(description="With diarize: up to 4 names, one per known_speaker_audio, in order"),
]
KnownSpeakerAudio = Annotated[
    list[UploadFile],
    File(description="With diarize: 2-10 s of each known speaker alone, any audio format"),
]


async def _diarization(
    diarize: bool,
    min_speakers: int,
    max_speakers: int,
    names: list[str],
    samples: list[UploadFile],
) -> asr_pb2.DiarizationConfig | None:
    """The form's speaker options as a DiarizationConfig; the service checks the rest (at
    most 4 known speakers, names of 1-64 characters, 2-10 s of audio each, the bounds)."""
    if not diarize:
        asked = [
            name
            for name, given in (
                ("known_speaker_names", names),
                ("known_speaker_audio", samples),
                ("min_speakers", min_speakers),
                ("max_speakers", max_speakers),
            )
            if given
        ]
        if asked:
            raise HTTPException(400, f"{', '.join(asked)} need diarize=true")
        return None
    if len(names) != len(samples):
        raise HTTPException(
            400,
            f"known_speaker_names and known_speaker_audio must pair up: got {len(names)} "
            f"names and {len(samples)} files",
        )
    return asr_pb2.DiarizationConfig(
        enable=True,
        min_speakers=min_speakers,
        max_speakers=max_speakers,
        known_speakers=[
            asr_pb2.KnownSpeaker(name=name.strip(), audio=await sample.read())
            for name, sample in zip(names, samples, strict=True)
        ],
    )


def _deadline(request: Request) -> float:
    return calls.deadline(request, request.app.state.settings.asr_timeout_seconds)


@router.post("/api/v1/asr", summary="Transcribe (or translate to English) an audio file")
async def recognize(
    request: Request,
    file: Audio,
    language: Language = "",
    task: Annotated[Literal["transcribe", "translate"], Form()] = "transcribe",
    initial_prompt: Annotated[str, Form(description="Text that conditions the decoder")] = "",
    hotwords: Annotated[str, Form(description="Comma-separated words to favour")] = "",
    vad_filter: Annotated[bool, Form(description="Skip non-speech")] = False,
    word_timestamps: Annotated[bool, Form()] = False,
    temperature: Annotated[float, Form(ge=0, le=1)] = 0.0,
    beam_size: Annotated[int, Form(ge=0, le=64, description="Service default if 0")] = 0,
    multichannel: Annotated[bool, Form(description=MULTICHANNEL)] = False,
    diarize: Diarize = False,
    min_speakers: SpeakerBound = 0,
    max_speakers: SpeakerBound = 0,
    known_speaker_names: KnownSpeakerNames = [],  # noqa: B006 - FastAPI copies defaults
    known_speaker_audio: KnownSpeakerAudio = [],  # noqa: B006
    model: Model = "",
) -> dict:
    diarization = await _diarization(
        diarize, min_speakers, max_speakers, known_speaker_names, known_speaker_audio
    )
    grpc_request = asr_pb2.RecognizeRequest(
        config=asr_pb2.RecognitionConfig(
            model=model,
            language=language,
            task=TASKS[task],
            initial_prompt=initial_prompt,
            hotwords=[word.strip() for word in hotwords.split(",") if word.strip()],
            vad_filter=vad_filter,
            word_timestamps=word_timestamps,
            temperature=temperature,
            beam_size=beam_size,
            multichannel=multichannel,
            diarization=diarization,
        ),
        audio=await file.read(),
    )
    call = request.app.state.backends.asr.Recognize(
        grpc_request, metadata=grpc_metadata(request), timeout=_deadline(request)
    )
    return to_json(await calls.unary(request, call, "/paneas.asr.v1.AsrService/Recognize"))


@router.post("/api/v1/align", summary="Place the words of a known transcript on the audio")
async def align(
    request: Request,
    file: Audio,
    transcript: Annotated[str, Form(description="The known transcript")],
    language: Language = "",
    model: Model = "",
) -> dict:
    grpc_request = asr_pb2.AlignRequest(
        audio=await file.read(), transcript=transcript, language=language, model=model
    )
    call = request.app.state.backends.asr.Align(
        grpc_request, metadata=grpc_metadata(request), timeout=_deadline(request)
    )
    return to_json(await calls.unary(request, call, "/paneas.asr.v1.AsrService/Align"))


class Ticket(BaseModel):
    ticket: str
    expires_in: int


@router.post(
    "/api/v1/asr/stream/tickets",
    summary="A single-use ticket for WS /api/v1/asr/stream?ticket=...",
    response_model=Ticket,
)
async def stream_ticket(request: Request, token: Annotated[str, Depends(require_token)]) -> Ticket:
    ticket, expires_in = request.app.state.tickets.issue(token)
    return Ticket(ticket=ticket, expires_in=expires_in)
