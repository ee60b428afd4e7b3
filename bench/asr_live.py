"""ASR live benchmark: latency of StreamingRecognize under 1, 2 and 4 real-time streams, and
the naive "re-transcribe the growing buffer" loop on the same model as a baseline.

    .venv/bin/python -m bench.asr_live [--quick] [--streams 1,2,4] [--seconds 60] [--show-text]
        [--diarize]

Each stream sends PCM16 at real-time pace (100 ms chunks on an absolute schedule, so the
pace does not drift) with {language, interim_results, word_timestamps}. Stream i speaks
English (even i) or Portuguese (odd i): a rotation of that language's test clips, 0.5 s
apart, so no two streams pause together. Measured in the client:
  final      arrival of a final minus the moment the audio up to (speech end + 500 ms, the
             default endpointing silence) had been sent: the earliest any endpointer could
             know the utterance was over. "From speech end" adds those 500 ms back.
  interim    arrival of an interim minus the moment the audio up to its end had been sent
  coverage   for every 100 ms of speech, the first result (interim or final) reaching it,
             minus the moment that audio had been sent: comparable with the naive loop's lag
  kept up    the summary arrives within 1.5 s of the last audio, and no final is more than
             5 s late (lag stays bounded; a backlog shows up as a worst case of tens of s)
With --diarize every stream asks for speaker labels (`config.diarization.enable`): the same
figures, then what the labels cost in the service (the time to embed an utterance's voice, and
what a final waited for it after its text was decoded, from the service's metrics) and the
labels each stream got, clip by clip. Run it with and without to compare the live figures.
Then the WER of the streamed finals next to batch Recognize of the same audio, and the naive
baseline in this process: every time >= 1 s of new audio has arrived (and the previous pass
is done), faster-whisper transcribes the whole buffer since the last commit (a commit when
the buffer passes 30 s, and at the end). Results go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import secrets
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field

import grpc
import numpy as np
from faster_whisper import WhisperModel
from prometheus_client.parser import text_string_to_metric_families

from bench.asr import (
    DEFAULT_WORKERS,
    GAP_SECONDS,
    SAMPLE_RATE,
    AsrService,
    Clip,
    asr_service,
    bare_model,
    concatenate,
    load_clips,
    to_float32,
    wav_bytes,
)
from bench.load import phase, wait_for_quiet
from bench.machine import describe
from bench.stats import percentile
from paneas.asr.v1 import asr_pb2, asr_pb2_grpc
from paneas.services.asr.evaluation import normalize_words, wer

CHUNK_SECONDS = 0.1
CHUNK_SAMPLES = int(CHUNK_SECONDS * SAMPLE_RATE)
SILENCE_SECONDS = 0.5  # the service's default endpointing silence (ASR_SILENCE_DURATION_MS)
TRAILING_SILENCE = 1.5  # after the last clip, so the last utterance ends by endpointing too
SUMMARY_DEADLINE = 1.5
# Kept up: no result later than this. A backlog that builds up and drains in one burst
# (seen with 4 streams) defeats any fit of lag against time; the worst case does not.
WORST_LAG = 5.0
NAIVE_STEP_SECONDS = 1.0
NAIVE_COMMIT_SECONDS = 30.0
LANGUAGES = ("en", "pt")
_EPSILON = 1e-6


# --- what each stream says ---------------------------------------------------------------


@dataclass(frozen=True)
class StreamPlan:
    language: str
    clips: list[Clip]
    samples: np.ndarray = field(repr=False)  # int16, trailing silence included
    diarize: bool = False

    @property
    def seconds(self) -> float:
        return self.samples.size / SAMPLE_RATE

    @property
    def transcript(self) -> str:
        return " ".join(clip.transcript for clip in self.clips)

    def chunks(self) -> list[bytes]:
        data = self.samples.astype("<i2").tobytes()
        step = CHUNK_SAMPLES * 2
        return [data[start : start + step] for start in range(0, len(data), step)]


def stream_plans(count: int, min_seconds: float, diarize: bool = False) -> list[StreamPlan]:
    clips_by_language: dict[str, list[Clip]] = {language: [] for language in LANGUAGES}
    for clip in load_clips():
        clips_by_language[clip.language].append(clip)
    plans = []
    for index in range(count):
        language = LANGUAGES[index % len(LANGUAGES)]
        pool = clips_by_language[language]
        shift = (index // len(LANGUAGES)) % len(pool)
        rotation = pool[shift:] + pool[:shift]
        clips: list[Clip] = []
        while sum(c.seconds + GAP_SECONDS for c in clips) < min_seconds:
            clips.append(rotation[len(clips) % len(rotation)])
        tail = np.zeros(int(TRAILING_SILENCE * SAMPLE_RATE), dtype=np.int16)
        samples = np.concatenate([concatenate(clips), tail])
        plans.append(StreamPlan(language, clips, samples, diarize))
    return plans


# --- one live stream, client side --------------------------------------------------------


@dataclass(frozen=True)
class Result:
    arrived: float
    utterance: int
    start: float
    end: float
    text: str
    speaker: str = ""


@dataclass
class StreamLog:
    plan: StreamPlan
    due: list[float] = field(default_factory=list)
    sent: list[float] = field(default_factory=list)
    closed: float = 0.0
    finals: list[Result] = field(default_factory=list)
    interims: list[Result] = field(default_factory=list)
    speech_ended: list[float] = field(default_factory=list)
    summary_arrived: float | None = None
    error: str | None = None

    def sent_by(self, seconds: float) -> float:
        """When the audio up to `seconds` from the start had been sent."""
        index = math.ceil(seconds / CHUNK_SECONDS - _EPSILON) - 1
        return self.closed if index >= len(self.sent) else self.sent[max(0, index)]

    def speech_end_of(self, final: Result) -> float | None:
        """The SPEECH_ENDED offset inside the final's span (its end adds the kept tail)."""
        inside = [e for e in self.speech_ended if final.start < e <= final.end + _EPSILON]
        return max(inside) if inside else None

    @property
    def transcript(self) -> str:
        return " ".join(f.text for f in sorted(self.finals, key=lambda f: f.utterance))


