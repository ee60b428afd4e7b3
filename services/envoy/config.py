"""Envoy's configuration, rendered from one description of the services.

`SERVICES` says what the mesh serves (gRPC service, port, which methods are long streams,
whether calls stick to an instance); a `Target` says where it runs: the embedded stack on
127.0.0.1 (`local`), Docker Compose (`compose`) or Kubernetes (`k8s`). `render(target)`
turns both into Envoy's bootstrap. `envoy/envoy.yaml` and `envoy/envoy-k8s.yaml` are its
committed outputs (`python -m paneas.services.envoy` rewrites them; a test fails when they
are stale); the launcher and the tests render `local` at run time.

The shape, for each service `S` (`asr`, `llm`, `ocr`, `tts`, `jobs`):

- route prefix `/paneas.S.v1.<Service>/` → cluster `S`, HTTP/2 upstreams, gRPC active
  health checks on the service's name (NOT_SERVING while loading or draining takes an
  instance out), outlier detection, no route timeout but a cap on each call's duration
  (`max_stream_duration`): a client's `grpc-timeout` may shorten it, never lengthen it, and a
  call without one gets the cap. Unary-request calls are capped at the service's own longest
  call (`Target.max_call_seconds`: the gateway's deadline for that service), live streams,
  reflection and health watches at the longest live session (`Target.max_stream_seconds`:
  `ASR_MAX_STREAM_SECONDS`); Envoy ends a call over its cap (DEADLINE_EXCEEDED, or a reset
  stream once the response has begun) and resets it upstream. Idle timeouts end stuck calls sooner;
- `asr` has N instances behind a consistent hash (MAGLEV by default, RING_HASH optional) on
  the `x-session-id` header, with bounded load (`hash_balance_factor`);
- retries only before a call reached a servicer: `connect-failure` and `refused-stream`
  everywhere, `unavailable` (a draining server's refusal) only on unary-request methods;
  Envoy never retries once response headers went out, and request streams are excluded
  from `unavailable` because a servicer may have consumed their messages;
- `grpc.health.v1` and server reflection without the `x-paneas-service` header go to the
  directory (`directory.py`): reflection of every Paneas service and health of the whole
  mesh as Envoy sees it, so the ingress answers `grpcurl list`, `describe` and
  `Health/Check` like one gRPC server. Envoy cannot route on a request body (the service
  name inside a health request), hence a server of its own. With the header (`asr`, `llm`,
  `ocr`, `tts`, `jobs`) they go to one instance of the named service, as a per-instance probe; an
  unknown value is answered with INVALID_ARGUMENT listing the known ones.

Every call but health (and reflection with `AUTH_EXEMPT_REFLECTION`) needs a bearer token
from `API_TOKENS` in Envoy's environment, checked on the headers by a Lua filter before any
body is read (`auth.py`). Admin listens on loopback in every target; compose and Kubernetes
add a read-only stats listener (:9902: GET /stats/prometheus and /ready, relayed to admin).

The directory lives beside each Envoy: the launcher's process on loopback, a container
sharing Envoy's network namespace in compose (`network_mode: service:envoy`) and in the
Envoy pod in Kubernetes, so it answers from its own Envoy's admin, at 127.0.0.1.
"""

from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from paneas.gateway.settings import GatewaySettings
from paneas.services.asr.settings import AsrSettings
from paneas.services.envoy.auth import lua_filter
from paneas.services.runtime import wire

LbPolicy = Literal["MAGLEV", "RING_HASH"]
# The directory: Envoy's cluster for it and where it listens beside Envoy.
DIRECTORY_CLUSTER = "directory"
DIRECTORY_PORT = 50050
# What Envoy's health check asks the directory: a service it serves itself, so the answer is
# the directory's own readiness, not the mesh's ("" is SERVING only when every service is),
# and the directory stays routable while some service is down.
DIRECTORY_HEALTH_SERVICE = "grpc.reflection.v1alpha.ServerReflection"
# Envoy's admin (its mutating endpoints: /quitquitquit, /healthcheck/fail, /runtime_modify,
# ...) listens on loopback in every target. What others need of it (Prometheus, probes) is
# served read-only on a listener of its own: GET of exactly these paths, relayed to admin.
STATS_PORT = 9902
STATS_PATHS = ("/stats/prometheus", "/ready")
ADMIN_CLUSTER = "envoy_admin"


