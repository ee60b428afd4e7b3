"""LLM metrics, named after vLLM's (`vllm:time_to_first_token_seconds` ->
`paneas_llm_time_to_first_token_seconds`, ...) so dashboards carry over; labelled by the served
model name and the engine kind."""

from prometheus_client import Counter, Gauge, Histogram

_LABELS = ["model_name", "engine"]
_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80)

TIME_TO_FIRST_TOKEN = Histogram(
    "paneas_llm_time_to_first_token_seconds",
    "From the request's arrival to its first generated token (routing and queueing included).",
    _LABELS,
    buckets=_LATENCY_BUCKETS,
)
INTER_TOKEN_LATENCY = Histogram(
    "paneas_llm_inter_token_latency_seconds",
    "Time between two streamed deltas of one request.",
    _LABELS,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.1, 0.25, 0.5, 1, 2.5),
)
E2E_LATENCY = Histogram(
    "paneas_llm_e2e_request_latency_seconds",
    "From the request's arrival to its last token.",
    _LABELS,
    buckets=_LATENCY_BUCKETS,
)
PROMPT_TOKENS = Counter("paneas_llm_prompt_tokens_total", "Prompt tokens processed.", _LABELS)
GENERATION_TOKENS = Counter("paneas_llm_generation_tokens_total", "Tokens generated.", _LABELS)
TOKENS_PER_SECOND = Histogram(
    "paneas_llm_generation_tokens_per_second",
    "Generated tokens per second of decoding, per request (first token to last).",
    _LABELS,
    buckets=(5, 10, 20, 40, 60, 80, 100, 150, 200, 300, 500, 1000),
)
REQUESTS_RUNNING = Gauge(
    "paneas_llm_num_requests_running", "Requests generating tokens now.", ["engine"]
)
REQUESTS_WAITING = Gauge(
    "paneas_llm_num_requests_waiting",
    "Requests routed to an engine that has not produced their first token yet.",
    ["engine"],
)
REQUESTS_FINISHED = Counter(
    "paneas_llm_request_success_total",
    "Requests finished, by finish reason (stop, length, tool_calls, abort, error).",
    [*_LABELS, "finished_reason"],
)
ROUTER_DECISIONS = Counter(
    "paneas_llm_router_decisions_total",
    "Routing decisions: the name asked for, the model chosen first, and why.",
    ["requested", "model_name", "reason"],
)
FALLBACKS = Counter(
    "paneas_llm_fallbacks_total",
    "Moves from a failing model to the next in its fallback chain.",
    ["from_model", "to_model", "reason"],
)
CIRCUIT_STATE = Gauge(
    "paneas_llm_circuit_state",
    "Each engine's circuit breaker: 0 closed, 1 half-open (one trial), 2 open (skipped).",
    ["engine_name"],
)