def streaming_config(language: str, diarize: bool = False) -> asr_pb2.StreamingRecognizeRequest:
    return asr_pb2.StreamingRecognizeRequest(
        streaming_config=asr_pb2.StreamingRecognitionConfig(
            config=asr_pb2.RecognitionConfig(
                language=language,
                word_timestamps=True,
                diarization=asr_pb2.DiarizationConfig(enable=diarize),
            ),
            encoding=asr_pb2.AUDIO_ENCODING_PCM_S16LE,
            sample_rate_hertz=SAMPLE_RATE,
            interim_results=True,
        )
    )


async def paced_requests(
    log: StreamLog, start: float, paced: bool
) -> AsyncIterator[asr_pb2.StreamingRecognizeRequest]:
    """Chunk k goes out at start + (k + 1) * 100 ms, when it has been 'spoken'."""
    yield streaming_config(log.plan.language, log.plan.diarize)
    for index, chunk in enumerate(log.plan.chunks()):
        due = start + (index + 1) * CHUNK_SECONDS
        if paced:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
        log.due.append(due)
        log.sent.append(time.perf_counter())
        yield asr_pb2.StreamingRecognizeRequest(audio=chunk)
    log.closed = time.perf_counter()


def record(log: StreamLog, response: asr_pb2.StreamingRecognizeResponse, now: float) -> None:
    for result in response.results:
        entry = Result(
            now,
            result.utterance_index,
            result.start_seconds,
            result.end_seconds,
            result.transcript,
            result.speaker,
        )
        (log.finals if result.is_final else log.interims).append(entry)
    if response.speech_event.type == asr_pb2.SPEECH_EVENT_TYPE_SPEECH_ENDED:
        log.speech_ended.append(response.speech_event.offset_seconds)
    if response.HasField("summary"):
        log.summary_arrived = now


