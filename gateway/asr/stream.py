"""One live ASR session: a WebSocket client bridged to AsrService/StreamingRecognize.

Client -> gateway: a text `{"event": "start", "config": {...}}`, binary PCM frames, a text
`{"event": "stop"}`. Gateway -> client: `ready`, `speech_started` / `speech_ended`,
`batch_processed` (every interim or final result; finals carry `speaker` with
`enable_diarization`), `insight`, `final_summary`, `error` (with
`utterance_index` when one utterance failed and the stream goes on; without, it ends the stream).
`final_summary` and `error` name the ASR instance that served (`instance`, from the
service's `x-paneas-instance`) once the service has answered.

An instance that goes away mid-stream (killed, crashed, cut at the end of its drain) ends
the session with an `error` event and close 1012 (service restart): the client reconnects
at once, and Envoy sends the new stream to a surviving instance. A service with no free
slot or no instance at all is 1013 (try again later) instead.

Three tasks run per session: the pump reads the WebSocket into a buffer bounded in bytes,
the writer sends the buffer to the service, the forwarder turns the service's responses into
events. A full buffer (`GATEWAY_ASR_STREAM_BUFFER_BYTES`) stops the pump, so a client that
sends faster than the service takes audio is slowed down by TCP instead of filling the
gateway's memory. A client that sends nothing for `GATEWAY_ASR_STREAM_IDLE_SECONDS` (before
its stop event) is closed 1008 with a `DEADLINE_EXCEEDED` error event, so it cannot hold a
stream slot for hours. A client that goes away cancels the gRPC call at once, which frees the
service's stream slot.

When the gateway shuts down (`paneas.gateway.shutdown`), each session is told to go away: its
audio ends there, as if the client had sent stop, so the service finalises the utterance
being spoken; the session forwards the last results and the summary and closes with 1001
(going away). If they do not come within `GATEWAY_ASR_STREAM_DRAIN_SECONDS`, an `UNAVAILABLE`
error event goes out instead, then the same close. What the client sends meanwhile is dropped.
"""

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import grpc
import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.websockets import (
    WebSocket,
    WebSocketDisconnect,
    WebSocketDisconnected,
    WebSocketState,
)

from paneas.asr.v1 import asr_pb2, asr_pb2_grpc
from paneas.gateway.analytics.models import UsageEvent
from paneas.gateway.asr.buffer import END, AudioBuffer
from paneas.gateway.asr.tasks import TASKS
from paneas.gateway.auth import token_digest
from paneas.gateway.errors import describe_problems, grpc_error_message, retry_after_seconds
from paneas.services.runtime import wire
from paneas.services.runtime.instance import INSTANCE_KEY

log = structlog.get_logger("paneas.gateway.asr_stream")

# WebSocket close codes (RFC 6455 section 7.4.1, and 1013 from the IANA registry).
NORMAL = 1000
GOING_AWAY = 1001
UNSUPPORTED_DATA = 1003
INVALID_PAYLOAD = 1007
POLICY_VIOLATION = 1008
INTERNAL_ERROR = 1011
SERVICE_RESTART = 1012
TRY_AGAIN_LATER = 1013

# Audio kept, until the service first answers, to replay if its instance vanishes before:
# 32 s of 16 kHz PCM16. A longer silence before any answer gives up the replay.
REPLAY_LIMIT_BYTES = 1 << 20

