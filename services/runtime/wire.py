"""Metadata keys that a service sends and its callers read, spelt once.

The gateway passes some of them on as HTTP headers of the same name (`x-paneas-model`,
`x-paneas-route`), so a rename here is a change of the public API.
"""

# Trailing metadata of a RESOURCE_EXHAUSTED refusal: milliseconds to wait before retrying.
RETRY_AFTER_MS = "retry-after-ms"

# Initial metadata of the LLM's Chat and StreamChat: the model that served (after routing and
# fallback) and why the router chose it (`explicit`, `auto:fast`, `fallback:<name>`).
SERVED_MODEL = "x-paneas-model"
SERVED_ROUTE = "x-paneas-route"

# Trailing metadata of an error the LLM service classified itself: OpenAI's error `code`
# (`context_length_exceeded`, `model_not_found`, ...) and `param`. Its presence also says the
# service answered, so an UNAVAILABLE carrying it is not a missing backend.
ERROR_CODE = "x-paneas-error-code"
ERROR_PARAM = "x-paneas-error-param"

# Request metadata (and the gateway's HTTP header of the same name) that ties one request's
# log lines together across the gateway, Envoy and a service.
REQUEST_ID = "x-request-id"

# Request metadata of a live ASR stream: Envoy hashes on it, so every reconnect of one session
# reaches the same instance (its audio backlog and speaker state live there).
SESSION_ID = "x-session-id"

# Request header that sends a health check or reflection call through Envoy to one service
# (those paths name no Paneas service; without it they reach Envoy's directory).
SERVICE = "x-paneas-service"

# Paths that every service answers without a bearer token: probes and load balancers carry
# none, and reflection only describes the public contract.
HEALTH_PREFIX = "/grpc.health.v1.Health/"
REFLECTION_PREFIXES = (
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
)

# Where each part listens by default (loopback). The services' settings, the gateway's targets
# and the Envoy config generator all start from these.
DEFAULT_PORTS = {
    "asr": 50051,
    "llm": 50052,
    "ocr": 50053,
    "tts": 50054,
    "jobs": 50055,
    "gateway": 8000,
}
# 9455 is the jobs worker's (JOBS_METRICS_PORT); the jobs service is the gRPC JobService.
DEFAULT_METRICS_PORTS = {"asr": 9451, "llm": 9452, "ocr": 9453, "tts": 9454, "jobs": 9456}
