"""LLM insights on live streams: real insights from the suite's LLM, and transcripts that
arrive on time whatever the LLM does (slow, down, not configured)."""

import asyncio
import time

import grpc
import pytest

from paneas.asr.v1 import asr_pb2, asr_pb2_grpc
from paneas.llm.v1 import llm_pb2, llm_pb2_grpc
from paneas.services.asr.evaluation import SAMPLES, wer
from paneas.services.processes import ServiceProcess, free_port, grpc_serving, wait_until
from tests.asr.conftest import StreamRun, pcm16_of, run_stream, streaming_config

ENGLISH = asr_pb2.RecognitionConfig(language="en")
REAL_TIME = 0.1  # seconds per 100 ms chunk
# Twice real time: results still come live, and two runs of a clip take half as long.
TWICE_REAL_TIME = REAL_TIME / 2
SUMMARY_TIMEOUT = 2.0
# A decode's time varies by up to a second or two on a busy shared 2-core box; a final held
# behind an LLM call would be late by the stand-in's 30 s.
LATENCY_SLACK = 2.0


def insights_of(run: StreamRun, kind: str | None = None) -> list[asr_pb2.Insight]:
    found = [resp.insight for resp in run.responses if resp.HasField("insight")]
    return [insight for insight in found if kind is None or insight.type == kind]


def final_arrivals(run: StreamRun) -> list[float]:
    return [
        at
        for resp, at in zip(run.responses, run.arrivals, strict=True)
        for result in resp.results
        if result.is_final
    ]


def summary_arrival(run: StreamRun) -> float:
    return next(
        at for resp, at in zip(run.responses, run.arrivals, strict=True) if resp.HasField("summary")
    )


def assert_insights_travel_alone(run: StreamRun) -> None:
    for resp in run.responses:
        if resp.HasField("insight"):
            assert not resp.results and not resp.HasField("summary"), resp


async def run_until_insight(
    stub, metadata, audio: bytes, first, within: float = 90
) -> tuple[StreamRun, float, float]:
    """`audio` in real time, then the stream stays open until a summary insight has come
    (the LLM shares the CPU with Whisper here), then half-closes. Returns the run and the wall
    clock times it began and ended."""
    run = StreamRun()
    began_wall = time.time()
    started = time.perf_counter()
    got_insight = asyncio.Event()

    async def requests():
        yield first
        for number, offset in enumerate(range(0, len(audio), 3200)):
            await asyncio.sleep(max(0.0, started + number * REAL_TIME - time.perf_counter()))
            yield asr_pb2.StreamingRecognizeRequest(audio=audio[offset : offset + 3200])
        await asyncio.wait_for(got_insight.wait(), within)

    async for response in stub.StreamingRecognize(requests(), metadata=metadata):
        run.responses.append(response)
        run.arrivals.append(time.perf_counter() - started)
        if response.insight.type == "summary":
            got_insight.set()
    return run, began_wall, time.time()


async def test_live_stream_gets_insights_and_a_closing_summary(asr, llm_channel, auth_metadata):
    run, began, ended = await run_until_insight(
        asr, auth_metadata, pcm16_of("jfk"), streaming_config(config=ENGLISH, enable_insights=True)
    )
    assert wer(SAMPLES["jfk"].transcript, run.final_text) <= 0.25
    assert_insights_travel_alone(run)
    summaries = insights_of(run, "summary")
    assert summaries, insights_of(run)
    served = await llm_pb2_grpc.LlmServiceStub(llm_channel).ListModels(
        llm_pb2.ListModelsRequest(), metadata=auth_metadata
    )
    names = {model.id for model in served.models}
    for insight in summaries:
        assert insight.text.strip()
        assert began <= insight.generated_at <= ended
        assert insight.model in names
    assert run.responses[-1].HasField("summary")
    assert run.summary.summary.strip()
    assert run.summary.transcript == run.final_text


async def test_no_insights_unless_asked(asr, auth_metadata):
    run = await run_stream(asr, auth_metadata, pcm16_of("en_weather"), streaming_config())
    assert run.finals and not insights_of(run)
    assert run.summary.summary == ""