# How a service error closes the socket; anything else is 1011.
_CLOSE_CODE_BY_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: INVALID_PAYLOAD,
    grpc.StatusCode.OUT_OF_RANGE: INVALID_PAYLOAD,
    grpc.StatusCode.FAILED_PRECONDITION: INVALID_PAYLOAD,
    grpc.StatusCode.NOT_FOUND: INVALID_PAYLOAD,
    grpc.StatusCode.UNAUTHENTICATED: POLICY_VIOLATION,
    grpc.StatusCode.PERMISSION_DENIED: POLICY_VIOLATION,
    grpc.StatusCode.RESOURCE_EXHAUSTED: TRY_AGAIN_LATER,
    grpc.StatusCode.UNAVAILABLE: TRY_AGAIN_LATER,
}
_BYTES_PER_SAMPLE = {"pcm_s16le": 2, "pcm_f32le": 4}
_ENCODINGS = {
    "pcm_s16le": asr_pb2.AUDIO_ENCODING_PCM_S16LE,
    "pcm_f32le": asr_pb2.AUDIO_ENCODING_PCM_F32LE,
}
_SPEECH_EVENTS = {
    asr_pb2.SPEECH_EVENT_TYPE_SPEECH_STARTED: "speech_started",
    asr_pb2.SPEECH_EVENT_TYPE_SPEECH_ENDED: "speech_ended",
}
_STOP = END  # buffer sentinel: the client said stop
# What sending to or reading from a WebSocket whose client has gone raises.
CLIENT_GONE = (WebSocketDisconnect, WebSocketDisconnected, OSError)


class StartConfig(BaseModel):
    """The `config` of the start event. Unknown fields are refused (typos would otherwise
    silently change nothing)."""

    model_config = ConfigDict(extra="forbid")

    language: str = ""
    sample_rate: int = Field(16000, ge=8000, le=48000)
    encoding: Literal["pcm_s16le", "pcm_f32le"] = "pcm_s16le"
    channels: int = Field(1, ge=1, le=8)
    interim_results: bool = True
    word_timestamps: bool = False
    enable_insights: bool = False
    # Speaker labels on final results ("A", "B", ...), stable for the whole stream.
    enable_diarization: bool = False
    min_speakers: int = Field(0, ge=0, le=32)
    max_speakers: int = Field(0, ge=0, le=32)
    silence_ms: int = Field(0, ge=0, le=60_000)
    max_utterance_ms: int = Field(0, ge=0, le=3_600_000)
    session_id: str | None = Field(None, pattern=r"^[A-Za-z0-9._:-]{1,128}$")
    model: str = ""
    task: Literal["transcribe", "translate"] = "transcribe"
    initial_prompt: str = ""
    hotwords: list[str] = []
    temperature: float = Field(0.0, ge=0, le=1)
    beam_size: int = Field(0, ge=0, le=64)

    def streaming_config(self, session_id: str) -> asr_pb2.StreamingRecognitionConfig:
        return asr_pb2.StreamingRecognitionConfig(
            config=asr_pb2.RecognitionConfig(
                model=self.model,
                language=self.language,
                task=TASKS[self.task],
                initial_prompt=self.initial_prompt,
                hotwords=self.hotwords,
                word_timestamps=self.word_timestamps,
                temperature=self.temperature,
                beam_size=self.beam_size,
                diarization=asr_pb2.DiarizationConfig(
                    enable=self.enable_diarization,
                    min_speakers=self.min_speakers,
                    max_speakers=self.max_speakers,
                ),
            ),
            encoding=_ENCODINGS[self.encoding],
            sample_rate_hertz=self.sample_rate,
            audio_channel_count=self.channels,
            interim_results=self.interim_results,
            endpointing=asr_pb2.Endpointing(
                silence_duration_ms=self.silence_ms, max_utterance_ms=self.max_utterance_ms
            ),
            enable_insights=self.enable_insights,
            session_id=session_id,
        )

    def seconds_of(self, audio_bytes: int) -> float:
        return audio_bytes / (self.sample_rate * self.channels * _BYTES_PER_SAMPLE[self.encoding])


class ClientError(Exception):
    """The client broke the protocol; the session ends with an error event and `close_code`."""

    def __init__(
        self, message: str, close_code: int = INVALID_PAYLOAD, code: str = "INVALID_ARGUMENT"
    ) -> None:
        super().__init__(message)
        self.message = message
        self.close_code = close_code
        # The gRPC status name the error event carries.
        self.code = code


def _parse_event(text: str) -> dict:
    try:
        event = json.loads(text)
    except ValueError as error:
        raise ClientError(f"text frames must be JSON: {error}") from None
    if not isinstance(event, dict) or not isinstance(event.get("event"), str):
        raise ClientError('text frames must be JSON objects with an "event" field')
    return event