@dataclass(frozen=True)
class Service:
    name: str
    grpc_service: str
    port: int
    metrics_port: int
    # Methods whose request is a stream (a servicer may have read part of it).
    request_streams: tuple[str, ...] = ()
    # Calls carrying `x-session-id` stick to one instance (consistent hash).
    sticky: bool = False

    @property
    def prefix(self) -> str:
        return f"/{self.grpc_service}/"


# The one description of the mesh: every target below is derived from it.
SERVICES: tuple[Service, ...] = (
    Service(
        "asr",
        "paneas.asr.v1.AsrService",
        wire.DEFAULT_PORTS["asr"],
        wire.DEFAULT_METRICS_PORTS["asr"],
        request_streams=("StreamingRecognize",),
        sticky=True,
    ),
    Service(
        "llm",
        "paneas.llm.v1.LlmService",
        wire.DEFAULT_PORTS["llm"],
        wire.DEFAULT_METRICS_PORTS["llm"],
    ),
    Service(
        "ocr",
        "paneas.ocr.v1.OcrService",
        wire.DEFAULT_PORTS["ocr"],
        wire.DEFAULT_METRICS_PORTS["ocr"],
    ),
    Service(
        "tts",
        "paneas.tts.v1.TtsService",
        wire.DEFAULT_PORTS["tts"],
        wire.DEFAULT_METRICS_PORTS["tts"],
    ),
    # The jobs API's gRPC face (`python -m paneas.services.jobs`); the worker that does the
    # jobs takes them from the queue, not through Envoy. An upload is a request stream.
    Service(
        "jobs",
        "paneas.jobs.v1.JobService",
        wire.DEFAULT_PORTS["jobs"],
        wire.DEFAULT_METRICS_PORTS["jobs"],
        request_streams=("CreateJob",),
    ),
)
SERVICES_BY_NAME = {service.name: service for service in SERVICES}


def default_max_call_seconds() -> dict[str, float]:
    """Each service's longest unary-request call: the gateway's default deadline for it
    (`GATEWAY_<S>_TIMEOUT_SECONDS`; GATEWAY_DEFAULT_TIMEOUT_SECONDS for the jobs service, whose
    calls are quick but its uploads, a request stream capped like live streams), so a call
    through Envoy gets no longer than one through the gateway, and nothing the gateway sends
    is cut short."""
    defaults = GatewaySettings.model_construct()
    return {service.name: defaults.timeout_for(service.name) for service in SERVICES}


# The longest live session (`ASR_MAX_STREAM_SECONDS`), which the ASR service enforces itself.
DEFAULT_MAX_STREAM_SECONDS: float = AsrSettings.model_fields["max_stream_seconds"].default


@dataclass(frozen=True)
class Tls:
    """Terminate TLS on the ingress listener (ALPN h2): PEM files as Envoy will see them."""

    cert_chain: str
    private_key: str


@dataclass(frozen=True)
class Target:
    name: str
    # Service name -> (host, port) of each instance.
    upstreams: dict[str, list[tuple[str, int]]]
    listen_address: str = "127.0.0.1"
    listen_port: int = 9000
    admin_address: str = "127.0.0.1"
    admin_port: int = 9901
    # The read-only stats listener (`STATS_PATHS`); None: none (admin itself is loopback).
    stats_address: str = "127.0.0.1"
    stats_port: int | None = None
    # Upstream names resolved by DNS (compose service names, headless Services) or literal IPs.
    dns: bool = False
    lb_policy: LbPolicy = "MAGLEV"
    # Bounded load: no instance gets more than this % of the average active streams.
    hash_balance_factor: int = 150
    health_interval_seconds: float = 1.0
    tls: Tls | None = None
    stream_idle_timeout_seconds: int = 300
    # Longest unary-request call per service (name -> seconds), and longest live stream,
    # reflection session or health watch: each call's `grpc-timeout` is capped to it, and a
    # call without one gets it (`_max_stream_duration`).
    max_call_seconds: dict[str, float] = field(default_factory=default_max_call_seconds)
    max_stream_seconds: float = DEFAULT_MAX_STREAM_SECONDS
    # (host, port) of the directory: health and reflection without the service header.
    directory: tuple[str, int] = ("127.0.0.1", DIRECTORY_PORT)
    extra: dict[str, Any] = field(default_factory=dict)