class SlowLlm(llm_pb2_grpc.LlmServiceServicer):
    """Stands in for an LLM too slow to be useful: a real LlmService over gRPC that answers
    after `delay` seconds. The packaged model cannot be made reliably slow on demand."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.calls = 0
        self.in_flight = 0
        self.idle = asyncio.Event()

    async def Chat(self, request, context):
        self.calls += 1
        self.in_flight += 1
        self.idle.clear()
        try:
            await asyncio.sleep(self.delay)
            message = llm_pb2.Message(role=llm_pb2.ROLE_ASSISTANT, content="Too late.")
            return llm_pb2.ChatResponse(model="slow", choices=[llm_pb2.Choice(message=message)])
        finally:
            # Also when the caller cancels or its deadline passes.
            self.in_flight -= 1
            if not self.in_flight:
                self.idle.set()


class StandInLlm:
    """The slow stand-in on a fixed port, which `stop` closes: the same target is a slow LLM
    or a dead one."""

    def __init__(self) -> None:
        self.port = free_port()
        self.servicer = SlowLlm(delay=30)
        self._server: grpc.aio.Server | None = None

    async def start(self) -> None:
        if self._server is None:
            server = grpc.aio.server()
            llm_pb2_grpc.add_LlmServiceServicer_to_server(self.servicer, server)
            assert server.add_insecure_port(f"127.0.0.1:{self.port}") == self.port
            await server.start()
            self._server = server

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(0)
            self._server = None


@pytest.fixture(scope="module")
async def stand_in():
    llm = StandInLlm()
    await llm.start()
    yield llm
    await llm.stop()


def _start_asr(api_token: str, log_dir, **env: str) -> tuple[ServiceProcess, str]:
    port = free_port()
    env = {"API_TOKENS": api_token, "ASR_PORT": str(port), "ASR_METRICS_PORT": "0", **env}
    return ServiceProcess("paneas.services.asr", env, log_dir / "asr.log"), f"127.0.0.1:{port}"


@pytest.fixture(scope="module")
def dedicated_asr(api_token, stand_in, tmp_path_factory):
    """Two instances loading side by side: one whose LLM is the stand-in, one with none."""
    with_stand_in = _start_asr(
        api_token,
        tmp_path_factory.mktemp("asr-stand-in"),
        ASR_LLM_TARGET=f"127.0.0.1:{stand_in.port}",
        ASR_SUMMARY_TIMEOUT_SECONDS=str(SUMMARY_TIMEOUT),
        ASR_INSIGHT_MIN_INTERVAL_SECONDS="0.5",
        # Longer than a stream: an implementation that waited for the LLM would show it.
        ASR_INSIGHT_TIMEOUT_SECONDS="60",
    )
    without_llm = _start_asr(
        api_token, tmp_path_factory.mktemp("asr-no-llm"), ASR_LLM_TARGET="", ASR_WARMUP="false"
    )
    for process, target in (with_stand_in, without_llm):
        wait_until(lambda t=target: grpc_serving(t), "ASR service", process.process, timeout=120)
    yield {"stand_in": with_stand_in, "no_llm": without_llm}
    for process, _ in (with_stand_in, without_llm):
        process.stop()


@pytest.fixture(scope="module")
async def stand_in_asr(dedicated_asr):
    process, target = dedicated_asr["stand_in"]
    async with grpc.aio.insecure_channel(target) as channel:
        yield asr_pb2_grpc.AsrServiceStub(channel), process


async def test_slow_llm_delays_no_final(stand_in_asr, stand_in, auth_metadata):
    stub, _ = stand_in_asr
    await stand_in.start()
    audio = pcm16_of("jfk")
    plain = await run_stream(
        stub,
        auth_metadata,
        audio,
        streaming_config(config=ENGLISH),
        seconds_per_chunk=TWICE_REAL_TIME,
    )
    calls = stand_in.servicer.calls
    run = await run_stream(
        stub,
        auth_metadata,
        audio,
        streaming_config(config=ENGLISH, enable_insights=True),
        seconds_per_chunk=TWICE_REAL_TIME,
    )
    assert stand_in.servicer.calls > calls, "the stream never asked the LLM"
    assert [r.transcript for r in run.finals] == [r.transcript for r in plain.finals]
    for late, usual in zip(final_arrivals(run), final_arrivals(plain), strict=True):
        assert late <= usual + LATENCY_SLACK, (final_arrivals(run), final_arrivals(plain))
    assert not insights_of(run, "summary")
    assert_insights_travel_alone(run)
    # The end waits for the LLM's summary only as long as it was told to, then comes without.
    assert run.responses[-1].HasField("summary") and run.summary.summary == ""
    assert summary_arrival(run) - final_arrivals(run)[-1] <= SUMMARY_TIMEOUT + 1.0
    # And the calls it left behind were cancelled, not left generating.
    await asyncio.wait_for(stand_in.servicer.idle.wait(), 5)


async def test_llm_down_costs_one_error_insight_and_no_final(stand_in_asr, stand_in, auth_metadata):
    stub, process = stand_in_asr
    await stand_in.stop()  # nothing listens on the target any more
    audio = pcm16_of("beckett")[: 32000 * 6]  # "Ever tried. Ever failed. No matter. Try again."
    run = await run_stream(
        stub, auth_metadata, audio, streaming_config(config=ENGLISH, enable_insights=True)
    )
    assert "no matter" in run.final_text.lower(), run.final_text
    assert len(run.finals) >= 2
    assert_insights_travel_alone(run)
    errors = insights_of(run, "error")
    # Retried after every final, reported once.
    assert len(errors) == 1 and not insights_of(run, "summary"), insights_of(run)
    assert errors[0].text.startswith("LLM insights unavailable: UNAVAILABLE")
    assert run.summary.summary == "" and run.summary.transcript == run.final_text
    session = run.responses[0].session_id
    warnings = [
        line
        for line in process.log_text().splitlines()
        if session in line and "llm insights unavailable" in line
    ]
    assert len(warnings) == 1, warnings


async def test_insights_without_an_llm_are_refused_with_the_fix(dedicated_asr, auth_metadata):
    _, target = dedicated_asr["no_llm"]
    async with grpc.aio.insecure_channel(target) as channel:
        stub = asr_pb2_grpc.AsrServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await run_stream(stub, auth_metadata, b"", streaming_config(enable_insights=True))
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "ASR_LLM_TARGET" in caught.value.details()
        # Streams that do not ask are served as usual.
        run = await run_stream(
            stub, auth_metadata, pcm16_of("en_weather")[:64000], streaming_config()
        )
        assert run.summary is not None
