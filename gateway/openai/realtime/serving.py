"""One OpenAI Realtime transcription session, served by AsrService/StreamingRecognize (the
live engine, its scheduler, slots and metrics, through Envoy with `x-session-id`).

How OpenAI's model maps onto the live engine:

- Server VAD (the default): one StreamingRecognize call carries the whole session; the
  service's VAD utterances are the items. Its speech_started / speech_ended become
  `input_audio_buffer.speech_started` / `speech_stopped` + `committed` +
  `conversation.item.added`; its final result for the utterance becomes the transcription
  `delta`, `completed` and `conversation.item.done`. `silence_duration_ms` is the service's
  endpointing silence; `threshold` and `prefix_padding_ms` are echoed, the service's own VAD
  threshold and pre-roll apply.
- Manual commits (`turn_detection: null`): each buffer is one call, opened by its first append
  and half-closed by `input_audio_buffer.commit`; every final of that call joins into the
  item's transcript. `input_audio_buffer.clear` cancels the call (its slot is freed at once).
  With server VAD, a commit ends the current turn early the same way (the call is half-closed,
  the next append opens another).

Deltas: the engine's interim results may revise earlier words, and OpenAI's deltas are
append-only. So each item gets exactly one delta, the final transcript, sent just before its
`completed`: concatenating the deltas always gives the completed transcript.
With `include: ["item.input_audio_transcription.logprobs"]` the call asks for word timings
and the delta and completed events carry `logprobs`, one entry per word: the engine's word
probability (faster-whisper's: the mean of its tokens' probabilities) as a natural log.
Whisper's tokens are not OpenAI's, so words are the unit a client can use.
Completed events are sent in commit order (an item's events wait for the items before it),
so they follow the `previous_item_id` chain.

Errors in what the client sends are `error` events and the session goes on, as OpenAI's does;
a failed utterance is `conversation.item.input_audio_transcription.failed`; the service
refusing or losing the stream, or an idle client, ends the session with an `error` and the
same close codes as the native stream (`paneas.gateway.asr.stream`).

When the gateway shuts down (`paneas.gateway.shutdown`) the session goes away as the native
stream does: its audio ends there (the turn being spoken, or the manual buffer of at least
100 ms, is committed as if the client had committed it, and every call is half-closed), the
transcripts still to come are sent (waiting at most `GATEWAY_ASR_STREAM_DRAIN_SECONDS`, else
an `error` event), and the socket closes with 1001. What the client sends meanwhile is dropped.
"""

import asyncio
import base64
import binascii
import contextlib
import json
import math
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import grpc
import structlog
from pydantic import ValidationError
from starlette.websockets import WebSocket, WebSocketState

from paneas.asr.v1 import asr_pb2, asr_pb2_grpc
from paneas.gateway.asr.buffer import END, AudioBuffer
from paneas.gateway.asr.stream import (
    _CLOSE_CODE_BY_STATUS,
    CLIENT_GONE,
    GOING_AWAY,
    INTERNAL_ERROR,
    NORMAL,
    POLICY_VIOLATION,
    Outcome,
    _instance_of,
)
from paneas.gateway.errors import grpc_error_message
from paneas.gateway.openai.realtime import protocol
from paneas.gateway.openai.realtime.audio import FORMATS, TARGET_RATE, InputConverter, seconds_of
from paneas.gateway.openai.realtime.protocol import (
    PCM,
    PCM_RATE,
    AppendEvent,
    SessionUpdateEvent,
    error_event,
    new_id,
    server_event,
    user_item,
)

log = structlog.get_logger("paneas.gateway.realtime")

# OpenAI refuses to commit less than 100 ms of audio.
MIN_COMMIT_MS = 100
# Audio handed to the service per message: one second of 16 kHz PCM16.
CHUNK_BYTES = TARGET_RATE * 2
# semantic_vad is served by the same VAD, its eagerness read as an endpointing silence.
SEMANTIC_SILENCE_MS = {"low": 1000, "medium": 500, "auto": 500, "high": 300}
DEFAULT_SILENCE_MS = 500
_BYTES_PER_MS_16K = TARGET_RATE * 2 / 1000