def local_target(
    asr_ports: list[int],
    ports: dict[str, int] | None = None,
    listen_port: int = 9000,
    admin_port: int = 9901,
    lb_policy: LbPolicy = "MAGLEV",
    host: str = "127.0.0.1",
    tls: Tls | None = None,
    directory_port: int = DIRECTORY_PORT,
    stats_port: int | None = None,
) -> Target:
    """The embedded stack: every process on `host`, ASR instances on `asr_ports`."""
    ports = {service.name: service.port for service in SERVICES} | (ports or {})
    upstreams = {name: [(host, port)] for name, port in ports.items() if name != "asr"}
    upstreams["asr"] = [(host, port) for port in asr_ports]
    return Target(
        "local",
        upstreams,
        listen_address=host,
        listen_port=listen_port,
        admin_address=host,
        admin_port=admin_port,
        lb_policy=lb_policy,
        tls=tls,
        directory=(host, directory_port),
        stats_address=host,
        stats_port=stats_port,
    )


def compose_target(asr_instances: int = 4) -> Target:
    """deploy/compose: services by compose name, ASR as asr-0..N-1 (one per GPU)."""
    upstreams = {s.name: [(s.name, s.port)] for s in SERVICES if s.name != "asr"}
    asr = SERVICES_BY_NAME["asr"]
    upstreams["asr"] = [(f"asr-{i}", asr.port) for i in range(asr_instances)]
    return Target(
        "compose",
        upstreams,
        listen_address="0.0.0.0",
        # Its directory reads admin from the same network namespace; Prometheus scrapes the
        # stats listener.
        admin_address="127.0.0.1",
        stats_address="0.0.0.0",
        stats_port=STATS_PORT,
        dns=True,
        health_interval_seconds=2.0,
    )


def k8s_target(namespace: str = "paneas") -> Target:
    """deploy/k8s: each service's headless Service resolves to every ready pod."""
    upstreams = {s.name: [(f"{s.name}.{namespace}.svc.cluster.local", s.port)] for s in SERVICES}
    return Target(
        "k8s",
        upstreams,
        listen_address="0.0.0.0",
        # Its directory reads admin from the same network namespace; Prometheus scrapes the
        # stats listener.
        admin_address="127.0.0.1",
        stats_address="0.0.0.0",
        stats_port=STATS_PORT,
        dns=True,
        health_interval_seconds=2.0,
    )


def _duration(seconds: float) -> str:
    # Never exponent notation (`1e+06s` is not a Duration).
    return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"


def _address(host: str, port: int) -> dict:
    return {"socket_address": {"address": host, "port_value": port}}


ACCESS_LOG_FIELDS = {
    "time": "%START_TIME%",
    "method": "%REQ(:METHOD)%",
    "path": "%REQ(:PATH)%",
    "protocol": "%PROTOCOL%",
    "response_code": "%RESPONSE_CODE%",
    "grpc_status": "%GRPC_STATUS%",
    "response_flags": "%RESPONSE_FLAGS%",
    "duration_ms": "%DURATION%",
    "bytes_received": "%BYTES_RECEIVED%",
    "bytes_sent": "%BYTES_SENT%",
    "upstream_cluster": "%UPSTREAM_CLUSTER%",
    "upstream_host": "%UPSTREAM_HOST%",
    "instance": "%RESP(X-PANEAS-INSTANCE)%",
    "request_id": "%REQ(X-REQUEST-ID)%",
    "session_id": "%REQ(X-SESSION-ID)%",
    "downstream": "%DOWNSTREAM_REMOTE_ADDRESS%",
    "retries": "%UPSTREAM_REQUEST_ATTEMPT_COUNT%",
}