async def run_stream(
    service: AsrService, plan: StreamPlan, start: float, paced: bool = True
) -> StreamLog:
    log = StreamLog(plan)
    async with grpc.aio.insecure_channel(service.target) as channel:
        stub = asr_pb2_grpc.AsrServiceStub(channel)
        call = stub.StreamingRecognize(paced_requests(log, start, paced), metadata=service.metadata)
        try:
            async for response in call:
                record(log, response, time.perf_counter())
        except grpc.aio.AioRpcError as error:
            log.error = f"{error.code().name}: {error.details()}"
    return log


async def run_streams(service: AsrService, plans: list[StreamPlan]) -> list[StreamLog]:
    start = time.perf_counter() + 0.5  # every stream opens before the first chunk is due
    return list(await asyncio.gather(*(run_stream(service, plan, start) for plan in plans)))


# --- live figures ------------------------------------------------------------------------


@dataclass
class LiveFigures:
    final: list[float] = field(default_factory=list)
    from_speech_end: list[float] = field(default_factory=list)
    interim: list[float] = field(default_factory=list)
    coverage: list[float] = field(default_factory=list)
    summary_delay: list[float] = field(default_factory=list)
    streams: int = 0
    send_late: float = 0.0
    unmatched_finals: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def kept_up(self) -> bool:
        return (
            not self.errors
            and len(self.summary_delay) == self.streams
            and max(self.summary_delay) <= SUMMARY_DEADLINE
            and max(self.final, default=0.0) <= WORST_LAG
        )


def coverage_lags(log: StreamLog) -> Iterable[float]:
    """For each 100 ms of every finalised utterance, the first result that reached it."""
    by_utterance: dict[int, list[Result]] = {}
    for result in log.interims + log.finals:
        by_utterance.setdefault(result.utterance, []).append(result)
    for final in log.finals:
        results = by_utterance[final.utterance]
        instant = (math.floor(final.start / CHUNK_SECONDS) + 1) * CHUNK_SECONDS
        while instant <= final.end + _EPSILON:
            first = min(r.arrived for r in results if r.end >= instant - _EPSILON)
            yield first - log.sent_by(instant)
            instant += CHUNK_SECONDS


def live_figures(logs: list[StreamLog]) -> LiveFigures:
    figures = LiveFigures(streams=len(logs))
    for log in logs:
        if log.error:
            figures.errors.append(log.error)
        for final in log.finals:
            speech_end = log.speech_end_of(final)
            if speech_end is None:
                figures.unmatched_finals += 1
                continue
            latency = final.arrived - log.sent_by(speech_end + SILENCE_SECONDS)
            figures.final.append(latency)
            figures.from_speech_end.append(final.arrived - log.sent_by(speech_end))
        figures.interim += [i.arrived - log.sent_by(i.end) for i in log.interims]
        figures.coverage += list(coverage_lags(log))
        if log.summary_arrived is not None:
            figures.summary_delay.append(log.summary_arrived - log.closed)
        lateness = [sent - due for sent, due in zip(log.sent, log.due, strict=True)]
        figures.send_late = max([figures.send_late, *lateness])
    return figures


def scrape(metrics_url: str) -> dict[str, float]:
    """The service's ASR counters, summed over labels (name{outcome=...} kept apart)."""
    with urllib.request.urlopen(metrics_url, timeout=5) as response:
        text = response.read().decode()
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if not family.name.startswith(
            (
                "paneas_asr_speculative",
                "paneas_asr_skipped",
                "paneas_asr_rejections",
                "paneas_asr_live_",
            )
        ):
            continue
        for sample in family.samples:
            if sample.name.endswith(("_created", "_bucket")):
                continue
            label = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            values[f"{sample.name}{{{label}}}"] = sample.value
    return values


def counter_changes(before: dict[str, float], after: dict[str, float]) -> str:
    changes = {
        name: after[name] - before.get(name, 0.0)
        for name in after
        if after[name] - before.get(name, 0.0)
    }
    return ", ".join(f"{name} +{value:g}" for name, value in sorted(changes.items())) or "none"


# --- the naive baseline ------------------------------------------------------------------


@dataclass(frozen=True)
class NaivePass:
    covered: float  # seconds of stream audio the pass had
    returned: float  # perf_counter
    seconds: float  # decode time


@dataclass
class NaiveLog:
    plan: StreamPlan
    start: float
    passes: list[NaivePass] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    @property
    def transcript(self) -> str:
        return " ".join(self.texts)


