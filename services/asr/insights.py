"""LLM insights on a live stream: a running summary while people talk, and one at the end.

Insights run beside the stream, never in its way: a final result is sent the moment it is
decoded, and only then handed to the stream's `InsightWorker`, which asks the LLM service
from a task of its own. A slow or absent LLM therefore costs insights, never transcript
results. Each stream has at most one LLM call in flight, at most one per
`insight_min_interval_seconds`, and only when new final text arrived since the last.
"""

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc
import structlog

from paneas.asr.v1 import asr_pb2
from paneas.llm.v1 import llm_pb2, llm_pb2_grpc
from paneas.services.asr import metrics
from paneas.services.asr.settings import AsrSettings
from paneas.services.runtime import wire

log = structlog.get_logger("paneas.asr.insights")

# The tail of the transcript sent with each request. It bounds the prompt (and so the cost of
# every call) however long the meeting; the summary follows the latest talk.
MAX_TRANSCRIPT_CHARS = 6000
# Worded for the smallest models the stack ships: one instruction, a plain completion cue.
SYSTEM_PROMPT = "You summarise meeting transcripts in one or two short sentences."


@dataclass(frozen=True)
class Summary:
    text: str
    model: str


def prompt_transcript(transcript: str) -> str:
    if len(transcript) <= MAX_TRANSCRIPT_CHARS:
        return transcript
    tail = transcript[-MAX_TRANSCRIPT_CHARS:]
    # Start at a word, and say that earlier talk was cut.
    return "... " + tail.partition(" ")[2]


class InsightClient:
    """The ASR process's one channel to the LLM service, shared by every stream. (The jobs
    worker summarises a finished transcript with it too, `gateway/jobs/summary.py`.)"""

    def __init__(
        self, target: str, token: str | None, model: str = "auto", max_tokens: int = 120
    ) -> None:
        self.target = target
        self._model = model
        self._max_tokens = max_tokens
        self._channel = grpc.aio.insecure_channel(self.target)
        self._stub = llm_pb2_grpc.LlmServiceStub(self._channel)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()

    async def summarise(self, transcript: str, deadline_seconds: float) -> Summary:
        """Raises grpc.aio.AioRpcError when the LLM fails or misses the deadline (a gRPC
        deadline, so the LLM service knows it too); cancelling the caller cancels the call,
        and with it the generation in the LLM service."""
        request = llm_pb2.ChatRequest(
            model=self._model,
            messages=[
                llm_pb2.Message(role=llm_pb2.ROLE_SYSTEM, content=SYSTEM_PROMPT),
                llm_pb2.Message(
                    role=llm_pb2.ROLE_USER,
                    content=f"Transcript so far:\n{prompt_transcript(transcript)}\n\nSummary:",
                ),
            ],
            # A blank line ends the summary: small models tend to ramble on after it.
            sampling=llm_pb2.SamplingParams(
                temperature=0, max_tokens=self._max_tokens, stop=["\n\n"]
            ),
        )
        call = self._stub.Chat(request, metadata=self._metadata, timeout=deadline_seconds)
        reply = await call
        served = dict(await call.initial_metadata() or ()).get(wire.SERVED_MODEL) or reply.model
        text = reply.choices[0].message.content.strip() if reply.choices else ""
        return Summary(text, served)

    async def close(self) -> None:
        await self._channel.close()


def failure_reason(error: BaseException, timeout: float) -> str:
    if isinstance(error, grpc.aio.AioRpcError):
        if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
            return f"no answer within {timeout:g} s"
        return f"{error.code().name}: {error.details()}"
    if isinstance(error, TimeoutError):
        return f"no answer within {timeout:g} s"
    return repr(error)