class ClientMistake(Exception):
    """Something the client sent is invalid; it gets an `error` event and the session goes on."""

    def __init__(self, message: str, code: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message, self.code, self.param = message, code, param


class SessionEnded(Exception):
    """The session cannot go on: an `error` event, then the socket closes with `close_code`."""

    def __init__(self, message: str, code: str, close_code: int, error_type: str) -> None:
        super().__init__(message)
        self.message, self.code, self.close_code, self.error_type = (
            message,
            code,
            close_code,
            error_type,
        )


@dataclass
class SessionConfig:
    """The effective transcription session, as `session.created` / `session.updated` show it."""

    audio_format: str = PCM
    model: str = ""
    language: str = ""
    prompt: str = ""
    # None: manual commits.
    turn_detection: dict | None = field(
        default_factory=lambda: {
            "type": "server_vad",
            "threshold": 0.5,
            "prefix_padding_ms": 300,
            "silence_duration_ms": DEFAULT_SILENCE_MS,
        }
    )
    noise_reduction: dict | None = None
    include: list[str] = field(default_factory=list)

    def silence_ms(self) -> int:
        detection = self.turn_detection or {}
        if detection.get("type") == "semantic_vad":
            return SEMANTIC_SILENCE_MS[detection.get("eagerness") or "auto"]
        return detection.get("silence_duration_ms") or DEFAULT_SILENCE_MS

    def describe(self, session_id: str, expires_at: int) -> dict:
        audio_format: dict = {"type": self.audio_format}
        if self.audio_format == PCM:
            audio_format["rate"] = PCM_RATE
        return {
            "type": "transcription",
            "object": "realtime.transcription_session",
            "id": session_id,
            "expires_at": expires_at,
            "audio": {
                "input": {
                    "format": audio_format,
                    "transcription": {
                        "model": self.model or None,
                        "language": self.language or None,
                        "prompt": self.prompt,
                    },
                    "turn_detection": self.turn_detection,
                    "noise_reduction": self.noise_reduction,
                }
            },
            "include": self.include,
        }


def apply_update(
    config: SessionConfig, update: protocol.TranscriptionSessionUpdate
) -> SessionConfig:
    """`config` with `update` applied (only what the update names changes); ClientMistake
    when it asks for something this server does not serve."""
    if update.type != "transcription":
        raise ClientMistake(
            f'this endpoint serves transcription sessions; set session.type to "transcription" '
            f'(got "{update.type}"), and connect with ?intent=transcription',
            "invalid_value",
            "session.type",
        )
    new = SessionConfig(**{name: getattr(config, name) for name in config.__dataclass_fields__})
    if update.include is not None:
        new.include = [name for name in update.include if isinstance(name, str)]
    audio_input = update.audio.input if update.audio else None
    if audio_input is None:
        return new
    if audio_input.format is not None:
        audio_format = audio_input.format
        if audio_format.type not in FORMATS:
            raise ClientMistake(
                f'unsupported audio format "{audio_format.type}"; use "audio/pcm" (16-bit '
                'mono at 24000 Hz), "audio/pcmu" or "audio/pcma" (G.711 at 8000 Hz)',
                "invalid_value",
                "session.audio.input.format.type",
            )
        if audio_format.rate is not None and (
            audio_format.type != PCM or audio_format.rate != PCM_RATE
        ):
            raise ClientMistake(
                f"unsupported rate {audio_format.rate} for {audio_format.type}: audio/pcm is "
                "24000 Hz only (resample before sending), G.711 is 8000 Hz and takes no rate",
                "invalid_value",
                "session.audio.input.format.rate",
            )
        new.audio_format = audio_format.type
    if audio_input.transcription is not None:
        transcription = audio_input.transcription
        if transcription.model is not None:
            new.model = transcription.model
        if transcription.language is not None:
            new.language = transcription.language
        if transcription.prompt is not None:
            new.prompt = transcription.prompt
    if "turn_detection" in audio_input.model_fields_set:
        detection = audio_input.turn_detection
        new.turn_detection = (
            None
            if detection is None
            else {
                "type": detection.type,
                "threshold": detection.threshold if detection.threshold is not None else 0.5,
                "prefix_padding_ms": detection.prefix_padding_ms
                if detection.prefix_padding_ms is not None
                else 300,
                "silence_duration_ms": detection.silence_duration_ms
                if detection.silence_duration_ms is not None
                else DEFAULT_SILENCE_MS,
                **({"eagerness": detection.eagerness} if detection.eagerness else {}),
            }
        )
    if "noise_reduction" in audio_input.model_fields_set:
        noise = audio_input.noise_reduction
        new.noise_reduction = None if noise is None else noise.model_dump(exclude_none=True)
    return new


LOGPROBS = "item.input_audio_transcription.logprobs"


def word_logprobs(words: Sequence[asr_pb2.Word]) -> list[dict]:
    """OpenAI's logprob objects, one per word."""
    return [
        {
            "token": word.word,
            "logprob": math.log(max(word.confidence, 1e-12)),
            "bytes": list(word.word.encode()),
        }
        for word in words
    ]


@dataclass
class Item:
    """One committed buffer (a turn, with server VAD): a user message item."""

    item_id: str
    committed: bool = False
    previous_item_id: str | None = None
    # Completion events, held until every earlier item's are out.
    completion: list[dict] | None = None


class _Call:
    """One StreamingRecognize call and what it is turning into items."""

    def __init__(self, session: "RealtimeSession", config: SessionConfig, base_ms: float) -> None:
        self.session = session
        self.manual = config.turn_detection is None
        self.logprobs = LOGPROBS in config.include
        self.converter = InputConverter(config.audio_format)
        self.queue = AudioBuffer(session.buffer_bytes)
        # Session audio time (ms) at which this call's audio starts.
        self.base_ms = base_ms
        self.items: dict[int, Item] = {}
        self.speaking: tuple[int, Item] | None = None
        self.next_index = 0
        # Manual mode: the item the commit created, and the finals that make it.
        self.commit_item: Item | None = None
        self.texts: list[str] = []
        self.words: list[asr_pb2.Word] = []
        self.errors: list[str] = []
        self.audio_ms = 0.0
        # After a clear: turns not yet committed are dropped, and no new ones start.
        self.discard_uncommitted = False
        session_id = session.session_id + f"-{session.calls_opened}"
        self.grpc_call = session.stub.StreamingRecognize(
            metadata=(*session.metadata, ("x-session-id", session_id))
        )
        self.first_write = asr_pb2.StreamingRecognizeRequest(
            streaming_config=asr_pb2.StreamingRecognitionConfig(
                config=asr_pb2.RecognitionConfig(
                    model="" if config.model in session.model_aliases else config.model,
                    language=config.language,
                    task=asr_pb2.TASK_TRANSCRIBE,
                    initial_prompt=config.prompt,
                    # Word probabilities are what the logprobs are made of.
                    word_timestamps=self.logprobs,
                ),
                encoding=asr_pb2.AUDIO_ENCODING_PCM_S16LE,
                sample_rate_hertz=TARGET_RATE,
                audio_channel_count=1,
                # Deltas are sent at completion (module docstring): interims would be unused work.
                interim_results=False,
                endpointing=asr_pb2.Endpointing(silence_duration_ms=config.silence_ms()),
                session_id=session_id,
            )
        )
        self.writer = asyncio.create_task(self._write(), name="realtime-write")
        self.forwarder = asyncio.create_task(self._forward(), name="realtime-forward")

    async def append(self, pcm16k: bytes) -> None:
        self.audio_ms += len(pcm16k) / _BYTES_PER_MS_16K
        for offset in range(0, len(pcm16k), CHUNK_BYTES):
            await self.queue.put(pcm16k[offset : offset + CHUNK_BYTES])

    async def retire(self) -> None:
        """Half-close: the service finalises what it holds and ends the call."""
        tail = self.converter.flush()
        if tail:
            await self.append(tail)
        await self.queue.put(END)

    def cancel(self) -> None:
        self.discard_uncommitted = True
        self.grpc_call.cancel()
        self.writer.cancel()
        self.forwarder.cancel()
        self.queue.clear()

    async def _write(self) -> None:
        try:
            await self.grpc_call.write(self.first_write)
            while (chunk := await self.queue.get()) is not END:
                await self.grpc_call.write(asr_pb2.StreamingRecognizeRequest(audio=chunk))
            await self.grpc_call.done_writing()
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
            return  # the forwarder reports why the call ended

    async def _forward(self) -> None:
        session = self.session
        try:
            while (response := await self.grpc_call.read()) is not grpc.aio.EOF:
                if not session.outcome.instance:
                    session.outcome.instance = _instance_of(await self.grpc_call.initial_metadata())
                await self._on_response(response)
        except grpc.aio.AioRpcError as error:
            if self.discard_uncommitted and error.code() is grpc.StatusCode.CANCELLED:
                return
            await session.call_failed(self, error)
            return
        except CLIENT_GONE:
            return  # the reader sees the client leave
        except Exception:
            log.exception("realtime forwarder failed", session_id=session.session_id)
            session.internal_failure(self)
            return
        if self.manual and self.commit_item is not None:
            await self._complete_manual()
        session.call_ended(self)

    def _ms(self, offset_seconds: float) -> int:
        return round(self.base_ms + offset_seconds * 1000)

    async def _on_response(self, response: asr_pb2.StreamingRecognizeResponse) -> None:
        session = self.session
        if response.HasField("speech_event") and not self.manual:
            kind, offset = response.speech_event.type, response.speech_event.offset_seconds
            if kind == asr_pb2.SPEECH_EVENT_TYPE_SPEECH_STARTED:
                await self._start_item(self._ms(offset))
            elif kind == asr_pb2.SPEECH_EVENT_TYPE_SPEECH_ENDED and self.speaking:
                await self._stop_item(self._ms(offset))
        for result in response.results:
            if not result.is_final:
                continue
            if self.manual:
                (self.errors if result.error else self.texts).append(
                    result.error or result.transcript.strip()
                )
                self.words.extend(result.words)
                continue
            index = result.utterance_index
            item = self.items.get(index)
            if self.speaking is not None and self.speaking[0] == index:
                # Cut at the longest utterance without a pause: this turn ends here and the
                # next one starts with the very next audio.
                await self._stop_item(self._ms(result.end_seconds))
                await self._start_item(self._ms(result.end_seconds))
            if item is None:
                if self.discard_uncommitted:
                    continue
                item = Item(new_id("item"))
                self.items[index] = item
                self.next_index = max(self.next_index, index + 1)
            if not item.committed:
                if self.discard_uncommitted:
                    continue
                await session.commit_item(item)
            seconds = max(0.0, result.end_seconds - result.start_seconds)
            if result.error:
                await session.complete_item(item, None, seconds, result.error)
            else:
                await session.complete_item(
                    item,
                    result.transcript.strip(),
                    seconds,
                    logprobs=word_logprobs(result.words) if self.logprobs else None,
                )

    async def _start_item(self, audio_start_ms: int) -> None:
        if self.discard_uncommitted:
            return
        item = Item(new_id("item"))
        index = self.next_index
        self.next_index += 1
        self.items[index] = item
        self.speaking = (index, item)
        await self.session.send(
            server_event(
                "input_audio_buffer.speech_started",
                audio_start_ms=audio_start_ms,
                item_id=item.item_id,
            )
        )

    async def _stop_item(self, audio_end_ms: int) -> None:
        assert self.speaking is not None
        _, item = self.speaking
        self.speaking = None
        if item.committed or self.discard_uncommitted:
            return
        await self.session.send(
            server_event(
                "input_audio_buffer.speech_stopped", audio_end_ms=audio_end_ms, item_id=item.item_id
            )
        )
        await self.session.commit_item(item)

    async def commit_speaking(self) -> Item | None:
        """Server VAD, on the client's commit: the turn being spoken ends here."""
        if self.speaking is None:
            return None
        _, item = self.speaking
        await self._stop_item(round(self.base_ms + self.audio_ms))
        return item

    async def _complete_manual(self) -> None:
        item = self.commit_item
        assert item is not None
        transcript = " ".join(text for text in self.texts if text)
        if self.errors and not transcript:
            await self.session.complete_item(item, None, self.audio_ms / 1000, self.errors[0])
        else:
            await self.session.complete_item(
                item,
                transcript,
                self.audio_ms / 1000,
                logprobs=word_logprobs(self.words) if self.logprobs else None,
            )


class RealtimeSession:
    def __init__(
        self,
        websocket: WebSocket,
        stub: asr_pb2_grpc.AsrServiceStub,
        metadata: Sequence[tuple[str, str]],
        *,
        model_aliases: Sequence[str],
        buffer_bytes: int,
        idle_seconds: float,
        drain_seconds: float,
        max_append_bytes: int,
        config: SessionConfig | None = None,
    ) -> None:
        self.websocket = websocket
        self.stub = stub
        self.metadata = tuple(metadata)
        self.model_aliases = tuple(model_aliases)
        self.buffer_bytes = buffer_bytes
        self.idle_seconds = idle_seconds
        # How long, once going away, the last transcripts are waited for.
        self.drain_seconds = drain_seconds
        self.max_append_bytes = max_append_bytes
        self.session_id = new_id("sess")
        self.expires_at = int(time.time()) + 3600
        # A client secret's session, else the defaults (as OpenAI's `session.created` shows).
        self.config = config or SessionConfig()
        self.outcome = Outcome(session_id=self.session_id)
        self.calls_opened = 0
        self._call: _Call | None = None
        self._calls: set[_Call] = set()
        # Session audio time in ms (what speech_started / speech_stopped count from).
        self._audio_ms = 0.0
        # Audio in the buffer since the last commit or clear, in ms.
        self._uncommitted_ms = 0.0
        self._audio_appended = False
        self._last_item_id: str | None = None
        self._order: deque[Item] = deque()
        self._send_lock = asyncio.Lock()
        self._ended: SessionEnded | None = None
        self._reader: asyncio.Task | None = None
        self._going_away = asyncio.Event()

    # --- sending -------------------------------------------------------------------------

    async def send(self, event: dict) -> None:
        text = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
        async with self._send_lock:
            self.outcome.bytes_sent += len(text)
            await self.websocket.send_text(text)

    async def commit_item(self, item: Item) -> None:
        item.committed = True
        previous, self._last_item_id = self._last_item_id, item.item_id
        item.previous_item_id = previous
        self._order.append(item)
        await self.send(
            server_event(
                "input_audio_buffer.committed", item_id=item.item_id, previous_item_id=previous
            )
        )
        await self.send(
            server_event(
                "conversation.item.added",
                item=user_item(item.item_id, None),
                previous_item_id=previous,
            )
        )

    async def complete_item(
        self,
        item: Item,
        transcript: str | None,
        seconds: float,
        failure: str | None = None,
        logprobs: list[dict] | None = None,
    ) -> None:
        previous = item.previous_item_id
        events: list[dict] = []
        # Only when the session asked for them (`include`), as OpenAI sends them.
        with_logprobs = {} if logprobs is None else {"logprobs": logprobs}
        if failure is None:
            assert transcript is not None
            self.outcome.final_texts.append(transcript)
            if transcript:
                events.append(
                    server_event(
                        "conversation.item.input_audio_transcription.delta",
                        item_id=item.item_id,
                        content_index=0,
                        delta=transcript,
                        **with_logprobs,
                    )
                )
            events.append(
                server_event(
                    "conversation.item.input_audio_transcription.completed",
                    item_id=item.item_id,
                    content_index=0,
                    transcript=transcript,
                    usage={"type": "duration", "seconds": round(seconds, 3)},
                    **with_logprobs,
                )
            )
        else:
            events.append(
                server_event(
                    "conversation.item.input_audio_transcription.failed",
                    item_id=item.item_id,
                    content_index=0,
                    error={
                        "type": "server_error",
                        "code": "transcription_failed",
                        "message": failure,
                        "param": None,
                    },
                )
            )
        events.append(
            server_event(
                "conversation.item.done",
                item=user_item(item.item_id, transcript),
                previous_item_id=previous,
            )
        )
        item.completion = events
        # In commit order: an item waits for every earlier one.
        while self._order and self._order[0].completion is not None:
            for event in self._order.popleft().completion or ():
                await self.send(event)

    # --- calls -----------------------------------------------------------------------------

    def _open_call(self) -> _Call:
        self.calls_opened += 1
        call = _Call(self, self.config, self._audio_ms)
        self._calls.add(call)
        return call

    def call_ended(self, call: _Call) -> None:
        self._calls.discard(call)
        if self._call is call:
            self._call = None

    async def call_failed(self, call: _Call, error: grpc.aio.AioRpcError) -> None:
        """The service refused or lost a call: the session ends with the service's reason."""
        self.call_ended(call)
        code = error.code()
        self.outcome.status = code
        self.outcome.instance = self.outcome.instance or _instance_of(error.initial_metadata())
        message = grpc_error_message(error, "asr")
        kind = "rate_limit_exceeded" if code is grpc.StatusCode.RESOURCE_EXHAUSTED else code.name
        error_type = (
            "server_error" if code not in _CLOSE_CODE_BY_STATUS else "invalid_request_error"
        )
        if code in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE):
            error_type = "server_error"
        self._ended = SessionEnded(
            f"the transcription stream ended: {message}; open a new session",
            kind.lower(),
            _CLOSE_CODE_BY_STATUS.get(code, INTERNAL_ERROR),
            error_type,
        )
        self.outcome.kind = "backend_error"
        if self._reader is not None:
            self._reader.cancel()

    def internal_failure(self, call: _Call) -> None:
        self.call_ended(call)
        self.outcome.kind, self.outcome.status = "backend_error", grpc.StatusCode.INTERNAL
        self._ended = SessionEnded(
            "internal error in the gateway; open a new session",
            "internal_error",
            INTERNAL_ERROR,
            "server_error",
        )
        if self._reader is not None:
            self._reader.cancel()

    # --- the session -----------------------------------------------------------------------

    def go_away(self) -> None:
        """The gateway is shutting down: end the audio now, send the transcripts still to
        come (waiting at most `drain_seconds`) and close with 1001."""
        self._going_away.set()

    async def run(self) -> Outcome:
        """Serves the session until the client leaves or it cannot go on; never raises for
        client or service errors."""
        going_away = asyncio.create_task(self._going_away.wait(), name="realtime-going-away")
        try:
            await self.send(
                server_event(
                    "session.created",
                    session=self.config.describe(self.session_id, self.expires_at),
                )
            )
            self._reader = asyncio.create_task(self._read(), name="realtime-read")
            await asyncio.wait({self._reader, going_away}, return_when=asyncio.FIRST_COMPLETED)
            if not self._reader.done():
                await self._finish_going_away()
            try:
                await self._reader
            except asyncio.CancelledError:
                if self._ended is None and not self._going_away.is_set():
                    raise
            except SessionEnded as ended:
                self._ended = ended
            if self._ended is not None:
                await self._end(self._ended)
            elif self.websocket.application_state is WebSocketState.CONNECTED:
                await self._close(GOING_AWAY if self._going_away.is_set() else NORMAL)
        except CLIENT_GONE:
            self._client_left()
        finally:
            going_away.cancel()
            if self._reader is not None:
                self._reader.cancel()
            for call in list(self._calls):
                call.cancel()
            for call in list(self._calls):
                for task in (call.writer, call.forwarder):
                    with contextlib.suppress(BaseException):
                        await task
            self._calls.clear()
        return self.outcome

    async def _finish_going_away(self) -> None:
        """Ends the audio and waits, at most `drain_seconds`, until every call has given its
        last transcripts (or the client left, or a call failed); then stops the reader."""
        assert self._reader is not None
        await self._end_audio()
        forwarders = {call.forwarder for call in self._calls}
        deadline = asyncio.get_running_loop().time() + self.drain_seconds
        while forwarders and not self._reader.done():
            remaining = max(0.0, deadline - asyncio.get_running_loop().time())
            done, _ = await asyncio.wait(
                {self._reader, *forwarders}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            if not done:
                self.outcome.kind, self.outcome.status = (
                    "backend_error",
                    grpc.StatusCode.UNAVAILABLE,
                )
                self._ended = SessionEnded(
                    "the gateway is shutting down and the last transcripts of this session did "
                    f"not come within {self.drain_seconds:g} s "
                    "(GATEWAY_ASR_STREAM_DRAIN_SECONDS); open a new session to go on",
                    "server_shutting_down",
                    GOING_AWAY,
                    "server_error",
                )
                break
            forwarders -= done
        self._reader.cancel()

    async def _end_audio(self) -> None:
        """Going away: the audio ends here. The turn being spoken (server VAD) or the buffer
        (manual commits, at least MIN_COMMIT_MS) is committed as if the client had committed
        it, and the call is half-closed, so the service finalises what it holds."""
        call, self._call = self._call, None
        uncommitted_ms, self._uncommitted_ms = self._uncommitted_ms, 0.0
        if call is None:
            return
        if call.manual:
            if uncommitted_ms < MIN_COMMIT_MS:
                # Too little to transcribe, as a commit of it would be refused.
                call.cancel()
                self._calls.discard(call)
                return
            item = Item(new_id("item"))
            call.commit_item = item
            await self.commit_item(item)
        else:
            await call.commit_speaking()
        await call.retire()

    def _client_left(self) -> None:
        if self.outcome.kind == "completed":
            self.outcome.kind, self.outcome.close_code = "client_disconnected", None

    async def _end(self, ended: SessionEnded) -> None:
        if self.outcome.kind == "completed":
            self.outcome.kind = "client_error"
        with contextlib.suppress(*CLIENT_GONE, RuntimeError):
            await self.send(
                error_event(ended.message, code=ended.code, error_type=ended.error_type)
            )
        await self._close(ended.close_code)

    async def _close(self, code: int) -> None:
        self.outcome.close_code = code
        if self.websocket.application_state is WebSocketState.CONNECTED:
            with contextlib.suppress(*CLIENT_GONE, RuntimeError):
                await self.websocket.close(code)

    async def _receive(self) -> dict:
        try:
            async with asyncio.timeout(self.idle_seconds):
                return await self.websocket.receive()
        except TimeoutError:
            raise SessionEnded(
                f"nothing received for {self.idle_seconds:g} s "
                "(GATEWAY_ASR_STREAM_IDLE_SECONDS); keep appending audio as it is captured, "
                "silence included, or close the session when done",
                "session_idle_timeout",
                POLICY_VIOLATION,
                "invalid_request_error",
            ) from None

    async def _read(self) -> None:
        while True:
            message = await self._receive()
            if message["type"] == "websocket.disconnect":
                self._client_left()
                return
            if self._going_away.is_set():
                continue  # the gateway ended the audio: what the client sends now is dropped
            event_id = None
            try:
                text = message.get("text")
                if text is None:
                    raise ClientMistake(
                        "send JSON text events; audio goes base64-encoded in "
                        "input_audio_buffer.append",
                        "invalid_event",
                    )
                try:
                    raw = json.loads(text)
                except ValueError as error:
                    raise ClientMistake(f"events must be JSON: {error}", "invalid_json") from None
                if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
                    raise ClientMistake(
                        'events must be JSON objects with a string "type"', "invalid_event"
                    )
                event_id = raw.get("event_id") if isinstance(raw.get("event_id"), str) else None
                await self._handle(raw)
            except ClientMistake as mistake:
                await self.send(
                    error_event(
                        mistake.message,
                        code=mistake.code,
                        param=mistake.param,
                        client_event_id=event_id,
                    )
                )

    async def _handle(self, raw: dict) -> None:
        kind = raw["type"]
        if kind == "input_audio_buffer.append":
            await self._append(_validated(AppendEvent, raw))
        elif kind == "session.update":
            await self._update(_validated(SessionUpdateEvent, raw))
        elif kind == "input_audio_buffer.commit":
            await self._commit()
        elif kind == "input_audio_buffer.clear":
            await self._clear()
        elif kind.startswith(("response.", "conversation.", "output_audio_buffer.")):
            raise ClientMistake(
                f'"{kind}" is not available in a transcription session; it takes '
                "session.update and input_audio_buffer.append / commit / clear",
                "unsupported_event",
                "type",
            )
        else:
            raise ClientMistake(
                f'unknown event type "{kind}"; a transcription session takes session.update '
                "and input_audio_buffer.append / commit / clear",
                "invalid_event_type",
                "type",
            )

    async def _update(self, event: SessionUpdateEvent) -> None:
        new = apply_update(self.config, event.session)
        if new.audio_format != self.config.audio_format and self._audio_appended:
            raise ClientMistake(
                f"the input format cannot change once audio was appended (it is "
                f"{self.config.audio_format}, the update asks for {new.audio_format}); keep "
                "the format, or open a new session for the other one",
                "invalid_value",
                "session.audio.input.format",
            )
        self.config = new
        await self.send(
            server_event("session.updated", session=new.describe(self.session_id, self.expires_at))
        )

    async def _append(self, event: AppendEvent) -> None:
        # A base64 text over the limit is refused before it is decoded.
        if len(event.audio) > (self.max_append_bytes + 2) // 3 * 4:
            raise ClientMistake(
                f"this append holds about {len(event.audio) * 3 // 4} bytes of audio; the "
                f"limit is {self.max_append_bytes} bytes per append: send smaller chunks "
                "(20-100 ms each suits live transcription best)",
                "audio_append_too_large",
                "audio",
            )
        try:
            data = base64.b64decode(event.audio, validate=True)
        except (binascii.Error, ValueError):
            raise ClientMistake(
                "input_audio_buffer.append: audio is not valid base64 (standard alphabet, "
                "with padding)",
                "invalid_base64",
                "audio",
            ) from None
        if not data:
            return
        self._audio_appended = True
        self.outcome.audio_bytes += len(data)
        seconds = seconds_of(self.config.audio_format, len(data))
        self.outcome.audio_seconds += seconds
        if self._call is None:
            self._call = self._open_call()
        self._audio_ms += seconds * 1000
        self._uncommitted_ms += seconds * 1000
        await self._call.append(self._call.converter.convert(data))

    async def _commit(self) -> None:
        if self._uncommitted_ms < MIN_COMMIT_MS or self._call is None:
            raise ClientMistake(
                f"input_audio_buffer.commit: the buffer holds {self._uncommitted_ms:.0f} ms of "
                f"audio, at least {MIN_COMMIT_MS} ms is needed; append audio before committing",
                "input_audio_buffer_commit_empty",
            )
        call, self._call = self._call, None
        self._uncommitted_ms = 0.0
        if call.manual:
            item = Item(new_id("item"))
            call.commit_item = item
            await self.commit_item(item)
        elif await call.commit_speaking() is None:
            # No turn being spoken: the buffer held no speech, an empty item as OpenAI gives.
            item = Item(new_id("item"))
            await self.commit_item(item)
            await self.complete_item(item, "", call.audio_ms / 1000)
        await call.retire()

    async def _clear(self) -> None:
        call, self._call = self._call, None
        self._uncommitted_ms = 0.0
        if call is not None:
            if call.manual:
                call.cancel()
                self._calls.discard(call)
            else:
                # What is already committed still completes; the turn being spoken is dropped.
                call.discard_uncommitted = True
                call.speaking = None
                await call.retire()
        await self.send(server_event("input_audio_buffer.cleared"))


def _validated(model: type, raw: dict):
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise ClientMistake(
            f"{raw['type']}: {where}: {problem['msg']}", "invalid_value", where or None
        ) from None