def naive_transcribe(model: WhisperModel, audio: np.ndarray, language: str) -> str:
    """A plain faster-whisper call with the live stream's options (language, words)."""
    segments, _ = model.transcribe(audio, language=language, beam_size=5, word_timestamps=True)
    return " ".join(segment.text.strip() for segment in segments)


def naive_stream(model: WhisperModel, plan: StreamPlan, start: float) -> NaiveLog:
    audio, total = to_float32(plan.samples), plan.samples.size
    log = NaiveLog(plan, start)
    committed = done = 0
    step = int(NAIVE_STEP_SECONDS * SAMPLE_RATE)
    while done < total:
        elapsed = time.perf_counter() - start
        arrived = min(total, int(elapsed / CHUNK_SECONDS + _EPSILON) * CHUNK_SAMPLES)
        if arrived < total and arrived - done < step:
            ready = min(done + step, total) / SAMPLE_RATE
            ready = math.ceil(ready / CHUNK_SECONDS - _EPSILON) * CHUNK_SECONDS
            time.sleep(max(0.0, start + ready - time.perf_counter()))
            continue
        began = time.perf_counter()
        text = naive_transcribe(model, audio[committed:arrived], plan.language)
        returned = time.perf_counter()
        log.passes.append(NaivePass(arrived / SAMPLE_RATE, returned, returned - began))
        done = arrived
        if arrived - committed >= NAIVE_COMMIT_SECONDS * SAMPLE_RATE or arrived == total:
            log.texts.append(text)
            committed = arrived
    return log


def run_naive(model: WhisperModel, plans: list[StreamPlan]) -> list[NaiveLog]:
    start = time.perf_counter() + 0.5
    logs: list[NaiveLog | None] = [None] * len(plans)

    def worker(index: int) -> None:
        logs[index] = naive_stream(model, plans[index], start)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(plans))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [log for log in logs if log is not None]


@dataclass
class NaiveFigures:
    lag: list[float] = field(default_factory=list)
    pass_seconds: list[float] = field(default_factory=list)
    tail: list[float] = field(default_factory=list)

    @property
    def kept_up(self) -> bool:
        return max(self.tail) <= SUMMARY_DEADLINE and max(self.lag) <= WORST_LAG


def naive_figures(logs: list[NaiveLog]) -> NaiveFigures:
    figures = NaiveFigures()
    for log in logs:
        figures.pass_seconds += [p.seconds for p in log.passes]
        figures.tail.append(log.passes[-1].returned - (log.start + log.plan.seconds))
        for chunk in range(1, math.ceil(log.plan.seconds / CHUNK_SECONDS) + 1):
            instant = min(chunk * CHUNK_SECONDS, log.plan.seconds)
            first = next(p for p in log.passes if p.covered >= instant - _EPSILON)
            lag = first.returned - (log.start + instant)
            figures.lag.append(lag)
    return figures


# --- report ------------------------------------------------------------------------------


def p50_p95(values: list[float]) -> str:
    if not values:
        return f"{'-':>13}"
    return f"{percentile(values, 0.5) * 1000:6.0f}/{percentile(values, 0.95) * 1000:<6.0f}"


def print_live(rows: dict[int, LiveFigures]) -> None:
    print("\nStreamingRecognize, real-time streams (ms; p50/p95)")
    print(
        f"{'streams':>7} {'final':>13} {'from speech end':>15} {'interim':>13} "
        f"{'coverage':>13} {'worst':>6} {'summary':>8} {'send late':>9}  kept up"
    )
    for count, f in rows.items():
        summary = max(f.summary_delay, default=float("nan"))
        notes = f"  errors: {f.errors}" if f.errors else ""
        if f.unmatched_finals:
            notes += f"  finals with no SPEECH_ENDED: {f.unmatched_finals}"
        print(
            f"{count:>7} {p50_p95(f.final)} {p50_p95(f.from_speech_end):>15} "
            f"{p50_p95(f.interim)} {p50_p95(f.coverage)} {max(f.final, default=0) * 1000:6.0f} "
            f"{summary * 1000:8.0f} {f.send_late * 1000:9.1f}  "
            f"{f.kept_up}{notes}"
        )
        print(f"{'':>7} {len(f.final)} finals, {len(f.interim)} interims")