def _words(words: Sequence[asr_pb2.Word]) -> list[dict]:
    return [
        {
            "word": word.word.strip(),
            "start": round(word.start_seconds, 3),
            "end": round(word.end_seconds, 3),
            "confidence": round(word.confidence, 4),
        }
        for word in words
    ]


def result_event(result: asr_pb2.StreamingRecognitionResult) -> dict:
    event = {
        "event": "batch_processed",
        "is_final": result.is_final,
        "text": result.transcript.strip(),
        "words": _words(result.words),
        "start": round(result.start_seconds, 3),
        "end": round(result.end_seconds, 3),
        "duration": round(max(0.0, result.end_seconds - result.start_seconds), 3),
        "stability": round(result.stability, 4),
        "utterance_index": result.utterance_index,
        "language": result.language,
    }
    if result.speaker:
        # Finals of a stream with enable_diarization; a label once sent is never revised.
        event["speaker"] = result.speaker
    return event


def summary_event(summary: asr_pb2.StreamSummary, insights: bool = False) -> dict:
    event = {
        "event": "final_summary",
        "transcript": summary.transcript.strip(),
        "audio_seconds": round(summary.audio_seconds, 3),
        "utterances": summary.utterance_count,
        "words": summary.word_count,
    }
    if insights:
        # Present whenever insights were asked for, so clients can tell "the LLM had no
        # summary in time" ("") from "not asked" (absent).
        event["summary"] = summary.summary
    return event


def events_of(response: asr_pb2.StreamingRecognizeResponse, insights: bool = False) -> list[dict]:
    """The client events one service response carries, in the order they happened."""
    events = []
    if response.HasField("speech_event") and response.speech_event.type in _SPEECH_EVENTS:
        events.append(
            {
                "event": _SPEECH_EVENTS[response.speech_event.type],
                "offset": round(response.speech_event.offset_seconds, 3),
            }
        )
    for result in response.results:
        if result.error:
            # One utterance failed in the service; the stream goes on (no close follows).
            events.append(
                {
                    "event": "error",
                    "code": "INTERNAL",
                    "message": result.error,
                    "utterance_index": result.utterance_index,
                    "start": round(result.start_seconds, 3),
                    "end": round(result.end_seconds, 3),
                }
            )
        else:
            events.append(result_event(result))
    if response.HasField("insight"):
        insight = response.insight
        # The service runs insights beside the transcript (services/asr/insights.py); they
        # are forwarded as they come, in their own events.
        events.append(
            {
                "event": "insight",
                "type": insight.type,
                "text": insight.text,
                "generated_at": insight.generated_at,
                "model": insight.model,
            }
        )
    if response.HasField("summary"):
        events.append(summary_event(response.summary, insights))
    return events


@dataclass
class Outcome:
    """How a session ended, for logs, metrics and analytics."""

    kind: Literal["completed", "client_disconnected", "client_error", "backend_error"] = "completed"
    close_code: int | None = NORMAL
    status: grpc.StatusCode | None = None
    session_id: str = ""
    # The ASR instance that served (its x-paneas-instance), once it answered.
    instance: str = ""
    audio_bytes: int = 0
    audio_seconds: float = 0.0
    bytes_sent: int = 0
    final_texts: list[str] = field(default_factory=list)