def _retry_policy(retry_on: str) -> dict:
    return {
        "retry_on": retry_on,
        "num_retries": 2,
        # Another instance, not the one that just refused.
        "retry_host_predicate": [
            {
                "name": "envoy.retry_host_predicates.previous_hosts",
                "typed_config": {
                    "@type": "type.googleapis.com/"
                    "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"
                },
            }
        ],
        "host_selection_retry_max_attempts": 5,
    }


UNARY_RETRY_ON = "connect-failure,refused-stream,unavailable"
STREAM_RETRY_ON = "connect-failure,refused-stream"


def _max_stream_duration(seconds: float) -> dict:
    """A call lasts at most `seconds`: with a `grpc-timeout` the shorter of the two (a client
    may shorten the server's deadline, never lengthen it), without one `seconds`. Over it,
    Envoy answers DEADLINE_EXCEEDED (a call whose response headers went out is reset instead,
    INTERNAL at the client) and resets the upstream call, which cancels it there."""
    return {
        "max_stream_duration": _duration(seconds),
        "grpc_timeout_header_max": _duration(seconds),
    }


def _route_action(
    service: Service, target: Target, request_stream: bool, long_lived: bool | None = None
) -> dict:
    """`long_lived` (live streams, reflection, health watches; request streams by default)
    takes the stream cap, anything else the service's call cap."""
    long_lived = request_stream if long_lived is None else long_lived
    cap = target.max_stream_seconds if long_lived else target.max_call_seconds[service.name]
    action: dict[str, Any] = {
        "cluster": service.name,
        # No route timeout (it would also cut streams that are still flowing): the duration
        # cap bounds every call, idle timeouts end stuck ones sooner.
        "timeout": "0s",
        "max_stream_duration": _max_stream_duration(cap),
        "idle_timeout": _duration(target.stream_idle_timeout_seconds),
        "retry_policy": _retry_policy(STREAM_RETRY_ON if request_stream else UNARY_RETRY_ON),
    }
    if service.sticky:
        action["hash_policy"] = [{"header": {"header_name": wire.SESSION_ID}}]
    return action


def _directory_route_action(target: Target) -> dict:
    return {
        "cluster": DIRECTORY_CLUSTER,
        # Reflection is a bidi stream and a health Watch lasts as long as its caller wants,
        # up to the stream cap.
        "timeout": "0s",
        "max_stream_duration": _max_stream_duration(target.max_stream_seconds),
        "idle_timeout": _duration(target.stream_idle_timeout_seconds),
        # One instance beside Envoy: retry only what never reached it (a restart).
        "retry_policy": {"retry_on": STREAM_RETRY_ON, "num_retries": 2},
    }


def _grpc_error(code: int, message: str) -> dict:
    """A trailers-only gRPC answer from Envoy itself."""
    return {
        "direct_response": {"status": 200},
        "response_headers_to_add": [
            {"header": {"key": "content-type", "value": "application/grpc"}},
            {"header": {"key": "grpc-status", "value": str(code)}},
            {"header": {"key": "grpc-message", "value": message}},
        ],
    }


def _routes(target: Target) -> list[dict]:
    routes: list[dict] = []
    services = [SERVICES_BY_NAME[name] for name in target.upstreams]
    for service in services:
        for method in service.request_streams:
            routes.append(
                {
                    "name": f"{service.name}-{method}",
                    "match": {"path": f"{service.prefix}{method}", "grpc": {}},
                    "route": _route_action(service, target, request_stream=True),
                }
            )
        routes.append(
            {
                "name": service.name,
                "match": {"prefix": service.prefix, "grpc": {}},
                "route": _route_action(service, target, request_stream=False),
            }
        )
    # Health and reflection: with the header, the named service's own (one instance);
    # without it, the directory's, for the whole mesh.
    names = "|".join(sorted(s.name for s in services))
    for prefix in (wire.HEALTH_PREFIX, *wire.REFLECTION_PREFIXES):
        # Reflection is a bidi stream; health Watch is long-lived.
        request_stream = prefix != wire.HEALTH_PREFIX
        for service in services:
            routes.append(
                {
                    "match": {
                        "prefix": prefix,
                        "grpc": {},
                        "headers": [
                            {
                                "name": wire.SERVICE,
                                "string_match": {"exact": service.name},
                            }
                        ],
                    },
                    "route": _route_action(
                        service, target, request_stream=request_stream, long_lived=True
                    ),
                }
            )
        routes.append(
            {
                "match": {
                    "prefix": prefix,
                    "headers": [{"name": wire.SERVICE, "present_match": True}],
                },
                **_grpc_error(
                    3,
                    f"unknown {wire.SERVICE}: use one of {names} for one instance of that "
                    "service, or leave the header out for the whole mesh",
                ),
            }
        )
        routes.append(
            {"match": {"prefix": prefix, "grpc": {}}, "route": _directory_route_action(target)}
        )
    routes.append(
        {"match": {"prefix": "/"}, **_grpc_error(12, "no Paneas service has this method")}
    )
    return routes


