"""TTS benchmark: time to first audio and real-time factor through gRPC and REST vs the engine
libraries called directly, per engine.

    .venv/bin/python -m bench.tts [--rounds 15] [--kokoro-rounds 3] [--long-rounds 5]
        [--voices joe,af_heart,pf_dora,espeak-en-us] [--max-load 1.5] [--patience 300]

Starts a real TTS service (Piper joe, Kokoro int8, espeak-ng; one worker, onnxruntime on every
core) and the gateway (rate limiting off) on loopback, and has each voice speak a fixed
3-sentence text (and, for RTF, a 10-sentence one) through these paths:
  bare         the engine library in this process, sentence by sentence as the service splits
               the text (`split_sentences(normalize(clean(text)))`): piper-tts
               `PiperVoice.synthesize` (same ONNX session options and synthesis config as the
               engine), kokoro-onnx `Kokoro.create`, the espeak-ng CLI (WAV on stdout)
  engine       the service's engine adapter in this process (`TtsEngine.synthesize`, called
               straight, no worker thread), same sentences
  grpc-stream  `TtsService/StreamSynthesize`, PCM at the voice's own rate
  grpc-unary   `TtsService/Synthesize`, WAV
  rest-pcm     `POST /v1/audio/speech`, response_format pcm (OpenAI's 24 kHz: resampled for
               Piper and espeak-ng), stream_format audio: chunked bytes as sentences finish
  rest-wav     the same, wav (streamed header)
  rest-mp3/rest-opus  the same, compressed (3-sentence text, Piper and espeak-ng only)
  rest-unary   `POST /api/v1/tts` (TtsService/Synthesize behind), wav
Kokoro (slow) and Piper's 10-sentence text skip grpc-unary and rest-wav.
Time to first audio (TTFA): sending to the first audio (bare, engine: the first sentence
synthesised; streams: the first chunk with audio; unary: the whole answer). RTF: sending to
the last byte over the seconds of audio delivered (the service adds 0.2 s of silence between
sentences; bare and engine count it too, so RTF ratios are wall-time ratios). The paths take
turns, one request each, the order rotating every round, after one warm-up each; the
service, the gateway and this process share the cores, so nothing runs at once. Then the
service's encoder alone (`encoding.Encoder`, streaming) on the bare Piper audio per format.
Results in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import numpy as np

from bench.load import ForeignLoad, wait_for_quiet
from bench.machine import describe
from bench.paths import PathResult, interleaved
from bench.services import LOGS, gateway, grpc_service
from paneas.services.processes import ServiceProcess, free_port
from paneas.tts.v1 import tts_pb2, tts_pb2_grpc

TTFA_TARGET_MS = 250.0
PAUSE_SECONDS = 0.2  # servicer.SENTENCE_PAUSE_SECONDS
OPENAI_PCM_RATE = 24000

EN_SHORT = (
    "Thank you for calling the support line of our company. "
    "Your request has been received and a specialist will answer it shortly. "
    "Please keep this window open until the transfer is complete."
)
EN_LONG = EN_SHORT + (
    " The first thing to check is whether the device is plugged in and switched on."
    " If the light on the front panel is blinking, wait a minute before you try again."
    " Some problems are solved simply by restarting the application."
    " When the issue continues, write down the message shown on the screen."
    " Our team will need it to find out what went wrong."
    " You can also send us an email with a short description of the problem."
    " We usually answer within one working day."
)
PT_SHORT = (
    "Obrigado por ligar para a central de atendimento da nossa empresa. "
    "O seu pedido foi recebido e um especialista vai responder em breve. "
    "Por favor, mantenha esta janela aberta até a transferência terminar."
)
PT_LONG = PT_SHORT + (
    " A primeira coisa a verificar é se o aparelho está ligado na tomada."
    " Se a luz do painel estiver piscando, espere um minuto antes de tentar de novo."
    " Alguns problemas se resolvem apenas reiniciando o aplicativo."
    " Quando o problema continuar, anote a mensagem que aparece na tela."
    " A nossa equipe vai precisar dela para descobrir o que deu errado."
    " Você também pode nos mandar um e-mail com uma breve descrição do problema."
    " Normalmente respondemos em um dia útil."
)


@dataclass
class Case:
    voice: str
    engine: str
    language: str
    texts: dict[str, str]


CASES = {
    "joe": Case("joe", "piper", "en-US", {"3 sentences": EN_SHORT, "10 sentences": EN_LONG}),
    "af_heart": Case(
        "af_heart", "kokoro", "en-US", {"3 sentences": EN_SHORT, "10 sentences": EN_LONG}
    ),
    "pf_dora": Case(
        "pf_dora", "kokoro", "pt-BR", {"3 sentences": PT_SHORT, "10 sentences": PT_LONG}
    ),
    "espeak-en-us": Case(
        "espeak-en-us", "espeak", "en-US", {"3 sentences": EN_SHORT, "10 sentences": EN_LONG}
    ),
}


# --- one request --------------------------------------------------------------------------


@dataclass
class Sample:
    first: float  # seconds from sending to the first audio
    total: float  # seconds from sending to the last byte
    audio: float  # seconds of audio delivered
    others: float = 0.0  # share of the CPU other processes used during this request

    @property
    def rtf(self) -> float:
        return self.total / self.audio if self.audio > 0 else float("inf")


Path_ = Callable[[], Awaitable[Sample]]


def spoken_sentences(text: str, language: str) -> list[str]:
    """The pieces the service synthesises one by one for `text` (servicer `_job`)."""
    from paneas.services.tts.text import clean, normalize, split_sentences

    return split_sentences(normalize(clean(text), language), 300)


def in_process(synthesize: Callable[[str], tuple[int, int]], sentences: list[str]) -> Path_:
    """Sentence by sentence in this process; `synthesize` returns (samples, sample rate).
    Blocks the event loop while it runs: nothing else is meant to run meanwhile."""

    async def call() -> Sample:
        started = time.perf_counter()
        first = 0.0
        audio = PAUSE_SECONDS * (len(sentences) - 1)
        for index, sentence in enumerate(sentences):
            samples, rate = synthesize(sentence)
            audio += samples / rate
            if index == 0:
                first = time.perf_counter() - started
        return Sample(first, time.perf_counter() - started, audio)

    return call


def bare_piper(path: Path, threads: int) -> Callable[[str], tuple[int, int]]:
    import json

    import onnxruntime
    from piper import PiperVoice, SynthesisConfig
    from piper.config import PiperConfig

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    voice = PiperVoice(
        session=onnxruntime.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        ),
        config=PiperConfig.from_dict(json.loads(Path(f"{path}.json").read_text())),
    )
    config = SynthesisConfig(length_scale=voice.config.length_scale, volume=0.9)
    rate = voice.config.sample_rate

    def synthesize(text: str) -> tuple[int, int]:
        return sum(c.audio_float_array.size for c in voice.synthesize(text, config)), rate

    return synthesize


def bare_kokoro(threads: int, voice: str, language: str) -> Callable[[str], tuple[int, int]]:
    import onnxruntime
    from kokoro_onnx import Kokoro

    from paneas.services.tts import assets

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(
        str(assets.ensure_kokoro_model()), sess_options=options, providers=["CPUExecutionProvider"]
    )
    kokoro = Kokoro.from_session(session, str(assets.ensure_kokoro_voices()))
    lang = language.lower()

    def synthesize(text: str) -> tuple[int, int]:
        samples, rate = kokoro.create(text, voice=voice, speed=1.0, lang=lang)
        return len(samples), rate

    return synthesize


def bare_espeak(voice: str) -> Callable[[str], tuple[int, int]]:
    binary = shutil.which("espeak-ng") or "espeak-ng"

    def synthesize(text: str) -> tuple[int, int]:
        wav = subprocess.run(
            [binary, "-v", voice, "-s", "175", "--stdin", "--stdout"],
            input=text.encode(),
            capture_output=True,
            check=True,
        ).stdout
        rate = int.from_bytes(wav[24:28], "little")
        return (len(wav) - wav.find(b"data") - 8) // 2, rate

    return synthesize


def engine_adapter(engine, spec, language: str) -> Callable[[str], tuple[int, int]]:
    def synthesize(text: str) -> tuple[int, int]:
        return engine.synthesize(text, spec, language, 1.0).size, spec.sample_rate

    return synthesize


def grpc_stream(stub, metadata, text: str, voice: str) -> Path_:
    request = tts_pb2.StreamSynthesizeRequest(
        text=text, voice=voice, format=tts_pb2.AUDIO_FORMAT_PCM
    )

    async def call() -> Sample:
        started = time.perf_counter()
        first = None
        audio = 0.0
        async for chunk in stub.StreamSynthesize(request, metadata=metadata, timeout=300):
            if first is None and chunk.audio:
                first = time.perf_counter() - started
            audio += chunk.duration_seconds
        total = time.perf_counter() - started
        return Sample(total if first is None else first, total, audio)

    return call


def grpc_unary(stub, metadata, text: str, voice: str) -> Path_:
    request = tts_pb2.SynthesizeRequest(text=text, voice=voice, format=tts_pb2.AUDIO_FORMAT_WAV)

    async def call() -> Sample:
        started = time.perf_counter()
        response = await stub.Synthesize(request, metadata=metadata, timeout=300)
        total = time.perf_counter() - started
        return Sample(total, total, response.duration_seconds)

    return call


def decoded_seconds(data: bytes) -> float:
    import av

    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        return sum(frame.samples / frame.sample_rate for frame in container.decode(stream))


def rest_speech(client: httpx.AsyncClient, url: str, case: Case, text: str, fmt: str) -> Path_:
    body = {"model": case.engine, "input": text, "voice": case.voice, "response_format": fmt}

    async def call() -> Sample:
        started = time.perf_counter()
        first = None
        parts: list[bytes] = []
        async with client.stream("POST", f"{url}/v1/audio/speech", json=body) as response:
            if response.status_code != 200:
                await response.aread()
                raise RuntimeError(f"REST {response.status_code}: {response.text}")
            async for data in response.aiter_raw():
                if data and first is None:
                    first = time.perf_counter() - started
                parts.append(data)
        total = time.perf_counter() - started
        data = b"".join(parts)
        if fmt == "pcm":
            audio = len(data) / 2 / OPENAI_PCM_RATE
        elif fmt == "wav":
            audio = (len(data) - 44) / 2 / int.from_bytes(data[24:28], "little")
        else:
            audio = decoded_seconds(data)  # after the clock stopped
        return Sample(total if first is None else first, total, audio)

    return call


def rest_unary(client: httpx.AsyncClient, url: str, case: Case, text: str) -> Path_:
    body = {"text": text, "voice": case.voice, "format": "wav"}

    async def call() -> Sample:
        started = time.perf_counter()
        response = await client.post(f"{url}/api/v1/tts", json=body)
        total = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"REST {response.status_code}: {response.text}")
        return Sample(total, total, float(response.headers["x-audio-duration"]))

    return call


# --- services -----------------------------------------------------------------------------


@contextmanager
def tts_service(token: str) -> Iterator[tuple[str, ServiceProcess]]:
    with grpc_service(
        "tts", {"API_TOKENS": token, "TTS_METRICS_PORT": str(free_port())}
    ) as running:
        yield running


# --- measuring ----------------------------------------------------------------------------


LABELS = {
    "bare": "bare library",
    "engine": "engine adapter, in-process",
    "grpc-stream": "gRPC StreamSynthesize (pcm)",
    "grpc-unary": "gRPC Synthesize (wav)",
    "rest-pcm": "REST /v1/audio/speech pcm",
    "rest-wav": "REST /v1/audio/speech wav",
    "rest-mp3": "REST /v1/audio/speech mp3",
    "rest-opus": "REST /v1/audio/speech opus",
    "rest-unary": "REST /api/v1/tts wav (unary)",
}


def quiet(result: PathResult, max_others: float) -> PathResult:
    return PathResult([s for s in result.samples if s.others <= max_others])


def print_case(
    title: str, results: dict[str, PathResult], foreign: float, rounds: int, max_others: float
) -> None:
    bare = results["bare"]
    print(f"\n{title}: {rounds} rounds; other processes' CPU meanwhile: {foreign:.1%}")
    print(
        f"{'path':<30} {'TTFA p50':>9} {'p95':>7} {'x bare':>7} {'+ms':>7} "
        f"{'total p50':>10} {'RTF p50':>8} {'p95':>6} {'x bare':>7} {'audio s':>8}  "
        f"quiet: {'n':>2} {'TTFA p50':>8} {'RTF p50':>7}"
    )
    calm_bare = quiet(bare, max_others)
    for name, result in results.items():
        first = result.p("first", 0.5)
        calm = quiet(result, max_others)
        calm_figures = (
            f"{calm.p('first', 0.5) * 1000:5.0f} ms {calm.p('rtf', 0.5):7.3f}"
            if calm.samples
            else f"{'-':>8} {'-':>7}"
        )
        if calm.samples and calm_bare.samples and name != "bare":
            calm_figures += f" (x{calm.p('first', 0.5) / calm_bare.p('first', 0.5):.2f})"
        print(
            f"{LABELS[name]:<30} {first * 1000:6.0f} ms {result.p('first', 0.95) * 1000:7.0f} "
            f"{first / bare.p('first', 0.5):7.2f} {(first - bare.p('first', 0.5)) * 1000:+7.0f} "
            f"{result.p('total', 0.5) * 1000:7.0f} ms {result.p('rtf', 0.5):8.3f} "
            f"{result.p('rtf', 0.95):6.3f} {result.p('rtf', 0.5) / bare.p('rtf', 0.5):7.3f} "
            f"{result.p('audio', 0.5):8.2f}  {len(calm.samples):>9} {calm_figures}",
            flush=True,
        )


def encoding_costs(sentences_audio: list[np.ndarray], rate: int, repeats: int) -> None:
    """The service's streaming encoder alone, per format, on the given sentences' audio."""
    from paneas.services.tts.encoding import Encoder

    seconds = sum(a.size for a in sentences_audio) / rate
    print(
        f"\nstreaming Encoder alone on {seconds:.1f} s of Piper audio ({len(sentences_audio)} "
        f"sentences, {rate} Hz), best of {repeats}; ms per second of audio, first chunk:"
    )
    for fmt, out_rate in (
        ("pcm", rate),
        ("pcm", OPENAI_PCM_RATE),
        ("wav", rate),
        ("mp3", rate),
        ("opus", 24000),
        ("flac", rate),
        ("aac", rate),
    ):
        totals, firsts = [], []
        for _ in range(repeats):
            started = time.perf_counter()
            encoder = Encoder(fmt, rate, out_rate, streaming=True)
            first = 0.0
            for index, audio in enumerate(sentences_audio):
                encoder.encode(audio)
                if index == 0:
                    first = time.perf_counter() - started
            encoder.finish()
            totals.append(time.perf_counter() - started)
            firsts.append(first)
        print(
            f"  {fmt:<5} at {out_rate:>5} Hz  {min(totals) / seconds * 1000:7.2f} ms/s   "
            f"first sentence {min(firsts) * 1000:6.2f} ms"
        )


# --- report -------------------------------------------------------------------------------


def machine() -> str:
    from importlib.metadata import version

    espeak = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True).stdout
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    return (
        f"{describe()}, piper-tts {version('piper-tts')}, kokoro-onnx "
        f"{version('kokoro-onnx')}, onnxruntime {version('onnxruntime')}, "
        f"{' '.join(espeak.split()[:4])}, grpcio {grpc.__version__}; commit {commit}"
    )


async def run(args: argparse.Namespace) -> None:
    from paneas.services.tts.__main__ import build_engines
    from paneas.services.tts.settings import TtsSettings

    token = secrets.token_urlsafe(16)
    work = Path(tempfile.mkdtemp(prefix="paneas-bench-tts-"))
    settings = TtsSettings()
    threads = settings.thread_count()
    cases = [CASES[name] for name in args.voices.split(",")]
    needed = {case.engine for case in cases}
    engines = {name: e for name, e in build_engines(settings).items() if name in needed}
    for engine in engines.values():
        engine.load()
    specs = {v.name: v for e in engines.values() for v in e.voices()}
    from paneas.services.tts.engines.piper import model_path

    joe_path = model_path("packaged:joe")

    with (
        tts_service(token) as (target, service),
        gateway(token, {"tts": target}, work) as (url, gw),
    ):
        pids = [service.process.pid, gw.process.pid]
        metadata = (("authorization", f"Bearer {token}"),)
        async with (
            grpc.aio.insecure_channel(target) as channel,
            httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=300) as http,
        ):
            stub = tts_pb2_grpc.TtsServiceStub(channel)
            met: dict[str, float] = {}
            for case in cases:
                if case.engine == "piper":
                    bare = bare_piper(joe_path, threads)
                elif case.engine == "kokoro":
                    bare = bare_kokoro(threads, case.voice, case.language)
                else:
                    bare = bare_espeak(specs[case.voice].engine_voice)
                adapter = engine_adapter(engines[case.engine], specs[case.voice], case.language)
                for label, text in case.texts.items():
                    long = label.startswith("10")
                    rounds = args.kokoro_rounds if case.engine == "kokoro" else args.rounds
                    if long:
                        rounds = (
                            args.kokoro_long_rounds
                            if case.engine == "kokoro"
                            else (args.long_rounds if case.engine == "piper" else args.rounds)
                        )
                    if rounds <= 0:
                        continue
                    sentences = spoken_sentences(text, case.language)
                    paths: dict[str, Path_] = {
                        "bare": in_process(bare, sentences),
                        "engine": in_process(adapter, sentences),
                        "grpc-stream": grpc_stream(stub, metadata, text, case.voice),
                        "grpc-unary": grpc_unary(stub, metadata, text, case.voice),
                        "rest-pcm": rest_speech(http, url, case, text, "pcm"),
                        "rest-wav": rest_speech(http, url, case, text, "wav"),
                    }
                    if not long and case.engine != "kokoro":
                        paths["rest-mp3"] = rest_speech(http, url, case, text, "mp3")
                        paths["rest-opus"] = rest_speech(http, url, case, text, "opus")
                        paths["rest-unary"] = rest_unary(http, url, case, text)
                    if case.engine == "kokoro" or (long and case.engine == "piper"):
                        # Slow engines: the paths that answer the question, no more.
                        for name in ("grpc-unary", "rest-wav"):
                            paths.pop(name)
                    watch = ForeignLoad(lambda: pids)
                    results = await interleaved(paths, rounds, args.warmup, lambda: pids)
                    title = (
                        f"{case.voice} ({case.engine}, {case.language}), {label} "
                        f"({len(sentences)} pieces, first {len(sentences[0])} chars)"
                    )
                    print_case(title, results, watch.share(), rounds, args.quiet)
                    if case.engine == "piper" and not long:
                        for name in ("grpc-stream", "rest-pcm"):
                            met[name] = results[name].p("first", 0.5) * 1000
                            met[name + " p95"] = results[name].p("first", 0.95) * 1000
                            calm = quiet(results[name], args.quiet)
                            if calm.samples:
                                met[f"{name} quiet p50"] = calm.p("first", 0.5) * 1000
            for name, value in met.items():
                print(
                    f"target: 3-sentence Piper, {name} TTFA {value:.0f} ms < "
                    f"{TTFA_TARGET_MS:g} ms: {'met' if value < TTFA_TARGET_MS else 'NOT met'}"
                )

    if "piper" in engines and args.encoding_repeats > 0:
        spec = specs["joe"]
        sentences = spoken_sentences(EN_LONG, "en-US")
        audio = [engines["piper"].synthesize(s, spec, "en-US", 1.0) for s in sentences]
        pause = np.zeros(int(PAUSE_SECONDS * spec.sample_rate), np.float32)
        audio = [np.concatenate([a, pause]) for a in audio[:-1]] + audio[-1:]
        watch = ForeignLoad(list)
        encoding_costs(audio, spec.sample_rate, args.encoding_repeats)
        print(f"other processes' CPU meanwhile: {watch.share():.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voices", default="joe,af_heart,pf_dora,espeak-en-us")
    parser.add_argument("--rounds", type=int, default=15, help="requests per path (piper, espeak)")
    parser.add_argument("--kokoro-rounds", type=int, default=3, help="requests per path, kokoro")
    parser.add_argument("--long-rounds", type=int, default=5, help="10-sentence text, piper")
    parser.add_argument(
        "--kokoro-long-rounds", type=int, default=0, help="10-sentence text, kokoro (0: skip)"
    )
    parser.add_argument("--warmup", type=int, default=1, help="warm-up requests per path")
    parser.add_argument("--encoding-repeats", type=int, default=5)
    parser.add_argument(
        "--quiet", type=float, default=0.1, help="'quiet' requests: others used at most this"
    )
    parser.add_argument("--max-load", type=float, default=1.5)
    parser.add_argument("--patience", type=float, default=300, help="seconds to wait for it")
    args = parser.parse_args()

    LOGS.mkdir(exist_ok=True)
    started = time.monotonic()
    load = wait_for_quiet(args.max_load, args.patience)
    print(f"machine: {machine()}; load average at start {load:.2f}", flush=True)
    asyncio.run(run(args))
    print(
        f"\nload average at end {os.getloadavg()[0]:.2f}; {time.monotonic() - started:.0f} s in "
        f"all; service logs in {LOGS}"
    )


if __name__ == "__main__":
    main()
