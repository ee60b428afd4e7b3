"""TTS metrics (the runtime counts the RPCs themselves), by engine and voice."""

from prometheus_client import Counter, Gauge, Histogram

_LABELS = ["engine", "voice"]

CHARACTERS = Counter(
    "paneas_tts_characters_total", "Characters of text synthesised (as sent).", _LABELS
)
SENTENCES = Counter(
    "paneas_tts_sentences_total", "Sentences synthesised (a stream's unit of work).", _LABELS
)
AUDIO_SECONDS = Counter("paneas_tts_audio_seconds_total", "Seconds of audio produced.", _LABELS)
REAL_TIME_FACTOR = Histogram(
    "paneas_tts_real_time_factor",
    "Synthesis time divided by the audio's duration, per request (below 1: faster than real time).",
    _LABELS,
    buckets=(0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 5),
)
TIME_TO_FIRST_AUDIO = Histogram(
    "paneas_tts_time_to_first_audio_seconds",
    "From a request's arrival to its first audio (the first chunk of a stream, the whole "
    "answer of a unary call).",
    [*_LABELS, "rpc"],
    buckets=(0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30),
)
QUEUE_DEPTH = Gauge("paneas_tts_queue_depth", "Sentences waiting for a worker.")
REJECTIONS = Counter("paneas_tts_rejections_total", "Requests refused with RESOURCE_EXHAUSTED.")