class InsightWorker:
    """One stream's insights. Feed it finals with `on_final`; `closing_summary` at half-close;
    `close` when the stream ends however it ends."""

    def __init__(
        self,
        client: InsightClient,
        settings: AsrSettings,
        emit: Callable[[asr_pb2.Insight], None],
        session_id: str,
    ) -> None:
        self._client = client
        self._interval = settings.insight_min_interval_seconds
        self._timeout = settings.insight_timeout_seconds
        self._summary_timeout = settings.summary_timeout_seconds
        self._emit = emit
        self._log = log.bind(session_id=session_id, llm=client.target)
        self._finals: list[str] = []
        self._new_text = asyncio.Event()
        # The LLM call in flight and the transcript it summarises.
        self._call: asyncio.Task[Summary] | None = None
        self._call_transcript = ""
        # The last summary the LLM gave, and of which transcript: reused at the end when
        # nothing was said since.
        self._last: tuple[str, Summary] | None = None
        self._failing = False
        self._loop = asyncio.create_task(self._run(), name="asr-stream-insights")

    def on_final(self, result: asr_pb2.StreamingRecognitionResult) -> None:
        """Called right after a final result was queued for the client: only notes the text."""
        text = result.transcript.strip()
        if text:
            self._finals.append(text)
            self._new_text.set()

    @property
    def transcript(self) -> str:
        return " ".join(self._finals)

    async def _run(self) -> None:
        started = -math.inf
        while True:
            await self._new_text.wait()
            await asyncio.sleep(max(0.0, started + self._interval - time.monotonic()))
            self._new_text.clear()
            started = time.monotonic()
            call = self._start(self.transcript, self._timeout)
            try:
                # Shielded: at half-close the closing summary may adopt this very call.
                summary = await asyncio.shield(call)
            except Exception as error:
                metrics.INSIGHT_REQUESTS.labels(kind="periodic", outcome="failed").inc()
                self._failed(error)
                # The same text is asked again after the interval: the LLM may be back.
                self._new_text.set()
                continue
            metrics.INSIGHT_REQUESTS.labels(kind="periodic", outcome="ok").inc()
            self._recovered()
            if summary.text:
                self._emit(
                    asr_pb2.Insight(
                        type="summary",
                        text=summary.text,
                        generated_at=time.time(),
                        model=summary.model,
                    )
                )

    def _start(self, transcript: str, deadline_seconds: float) -> asyncio.Task[Summary]:
        async def ask() -> Summary:
            summary = await self._client.summarise(transcript, deadline_seconds)
            self._last = (transcript, summary)
            return summary

        self._call = asyncio.create_task(ask(), name="asr-stream-insight-call")
        self._call_transcript = transcript
        return self._call

    def _failed(self, error: BaseException) -> None:
        """One log line and one error insight per failure streak, not one per attempt."""
        if self._failing:
            return
        self._failing = True
        reason = failure_reason(error, self._timeout)
        self._log.warning("llm insights unavailable; retrying at the interval", reason=reason)
        self._emit(
            asr_pb2.Insight(
                type="error",
                text=f"LLM insights unavailable: {reason}",
                generated_at=time.time(),
            )
        )

    def _recovered(self) -> None:
        if self._failing:
            self._failing = False
            self._log.info("llm insights available again")

    async def closing_summary(self) -> str:
        """A summary of the whole transcript, or "" if the LLM has none within
        `summary_timeout_seconds`. Never raises: the stream's end must still come."""
        self._loop.cancel()
        transcript = self.transcript
        call = self._call
        if call is not None and (call.done() or self._call_transcript != transcript):
            call.cancel()
            call = None
        if call is None:
            if not transcript:
                return ""
            if self._last is not None and self._last[0] == transcript:
                return self._last[1].text
            call = self._start(transcript, self._summary_timeout)
        try:
            async with asyncio.timeout(self._summary_timeout):
                summary = await call
        except Exception as error:
            metrics.INSIGHT_REQUESTS.labels(kind="closing", outcome="failed").inc()
            reason = failure_reason(error, self._summary_timeout)
            self._log.warning("closing summary unavailable; the stream ends without", reason=reason)
            return ""
        finally:
            call.cancel()
        metrics.INSIGHT_REQUESTS.labels(kind="closing", outcome="ok").inc()
        return summary.text

    async def close(self) -> None:
        """Stops asking and cancels the call in flight (the LLM stops generating)."""
        tasks = [task for task in (self._loop, self._call) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