class WebSocketBridge:
    def __init__(
        self,
        websocket: WebSocket,
        stub: asr_pb2_grpc.AsrServiceStub,
        metadata: Sequence[tuple[str, str]],
        buffer_bytes: int,
        idle_seconds: float,
        drain_seconds: float,
    ) -> None:
        self.websocket = websocket
        self.stub = stub
        self.metadata = tuple(metadata)
        self.queue = AudioBuffer(buffer_bytes)
        self.idle_seconds = idle_seconds
        # How long, once going away, the service's last results are waited for.
        self.drain_seconds = drain_seconds
        self.outcome = Outcome()
        self.config: StartConfig | None = None
        self._summary_sent = False
        # The client's stop, or the gateway going away, has ended the audio.
        self._audio_ended = False
        self._going_away = asyncio.Event()
        # Audio written to the call before the service first answered, to replay on another
        # instance if this one vanishes first (None: answered, or over REPLAY_LIMIT_BYTES).
        self._unanswered: list[bytes] | None = []
        self._unanswered_bytes = 0
        self._writing_done = False
        self._reopened = False

    async def _open(
        self, config: asr_pb2.StreamingRecognizeRequest, replay: bool = False
    ) -> grpc.aio.StreamStreamCall:
        """A StreamingRecognize call with the config written (first and alone) and, on a
        reopen, the audio the vanished instance had taken."""
        session_id = config.streaming_config.session_id
        call = self.stub.StreamingRecognize(
            metadata=(*self.metadata, (wire.SESSION_ID, session_id))
        )
        # If the call is already over, the forwarder says why.
        with contextlib.suppress(grpc.aio.AioRpcError, asyncio.InvalidStateError):
            await call.write(config)
            if replay:
                for chunk in self._unanswered or ():
                    await call.write(asr_pb2.StreamingRecognizeRequest(audio=chunk))
                if self._writing_done:
                    await call.done_writing()
        return call

    def _may_reopen(self, forwarder: asyncio.Task) -> bool:
        if forwarder.cancelled() or self._reopened or self._unanswered is None:
            return False
        error = forwarder.exception()
        return isinstance(error, grpc.aio.AioRpcError) and _instance_lost(error, "")

    def go_away(self) -> None:
        """The gateway is shutting down: end the audio now, send the last results (waiting at
        most `drain_seconds` for them) and close with 1001."""
        self._going_away.set()

    async def run(self) -> Outcome:
        """Runs the session to its end; never raises for client or service errors."""
        going_away = asyncio.create_task(self._going_away.wait(), name="asr-ws-going-away")
        try:
            return await self._run(going_away)
        finally:
            going_away.cancel()

    async def _run(self, going_away: asyncio.Task) -> Outcome:
        receiving = asyncio.create_task(self._receive_start(), name="asr-ws-start")
        try:
            await asyncio.wait({receiving, going_away}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not receiving.done():
                receiving.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await receiving
        if receiving.cancelled():
            # Going away before the client started: nothing to finish.
            await self._close(GOING_AWAY, "the gateway is shutting down")
            return self.outcome
        try:
            start = receiving.result()
        except ClientError as error:
            await self._fail_client(error)
            return self.outcome
        except CLIENT_GONE:
            start = None
        if start is None:
            self.outcome.kind, self.outcome.close_code = "client_disconnected", None
            return self.outcome
        self.config = start
        session_id = start.session_id or uuid.uuid4().hex
        self.outcome.session_id = session_id
        config = asr_pb2.StreamingRecognizeRequest(
            streaming_config=start.streaming_config(session_id)
        )
        call = await self._open(config)
        tasks: list[asyncio.Task] = []
        try:
            forwarder = asyncio.create_task(self._forward(call), name="asr-ws-forward")
            tasks.append(forwarder)
            with contextlib.suppress(*CLIENT_GONE):
                await self._send({"event": "ready", "session_id": session_id})
            pump = asyncio.create_task(self._pump(), name="asr-ws-pump")
            writer = asyncio.create_task(self._write(call), name="asr-ws-write")
            tasks.extend((pump, writer))
            loop = asyncio.get_running_loop()
            # Once going away: when the service's last results must have come.
            drain_deadline: float | None = None
            while True:
                waiting = {pump, forwarder} | ({going_away} if drain_deadline is None else set())
                timeout = None if drain_deadline is None else max(0.0, drain_deadline - loop.time())
                await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                if not (pump.done() or forwarder.done()):
                    if drain_deadline is not None:
                        break  # going away, and the last results did not come in time
                    # Going away: the audio ends here, as if the client had sent stop, and
                    # the service finalises the utterance being spoken.
                    drain_deadline = loop.time() + self.drain_seconds
                    await self._end_audio()
                    continue
                if not (forwarder.done() and self._may_reopen(forwarder)):
                    break
                # The instance vanished before it answered (Envoy had not ejected it yet):
                # once, the same stream again, its audio so far replayed; Envoy picks a live
                # instance this time.
                writer.cancel()
                with contextlib.suppress(BaseException):
                    await writer
                call.cancel()
                log.info(
                    "asr stream reopened: its instance went away before answering",
                    session_id=session_id,
                    reason=forwarder.exception().details(),
                )
                self._reopened = True
                call = await self._open(config, replay=True)
                forwarder = asyncio.create_task(self._forward(call), name="asr-ws-forward")
                writer = asyncio.create_task(self._write(call), name="asr-ws-write")
                tasks.extend((forwarder, writer))
            await self._conclude(call, pump, forwarder)
        finally:
            call.cancel()  # a no-op once the call has finished
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task
            self.queue.clear()
            if not self.outcome.audio_seconds:
                self.outcome.audio_seconds = start.seconds_of(self.outcome.audio_bytes)
        return self.outcome

    async def _conclude(
        self, call: grpc.aio.StreamStreamCall, pump: asyncio.Task, forwarder: asyncio.Task
    ) -> None:
        if not (pump.done() or forwarder.done()):
            # Going away, and the service's last results did not come within the drain.
            call.cancel()
            forwarder.cancel()
            with contextlib.suppress(BaseException):
                await forwarder
            self.outcome.kind, self.outcome.status = "backend_error", grpc.StatusCode.UNAVAILABLE
            await self._error(
                "UNAVAILABLE",
                "the gateway is shutting down and the last results of this stream did not "
                f"come within {self.drain_seconds:g} s (GATEWAY_ASR_STREAM_DRAIN_SECONDS); "
                "reconnect to go on",
                GOING_AWAY,
            )
            return
        if forwarder.done():
            error = forwarder.exception() if not forwarder.cancelled() else None
            if forwarder.cancelled():
                # Only the writer cancels the call, after an unexpected failure of its own.
                await self.fail_internal()
            elif error is None:
                with contextlib.suppress(*CLIENT_GONE):
                    if not self._summary_sent:
                        await self._send(self._gateway_summary())
                if self._going_away.is_set():
                    await self._close(GOING_AWAY, "the gateway is shutting down")
                else:
                    await self._close(NORMAL, "")
            elif isinstance(error, grpc.aio.AioRpcError):
                await self._fail_backend(error)
            elif isinstance(error, CLIENT_GONE):
                self._client_left()
            else:
                raise error
            return
        # The pump ended first: the client left or broke the protocol. Either way the
        # service's slot is freed now, and nothing else is sent while the error is.
        call.cancel()
        forwarder.cancel()
        with contextlib.suppress(BaseException):
            await forwarder
        error = pump.exception()
        if isinstance(error, ClientError):
            await self._fail_client(error)
        elif error is None or isinstance(error, CLIENT_GONE):
            self._client_left()
        else:
            raise error

    async def fail_internal(self) -> None:
        """After an unexpected error of the gateway's own: tell the client and close 1011."""
        self.outcome.kind, self.outcome.status = "backend_error", grpc.StatusCode.INTERNAL
        await self._error("INTERNAL", "internal error in the gateway", INTERNAL_ERROR)

    def _client_left(self) -> None:
        self.outcome.kind, self.outcome.close_code = "client_disconnected", None

    async def _receive(self, idle_limit: bool = True) -> dict:
        """The client's next message; ClientError when it sends nothing for the idle limit."""
        try:
            async with asyncio.timeout(self.idle_seconds if idle_limit else None):
                return await self.websocket.receive()
        except TimeoutError:
            raise ClientError(
                f"nothing received for {self.idle_seconds:g} s "
                "(GATEWAY_ASR_STREAM_IDLE_SECONDS); send audio as it is captured, "
                'silence included, and {"event": "stop"} at the end',
                POLICY_VIOLATION,
                "DEADLINE_EXCEEDED",
            ) from None

    async def _receive_start(self) -> StartConfig | None:
        """The start event's config; None if the client left first."""
        message = await self._receive()
        if message["type"] == "websocket.disconnect":
            return None
        if message.get("text") is None:
            raise ClientError(
                'send {"event": "start", "config": {...}} before any audio', UNSUPPORTED_DATA
            )
        event = _parse_event(message["text"])
        if event["event"] != "start":
            raise ClientError(f'the first event must be "start", not "{event["event"]}"')
        config = event.get("config", {})
        if not isinstance(config, dict):
            raise ClientError('"config" must be a JSON object')
        try:
            return StartConfig.model_validate(config)
        except ValidationError as error:
            raise ClientError(describe_problems(error.errors(), within="config")) from None

    async def _pump(self) -> None:
        """WebSocket -> queue, until the client leaves (returns) or errs (raises)."""
        while True:
            # After stop the client only waits for the last results and the summary.
            message = await self._receive(idle_limit=not self._audio_ended)
            if message["type"] == "websocket.disconnect":
                return
            if self._going_away.is_set():
                continue  # the gateway ended the audio: what the client sends now is dropped
            data = message.get("bytes")
            if data is not None:
                if self._audio_ended:
                    raise ClientError("audio after the stop event", UNSUPPORTED_DATA)
                if data:
                    self.outcome.audio_bytes += len(data)
                    await self.queue.put(data)
                continue
            event = _parse_event(message.get("text") or "")
            if event["event"] == "stop":
                await self._end_audio()
            elif event["event"] == "start":
                raise ClientError("the stream has already started; send audio or stop")
            else:
                raise ClientError(f'unknown event "{event["event"]}"; send audio or "stop"')

    async def _end_audio(self) -> None:
        """The end of the client's audio (its stop event, or the gateway going away), once."""
        if not self._audio_ended:
            self._audio_ended = True
            await self.queue.put(_STOP)

    async def _write(self, call: grpc.aio.StreamStreamCall) -> None:
        """Queue -> service; half-closes after stop. A call that ended stops it quietly
        (the forwarder reports why)."""
        if self._writing_done:  # a reopened call: its half-close was replayed
            return
        try:
            while (chunk := await self.queue.get()) is not _STOP:
                if self._unanswered is not None:
                    self._unanswered.append(chunk)
                    self._unanswered_bytes += len(chunk)
                    if self._unanswered_bytes > REPLAY_LIMIT_BYTES:
                        self._unanswered = None
                await call.write(asr_pb2.StreamingRecognizeRequest(audio=chunk))
            self._writing_done = True
            await call.done_writing()
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
            return
        except Exception:
            log.exception("asr stream writer failed", session_id=self.outcome.session_id)
            call.cancel()

    async def _forward(self, call: grpc.aio.StreamStreamCall) -> None:
        """Service -> client events, until the service ends the stream."""
        insights = self.config is not None and self.config.enable_insights
        while (response := await call.read()) is not grpc.aio.EOF:
            self._unanswered = None  # answered: this stream is the instance's now
            if not self.outcome.instance:
                self.outcome.instance = _instance_of(await call.initial_metadata())
            for event in events_of(response, insights):
                if event["event"] == "batch_processed" and event["is_final"]:
                    self.outcome.final_texts.append(event["text"])
                if event["event"] == "final_summary":
                    self._summary_sent = True
                    self.outcome.audio_seconds = event["audio_seconds"]
                    event["instance"] = self.outcome.instance
                await self._send(event)

    def _gateway_summary(self) -> dict:
        """The closing totals, had the service sent none."""
        transcript = " ".join(text for text in self.outcome.final_texts if text)
        assert self.config is not None
        event = {
            "event": "final_summary",
            "transcript": transcript,
            "audio_seconds": round(self.config.seconds_of(self.outcome.audio_bytes), 3),
            "utterances": len(self.outcome.final_texts),
            "words": len(transcript.split()),
        }
        if self.config.enable_insights:
            event["summary"] = ""
        event["instance"] = self.outcome.instance
        return event

    async def _send(self, event: dict) -> None:
        text = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
        self.outcome.bytes_sent += len(text)
        await self.websocket.send_text(text)

    async def _close(self, code: int, reason: str) -> None:
        self.outcome.close_code = code
        if self.websocket.application_state is WebSocketState.CONNECTED:
            with contextlib.suppress(*CLIENT_GONE, RuntimeError):
                # The reason is limited to 123 bytes by the protocol.
                await self.websocket.close(code, reason[:120])

    async def _error(self, code: str, message: str, close_code: int, **extra: object) -> None:
        with contextlib.suppress(*CLIENT_GONE, RuntimeError):
            await self._send({"event": "error", "code": code, "message": message, **extra})
        await self._close(close_code, code)

    async def _fail_client(self, error: ClientError) -> None:
        self.outcome.kind = "client_error"
        self.outcome.status = grpc.StatusCode[error.code]
        await self._error(error.code, error.message, error.close_code)

    async def _fail_backend(self, error: grpc.aio.AioRpcError) -> None:
        code = error.code()
        instance = self.outcome.instance or _instance_of(error.initial_metadata())
        self.outcome.instance = instance
        extra: dict[str, object] = {"instance": instance} if instance else {}
        if _instance_lost(error, instance):
            self.outcome.kind, self.outcome.status = "backend_error", grpc.StatusCode.UNAVAILABLE
            which = f"ASR instance {instance}" if instance else "ASR instance"
            await self._error(
                "UNAVAILABLE",
                f"the {which} serving this stream went away ({error.details() or code.name}); "
                "reconnect: a new stream goes to a surviving instance",
                SERVICE_RESTART,
                **extra,
            )
            return
        self.outcome.kind, self.outcome.status = "backend_error", code
        if (retry_after := retry_after_seconds(error)) is not None:
            extra["retry_after"] = retry_after
        await self._error(
            code.name,
            grpc_error_message(error, "asr"),
            _CLOSE_CODE_BY_STATUS.get(code, INTERNAL_ERROR),
            **extra,
        )


def _instance_of(metadata: Sequence[tuple[str, str]] | None) -> str:
    return next((value for key, value in metadata or () if key == INSTANCE_KEY), "")


def _instance_lost(error: grpc.aio.AioRpcError, instance: str) -> bool:
    """Whether the call was cut because the instance serving it went away, as opposed to
    refused (no free slot, nothing to connect to) or failed by the service itself.

    Through Envoy: once the instance had answered, its death resets the stream (INTERNAL,
    "Received RST_STREAM", or gRPC core's bare "Internal error from Core" when the reset
    races the stream's start); before that, Envoy answers UNAVAILABLE "upstream ... reset
    before headers ... connection termination". Without Envoy, the channel says UNAVAILABLE.
    The service's own INTERNAL errors always carry a message of their own.
    """
    code, details = error.code(), error.details() or ""
    if code is grpc.StatusCode.INTERNAL:
        return "RST_STREAM" in details or details == "Internal error from Core"
    if code is grpc.StatusCode.UNAVAILABLE:
        return bool(instance) or "connection termination" in details
    return False


def record_stream_usage(
    websocket: WebSocket,
    *,
    route: str,
    rpc: str | None,
    status: int,
    outcome: Outcome,
    token: str | None,
    started: float,
    occurred_at: datetime,
    request_id: str | None,
) -> None:
    """One analytics row per live stream (native or Realtime), as the middleware writes one
    per HTTP request; `status` is the HTTP status that says the same as the outcome."""
    analytics = getattr(websocket.app.state, "analytics", None)
    if analytics is None:
        return
    analytics.recorder.record(
        UsageEvent(
            occurred_at=occurred_at,
            route=route,
            method="WEBSOCKET",
            rpc=rpc,
            model=None,
            status=status,
            latency_ms=(time.perf_counter() - started) * 1000,
            request_bytes=outcome.audio_bytes,
            response_bytes=outcome.bytes_sent,
            audio_seconds=outcome.audio_seconds,
            prompt_tokens=0,
            completion_tokens=0,
            pages=0,
            characters=sum(len(text) for text in outcome.final_texts),
            token_hash=token_digest(token) if token else None,
            request_id=request_id,
        )
    )