def print_naive(rows: dict[int, NaiveFigures]) -> None:
    print("\nNaive re-transcription loop, bare faster-whisper (ms; p50/p95)")
    print(f"{'streams':>7} {'lag':>13} {'pass time':>13} {'worst':>6} {'tail':>7}  kept up")
    for count, f in rows.items():
        print(
            f"{count:>7} {p50_p95(f.lag)} {p50_p95(f.pass_seconds)} {max(f.lag) * 1000:6.0f} "
            f"{max(f.tail) * 1000:7.0f}  {f.kept_up}"
        )


def corpus_wer(pairs: list[tuple[str, str]]) -> float:
    """Word errors over reference words, pooled over (reference, hypothesis) pairs."""
    counts = [len(normalize_words(reference)) for reference, _ in pairs]
    errors = sum(wer(ref, hyp) * n for (ref, hyp), n in zip(pairs, counts, strict=True))
    return errors / sum(counts)


def print_wer(streamed: list[StreamLog], batch: list[str], naive: list[NaiveLog]) -> None:
    print("\nWER (lowercase, punctuation stripped), per language over the streams above")
    print(
        f"{'language':<9} {'words':>6} {'streamed finals':>16} {'batch Recognize':>16} "
        f"{'naive loop':>11}"
    )
    for language in LANGUAGES:
        indexes = [i for i, log in enumerate(streamed) if log.plan.language == language]
        if not indexes:
            continue
        reference = [streamed[i].plan.transcript for i in indexes]
        words = sum(len(normalize_words(text)) for text in reference)
        hypotheses = {
            "streamed": [streamed[i].transcript for i in indexes],
            "batch": [batch[i] for i in indexes],
            "naive": [naive[i].transcript for i in indexes] if naive else [],
        }
        rates = {
            name: f"{corpus_wer(list(zip(reference, texts, strict=True))):.3f}" if texts else "-"
            for name, texts in hypotheses.items()
        }
        print(
            f"{language:<9} {words:>6} {rates['streamed']:>16} {rates['batch']:>16} "
            f"{rates['naive']:>11}"
        )


def print_texts(streamed: list[StreamLog], batch: list[str], naive: list[NaiveLog]) -> None:
    """Every transcript that differs from its reference, to see what the errors are."""
    for index, log in enumerate(streamed):
        texts = {"streamed": log.transcript, "batch": batch[index]}
        if naive:
            texts["naive"] = naive[index].transcript
        for name, text in texts.items():
            if wer(log.plan.transcript, text) > 0:
                print(f"\nstream {index} ({log.plan.language}), {name}: {text}")


# --- main --------------------------------------------------------------------------------


def batch_texts(service: AsrService, plans: list[StreamPlan]) -> list[str]:
    texts = []
    with grpc.insecure_channel(service.target) as channel:
        stub = asr_pb2_grpc.AsrServiceStub(channel)
        for plan in plans:
            config = asr_pb2.RecognitionConfig(language=plan.language, vad_filter=True)
            request = asr_pb2.RecognizeRequest(config=config, audio=wav_bytes(plan.samples))
            texts.append(stub.Recognize(request, metadata=service.metadata, timeout=600).text)
    return texts


def print_speakers(
    before: dict[str, float], after: dict[str, float], logs: list[StreamLog]
) -> None:
    """What the speaker labels cost per final, and the labels each stream's clips got."""

    def mean(name: str) -> float:
        count = after.get(f"{name}_count{{}}", 0.0) - before.get(f"{name}_count{{}}", 0.0)
        total = after.get(f"{name}_sum{{}}", 0.0) - before.get(f"{name}_sum{{}}", 0.0)
        return total / count * 1000 if count else float("nan")

    print(
        f"speakers: voice embedding {mean('paneas_asr_live_voice_seconds'):.0f} ms a final "
        "on average; a final waited for its voice after its text "
        f"{mean('paneas_asr_live_speaker_wait_seconds'):.0f} ms on average",
        flush=True,
    )
    for index, log in enumerate(logs):
        labels = []
        for clip, (start, end) in zip(log.plan.clips, clip_spans(log.plan), strict=True):
            inside = {f.speaker or "-" for f in log.finals if start <= f.start < end}
            labels.append(f"{clip.name}={'/'.join(sorted(inside)) or '?'}")
        print(f"  stream {index}: {' '.join(labels)}")