def _listener(target: Target) -> dict:
    manager = {
        "@type": "type.googleapis.com/"
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "grpc_ingress",
        "codec_type": "AUTO",
        "generate_request_id": True,
        "preserve_external_request_id": True,
        # Headers must arrive promptly; the stream itself has no deadline (routes say idle).
        "request_headers_timeout": "10s",
        "request_timeout": "0s",
        "stream_idle_timeout": _duration(target.stream_idle_timeout_seconds),
        "common_http_protocol_options": {"idle_timeout": "3600s"},
        "http2_protocol_options": {"max_concurrent_streams": 1024},
        "access_log": [
            {
                "name": "envoy.access_loggers.stdout",
                "typed_config": {
                    "@type": "type.googleapis.com/"
                    "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
                    "log_format": {"json_format": ACCESS_LOG_FIELDS},
                },
            }
        ],
        "route_config": {
            "name": "paneas",
            "virtual_hosts": [{"name": "paneas", "domains": ["*"], "routes": _routes(target)}],
        },
        "http_filters": [
            # The token, checked on the headers: an unauthenticated call is refused before
            # its body is read (services/envoy/auth.py).
            lua_filter(),
            {
                "name": "envoy.filters.http.router",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                },
            },
        ],
    }
    chain: dict[str, Any] = {
        "filters": [
            {"name": "envoy.filters.network.http_connection_manager", "typed_config": manager}
        ]
    }
    if target.tls is not None:
        chain["transport_socket"] = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/"
                "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                "common_tls_context": {
                    "alpn_protocols": ["h2"],
                    "tls_certificates": [
                        {
                            "certificate_chain": {"filename": target.tls.cert_chain},
                            "private_key": {"filename": target.tls.private_key},
                        }
                    ],
                },
            },
        }
    return {
        "name": "grpc_ingress",
        "address": _address(target.listen_address, target.listen_port),
        "filter_chains": [chain],
    }


def _stats_listener(target: Target) -> dict:
    """GET /stats/prometheus and /ready, relayed to the loopback admin; nothing else."""
    only_get = [{"name": ":method", "string_match": {"exact": "GET"}}]
    routes: list[dict] = [
        {"match": {"path": path, "headers": only_get}, "route": {"cluster": ADMIN_CLUSTER}}
        for path in STATS_PATHS
    ]
    routes.append(
        {
            "match": {"prefix": "/"},
            "direct_response": {
                "status": 404,
                "body": {
                    "inline_string": f"only GET {' and '.join(STATS_PATHS)} here; Envoy's "
                    "admin listens on loopback\n"
                },
            },
        }
    )
    manager = {
        "@type": "type.googleapis.com/"
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "stats",
        "codec_type": "AUTO",
        "request_headers_timeout": "10s",
        "route_config": {
            "name": "stats",
            "virtual_hosts": [{"name": "stats", "domains": ["*"], "routes": routes}],
        },
        "http_filters": [
            {
                "name": "envoy.filters.http.router",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                },
            }
        ],
    }
    assert target.stats_port is not None
    return {
        "name": "stats",
        "address": _address(target.stats_address, target.stats_port),
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": manager,
                    }
                ]
            }
        ],
    }


def _admin_cluster(target: Target) -> dict:
    host = "127.0.0.1" if target.admin_address in ("0.0.0.0", "::", "") else target.admin_address
    return {
        "name": ADMIN_CLUSTER,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": ADMIN_CLUSTER,
            "endpoints": [
                {"lb_endpoints": [{"endpoint": {"address": _address(host, target.admin_port)}}]}
            ],
        },
    }


