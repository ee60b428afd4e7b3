"""ASR service settings, from `ASR_*` environment variables."""

import os
from typing import Annotated, Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from paneas.services.runtime import wire
from paneas.services.runtime.settings import CommaSeparated, ServerSettings


class AsrSettings(ServerSettings):
    model_config = SettingsConfigDict(env_prefix="ASR_", extra="ignore")

    port: int = wire.DEFAULT_PORTS["asr"]
    metrics_port: int = wire.DEFAULT_METRICS_PORTS["asr"]
    # Path to a CTranslate2 Whisper directory or a faster-whisper id ("large-v3",
    # "Systran/faster-whisper-small", ...); "base" is the packaged model, the offline default.
    model: str = "base"
    # One process per device: run one instance per GPU with its own index.
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    device_index: int = 0
    # Read by the launcher (`paneas`), which runs this many ASR processes behind Envoy,
    # instance i on port `port + 10*i` (metrics likewise) and device `device_indexes[i]`;
    # without the list, instance i gets device i on CUDA and `device_index` on CPU.
    instances: int = 2
    device_indexes: Annotated[list[int], *CommaSeparated] = []

    def instance_device_index(self, instance: int) -> int:
        if self.device_indexes:
            return self.device_indexes[instance]
        return instance if self.device == "cuda" else self.device_index

    # "default" picks int8 on CPU and float16 on GPU; any CTranslate2 type is accepted.
    compute_type: str = "default"
    # CTranslate2 intra-op threads per decode (0: all cores, so a lone file decodes as fast
    # as bare faster-whisper; two busy slots then share the cores).
    cpu_threads: int = 0
    # Decodes that run at once (CTranslate2 workers, replicas sharing one copy of the
    # weights). Two even on a 2-core CPU: one decode leaves cores idle in its serial stretches
    # (audio decoding, VAD, word alignment, the last partial batch) and every live final
    # waits behind any other decode. Measured (docs/benchmarks.md, "Two decode slots by
    # default"): 4 live streams' final p95 from 2.0-4.4 s to under 1 s, a job's chunks from
    # 1.35x to 0.95-1.04x bare faster-whisper, a lone file the same as with one slot.
    workers: int = 2
    # Work waiting for a worker beyond which new work is refused with RESOURCE_EXHAUSTED.
    max_queue: int = 8
    # Live streams admitted at once; one more is refused with RESOURCE_EXHAUSTED. 0: two per
    # CPU core (measured: a 2-core box keeps up with 4 real-time streams on base with beam 5
    # and word timings; see docs/benchmarks.md), 16 on a GPU.
    max_streams: int = 0

    def model_post_init(self, context: object) -> None:
        if self.device_indexes and len(self.device_indexes) != self.instances:
            raise ValueError(
                f"ASR_DEVICE_INDEXES has {len(self.device_indexes)} entries for "
                f"ASR_INSTANCES={self.instances}"
            )

    def stream_limit(self) -> int:
        if self.max_streams:
            return self.max_streams
        if self.device == "cpu":
            return 2 * (os.cpu_count() or 1)
        return 16

    # Seconds a refused caller is told to wait before retrying.
    retry_after_seconds: float = 1.0
    # Segments decoded together by the batched pipeline.
    batch_size: int = 8
    # Beam size when a request leaves it at 0.
    beam_size: int = 5
    # Files with vad_filter: the longest pause between two stretches of speech that Whisper
    # hears (beyond the VAD's 0.4 s of padding on each side; longer ones are shortened to
    # this). Pauses make Whisper's text better on call-like recordings and cost clips: on
    # the quality benchmark's calls WER 0.075 with every pause whole (the default: no pause
    # inside a 30 s clip is longer), 0.100 with 0.3 s, as bare faster-whisper; on 30 min of
    # calls 1.41x bare's time whole, 1.20x with 0.3 s. A throughput knob, not a free gain
    # (services/asr/batch.py, docs/benchmarks.md "Jobs").
    file_pause_seconds: float = Field(default=30.0, ge=0.0)
    # Longest file Recognize / RecognizeStream accepts, seconds: refused before decoding when
    # the container states a longer duration, and cut off (OUT_OF_RANGE) at this much decoded
    # audio when it does not.
    max_audio_seconds: float = 4 * 3600
    # Decoded audio one file request holds at a time (64 kB per second: 300 s is 19 MB, and
    # the VAD's work over it ~140 MB): files are decoded and transcribed window by window, so
    # this, not the file's length or compression ratio, bounds a request's memory. Each window
    # takes the decode slot anew, so a short request waits for one window of a long file,
    # not for all of it. Not smaller: every window ends in a short clip that costs a whole
    # 30 s encoder pass and a part-empty batch; 120 s windows cost 11-17% more CPU than 300 s
    # on long files, and a job's 300 s chunk (JOBS_CHUNK_SECONDS) is then one window
    # (docs/benchmarks.md, "Jobs"). On a GPU, 240-480 fills batches of 8 x 30 s.
    decode_window_seconds: float = 300.0
    # Longest file Align accepts, seconds: alignment needs the whole file decoded at once
    # (64 kB per second: 1800 s is 115 MB).
    max_align_seconds: float = 1800.0
    # Longest live stream, seconds.
    max_stream_seconds: float = 4 * 3600
    # Largest single streamed audio chunk, bytes.
    max_chunk_bytes: int = 1024 * 1024
    # Streaming endpointing defaults, milliseconds.
    silence_duration_ms: int = 500
    max_utterance_ms: int = 30_000
    # New speech between interim results, milliseconds.
    interim_interval_ms: int = 500
    # A live final of at most this many seconds of audio is decoded after the utterance
    # before it (if that was as short), with that one's text as the decode's prefix: short
    # phrases decoded alone lose words a file's decoder gets right (engine.py
    # `transcribe_utterance`). Such a decode costs 25-40% more (the prefix's tokens are
    # decoded and aligned too), so only the shortest phrases, where decoding alone fails,
    # get it: with 4 s, 4 live streams on 2 cores missed the final p95 target (1230 ms), with
    # 2 s they met it (891 ms), both at the batch WER. 0 turns it off.
    live_context_seconds: float = Field(default=2.0, ge=0.0, le=15.0)
    # Speech probability above which a VAD frame counts as speech.
    vad_threshold: float = 0.5
    # Audio decoded and transcribed once at start, so the first request pays no warm-up.
    warmup: bool = True

    # LLM insights on live streams (`enable_insights`): where the LLM service listens. Empty
    # turns insights off, and streams that ask for them are refused with FAILED_PRECONDITION.
    llm_target: str = f"127.0.0.1:{wire.DEFAULT_PORTS['llm']}"
    # Model (or tier) insights are asked of; "auto" lets the LLM router pick by prompt size.
    insight_model: str = "auto"
    # At most one insight request per stream in this many seconds, and only after new final
    # text: a long meeting costs the LLM one short call per interval, not one per utterance.
    insight_min_interval_seconds: float = 5.0
    # Deadline of one insight request; a slower LLM counts as failing, never as blocking.
    insight_timeout_seconds: float = 20.0
    # How long the closing summary may hold back the end of a stream after its last final.
    summary_timeout_seconds: float = 15.0
    # Most tokens an insight or the closing summary may generate.
    insight_max_tokens: int = 120

    # Speaker diarization (`config.diarization.enable` on Recognize / RecognizeStream). Off:
    # requests that ask for it are refused with FAILED_PRECONDITION. The speaker models
    # (torch, ~30 MB of weights) are loaded on the first request that asks, or at start with
    # `diarization_preload`; a service that is never asked never imports torch.
    diarization_enabled: bool = True
    diarization_preload: bool = False
    # torch's intra-op threads for the VAD and speaker-embedding passes (process-wide): one
    # core keeps RTF well under 0.1 (docs/benchmarks.md) and leaves the rest to Whisper.
    diarization_cpu_threads: int = 1
    # Cosine similarity between a known speaker's reference sample and a speaker's voice at
    # or above which that speaker takes the known name. Measured on the test conversation
    # (tests/support/speakers.py): the same voice from another clip 0.85-0.95, other voices
    # of it 0.30-0.50, synthesised voices that are not in it 0.32-0.52.
    diarization_known_threshold: float = 0.6
    # Live streams (`StreamingRecognitionConfig.config.diarization`): cosine similarity between
    # a final utterance's voice and a speaker's (one heard on the stream, or a known one) at or
    # above which the utterance is that speaker's; below it for every speaker, it is a new one.
    # Measured on the test conversation: 0.45-0.55 label every utterance consistently
    # (services/asr/speakers.py); narrowband or heavily processed audio, where every voice
    # sounds more alike, wants more (~0.65).
    diarization_live_threshold: float = 0.5