def clip_spans(plan: StreamPlan) -> list[tuple[float, float]]:
    """Each clip's (start, end) in the stream, seconds, its gap after included."""
    spans, position = [], 0.0
    for clip in plan.clips:
        spans.append((position, position + clip.seconds + GAP_SECONDS))
        position += clip.seconds + GAP_SECONDS
    return spans


def measure_service(
    token: str,
    counts: list[int],
    min_seconds: float,
    workers: int = DEFAULT_WORKERS,
    diarize: bool = False,
) -> tuple[dict[int, LiveFigures], list[StreamLog], list[str]]:
    rows: dict[int, LiveFigures] = {}
    logs: list[StreamLog] = []
    with asr_service(token, workers=workers, max_streams=max(counts)) as service:
        # With --diarize the warm-up stream loads the speaker models, too.
        warm = stream_plans(1, 10, diarize)[0]
        asyncio.run(run_stream(service, warm, time.perf_counter(), paced=False))
        for count in counts:
            plans = stream_plans(count, min_seconds, diarize)
            before = scrape(service.metrics_url)
            with phase(f"{count} stream(s) of {max(p.seconds for p in plans):.1f} s", service.pids):
                logs = asyncio.run(run_streams(service, plans))
            rows[count] = live_figures(logs)
            after = scrape(service.metrics_url)
            changes = counter_changes(
                {k: v for k, v in before.items() if "_live_" not in k},
                {k: v for k, v in after.items() if "_live_" not in k},
            )
            print(f"service counters: {changes}", flush=True)
            if diarize:
                print_speakers(before, after, logs)
        batch = batch_texts(service, [log.plan for log in logs])
    return rows, logs, batch


def measure_naive(
    counts: list[int], min_seconds: float
) -> tuple[dict[int, NaiveFigures], list[NaiveLog]]:
    model = bare_model()
    naive_transcribe(model, to_float32(stream_plans(1, 5)[0].samples), "en")  # warm
    rows: dict[int, NaiveFigures] = {}
    logs: list[NaiveLog] = []
    for count in counts:
        with phase(f"naive, {count} stream(s)", list):
            logs = run_naive(model, stream_plans(count, min_seconds))
        rows[count] = naive_figures(logs)
    return rows, logs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 s streams, 1 and 2 streams")
    parser.add_argument("--streams", default="1,2,4", help="concurrent stream counts")
    parser.add_argument("--seconds", type=float, default=60, help="least audio per stream")
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument(
        "--workers", type=int, default=DEFAULT_WORKERS, help="ASR_WORKERS (decode slots)"
    )
    parser.add_argument("--show-text", action="store_true", help="print mistaken transcripts")
    parser.add_argument(
        "--diarize", action="store_true", help="speaker labels on every stream (enable diarization)"
    )
    parser.add_argument("--max-load", type=float, default=0.5)
    parser.add_argument("--patience", type=float, default=900, help="seconds to wait for it")
    args = parser.parse_args()
    counts = [1, 2] if args.quick else [int(n) for n in args.streams.split(",")]
    seconds = 20 if args.quick else args.seconds

    load = wait_for_quiet(args.max_load, args.patience)
    print(f"machine: {describe()}; load average at start {load:.2f}", flush=True)
    token = secrets.token_urlsafe(16)
    live, logs, batch = measure_service(token, counts, seconds, args.workers, args.diarize)
    print_live(live)
    naive_logs: list[NaiveLog] = []
    if not args.skip_naive:
        naive, naive_logs = measure_naive(counts, seconds)
        print_naive(naive)
    print_wer(logs, batch, naive_logs)
    if args.show_text:
        print_texts(logs, batch, naive_logs)
    print(f"\nload average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