def _lb_policy(target: Target) -> dict:
    hashing = {"hash_balance_factor": target.hash_balance_factor}
    if target.lb_policy == "MAGLEV":
        name, config = "maglev", {"table_size": 65537}
        kind = "envoy.extensions.load_balancing_policies.maglev.v3.Maglev"
    else:
        name = "ring_hash"
        config = {"minimum_ring_size": 1024, "hash_function": "XX_HASH"}
        kind = "envoy.extensions.load_balancing_policies.ring_hash.v3.RingHash"
    return {
        "policies": [
            {
                "typed_extension_config": {
                    "name": f"envoy.load_balancing_policies.{name}",
                    "typed_config": {
                        "@type": f"type.googleapis.com/{kind}",
                        **config,
                        "consistent_hashing_lb_config": hashing,
                    },
                }
            }
        ]
    }


def _grpc_cluster(
    name: str, endpoints: list[tuple[str, int]], health_service: str, target: Target, dns: bool
) -> dict[str, Any]:
    """HTTP/2 upstreams, out of rotation on their gRPC health for `health_service`."""
    interval = _duration(target.health_interval_seconds)
    cluster: dict[str, Any] = {
        "name": name,
        "type": "STRICT_DNS" if dns else "STATIC",
        "connect_timeout": "1s",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/"
                "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
                "common_http_protocol_options": {"idle_timeout": "3600s"},
            }
        },
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {"endpoint": {"address": _address(host, port)}} for host, port in endpoints
                    ]
                }
            ],
        },
        # NOT_SERVING (loading, draining) or unreachable: out after two checks.
        "health_checks": [
            {
                "timeout": "2s",
                "interval": interval,
                "no_traffic_interval": interval,
                "unhealthy_interval": interval,
                "interval_jitter": "0.1s",
                "unhealthy_threshold": 2,
                "healthy_threshold": 1,
                "grpc_health_check": {"service_name": health_service},
            }
        ],
    }
    if dns:
        cluster["dns_lookup_family"] = "V4_ONLY"  # re-resolved every 5 s (Envoy's default)
    return cluster


def _cluster(service: Service, target: Target) -> dict:
    cluster = _grpc_cluster(
        service.name,
        target.upstreams[service.name],
        service.grpc_service,
        target,
        target.dns,
    )
    # Errors in traffic eject too (5xx is how Envoy counts UNAVAILABLE, INTERNAL, ...),
    # but never more than half of a cluster.
    cluster["outlier_detection"] = {
        "consecutive_5xx": 5,
        "consecutive_gateway_failure": 3,
        "interval": "5s",
        "base_ejection_time": "10s",
        "max_ejection_percent": 50,
    }
    cluster["circuit_breakers"] = {
        "thresholds": [{"max_connections": 4096, "max_requests": 4096, "max_retries": 16}]
    }
    if service.sticky:
        cluster["load_balancing_policy"] = _lb_policy(target)
    return cluster


def _directory_cluster(target: Target) -> dict:
    # Always a literal address beside Envoy (loopback, or the pod's shared network namespace).
    return _grpc_cluster(
        DIRECTORY_CLUSTER, [target.directory], DIRECTORY_HEALTH_SERVICE, target, dns=False
    )


def render(target: Target) -> dict:
    """Envoy's bootstrap for `target`, as a dict ready for YAML."""
    services = [SERVICES_BY_NAME[name] for name in target.upstreams]
    stats = target.stats_port is not None
    return {
        "node": {"id": f"paneas-{target.name}", "cluster": "paneas"},
        "admin": {"address": _address(target.admin_address, target.admin_port)},
        "static_resources": {
            "listeners": [_listener(target), *([_stats_listener(target)] if stats else [])],
            "clusters": [
                *(_cluster(service, target) for service in services),
                _directory_cluster(target),
                *([_admin_cluster(target)] if stats else []),
            ],
        },
        **target.extra,
    }


def render_yaml(target: Target, header: str = "") -> str:
    body = yaml.safe_dump(render(target), sort_keys=False, width=100)
    return header + body
