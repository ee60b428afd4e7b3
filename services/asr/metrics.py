"""ASR-specific Prometheus metrics (the runtime counts the RPCs themselves)."""

from prometheus_client import Counter, Gauge, Histogram

_RESULT_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 10)

AUDIO_SECONDS = Counter(
    "paneas_asr_audio_seconds_total",
    "Seconds of audio processed, by RPC (recognize, stream, align).",
    ["rpc"],
)
REAL_TIME_FACTOR = Histogram(
    "paneas_asr_real_time_factor",
    "Decode time divided by audio duration, per decode (below 1 is faster than real time).",
    ["kind"],
    buckets=(0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 5),
)
ACTIVE_STREAMS = Gauge("paneas_asr_active_streams", "Live streams open now.")
QUEUE_DEPTH = Gauge("paneas_asr_queue_depth", "Decodes waiting for a slot.")
INTERIM_LATENCY = Histogram(
    "paneas_asr_interim_latency_seconds",
    "Time from the arrival of the audio that triggered an interim result to the result.",
    buckets=_RESULT_BUCKETS,
)
FINAL_LATENCY = Histogram(
    "paneas_asr_final_latency_seconds",
    "Time from the arrival of the audio that ended an utterance to its final result.",
    buckets=_RESULT_BUCKETS,
)
REJECTIONS = Counter(
    "paneas_asr_rejections_total",
    "Work refused with RESOURCE_EXHAUSTED, by reason (streams, queue).",
    ["reason"],
)
SKIPPED_INTERIMS = Counter(
    "paneas_asr_skipped_interims_total",
    "Interim decodes skipped because newer audio or a final superseded them.",
)
LOOPS_CUT = Counter(
    "paneas_asr_loops_cut_total",
    "Live decodes that ended in a repetition loop, cut after its first pass.",
)
SPECULATIONS = Counter(
    "paneas_asr_speculative_finals_total",
    "Final decodes started at a short pause, by outcome (used when the pause ended the "
    "utterance, abandoned when speech went on).",
    ["outcome"],
)
INSIGHT_REQUESTS = Counter(
    "paneas_asr_insight_requests_total",
    "LLM requests for live insights, by kind (periodic, closing) and outcome (ok, failed).",
    ["kind", "outcome"],
)
STREAM_FAILURES = Counter(
    "paneas_asr_stream_failures_total",
    "Unexpected failures in live streams, by scope: utterance (that utterance got an error "
    "result, the stream went on), interim (dropped), stream (the RPC ended with INTERNAL).",
    ["scope"],
)
LIVE_VOICE_SECONDS = Histogram(
    "paneas_asr_live_voice_seconds",
    "Time to embed one live utterance's voice for its speaker label (enable diarization).",
    buckets=(0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2),
)
LIVE_SPEAKER_WAIT = Histogram(
    "paneas_asr_live_speaker_wait_seconds",
    "Time a live final with diarization waited for its utterance's voice after its text was "
    "decoded: the latency speaker labels add (0 when the voice was ready first).",
    buckets=(0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2),
)
DIARIZATION_SECONDS = Histogram(
    "paneas_asr_diarization_seconds",
    "Time spent on a file's (or channel's) speaker diarization: VAD, embeddings, clustering.",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
)
DIARIZATION_RTF = Histogram(
    "paneas_asr_diarization_real_time_factor",
    "Diarization time divided by the audio's duration, per file or channel.",
    buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1),
)
SPEAKERS_FOUND = Histogram(
    "paneas_asr_diarization_speakers",
    "Speakers told apart in a diarized file (or channel).",
    buckets=(0, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 32),
)
SPEAKER_MODELS_LOADED = Gauge(
    "paneas_asr_speaker_models_loaded",
    "1 once the diarization models (torch, VAD, CAM++) are loaded in this process, else 0.",
)
