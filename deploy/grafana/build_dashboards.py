"""Writes the Grafana dashboards in deploy/grafana/dashboards/ from the definitions below.

    .venv/bin/python deploy/grafana/build_dashboards.py

The JSON files are committed (Grafana provisions them as they are); tests/deploy checks that
they match this script, that every PromQL metric exists in our code, and that every
datasource uid is provisioned.
"""

import json
from pathlib import Path

OUT = Path(__file__).parent / "dashboards"
PROMETHEUS = {"type": "prometheus", "uid": "prometheus"}
LOKI = {"type": "loki", "uid": "loki"}
RATE = "$__rate_interval"


def q(expr: str, legend: str = "") -> dict:
    return {"expr": expr, "legendFormat": legend or "__auto"}


def panel(
    title: str,
    targets: list[dict],
    unit: str = "short",
    kind: str = "timeseries",
    width: int = 12,
    height: int = 8,
    description: str = "",
) -> dict:
    return {
        "title": title,
        "type": kind,
        "targets": targets,
        "unit": unit,
        "w": width,
        "h": height,
        "description": description,
    }


def logs(title: str, expr: str) -> dict:
    return {
        "title": title,
        "type": "logs",
        "targets": [{"expr": expr}],
        "unit": "",
        "w": 24,
        "h": 10,
        "description": "",
        "datasource": LOKI,
    }


def dashboard(
    uid: str, title: str, description: str, rows: list[dict], variables: list[dict] = ()
) -> dict:
    panels, x, y, row_height = [], 0, 0, 0
    for number, spec in enumerate(rows, start=1):
        if x + spec["w"] > 24:
            x, y, row_height = 0, y + row_height, 0
        datasource = spec.get("datasource", PROMETHEUS)
        item = {
            "id": number,
            "type": spec["type"],
            "title": spec["title"],
            "description": spec["description"],
            "datasource": datasource,
            "gridPos": {"h": spec["h"], "w": spec["w"], "x": x, "y": y},
            "targets": [
                {"refId": chr(ord("A") + index), "datasource": datasource, **target}
                for index, target in enumerate(spec["targets"])
            ],
        }
        if spec["type"] != "logs":
            item["fieldConfig"] = {"defaults": {"unit": spec["unit"]}, "overrides": []}
        if spec["type"] == "timeseries":
            item["options"] = {
                "legend": {
                    "displayMode": "table",
                    "placement": "bottom",
                    "calcs": ["mean", "max", "lastNotNull"],
                }
            }
        panels.append(item)
        x += spec["w"]
        row_height = max(row_height, spec["h"])
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["paneas"],
        "timezone": "browser",
        "editable": False,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": list(variables)},
        "panels": panels,
    }


def variable(name: str, query: str, label: str) -> dict:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": PROMETHEUS,
        "query": {"query": query, "refId": "variable"},
        "definition": query,
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "current": {"text": "All", "value": "$__all"},
        "refresh": 2,
    }


GPU = dashboard(
    "paneas-gpu",
    "Paneas / GPU",
    "DCGM exporter: utilisation, memory, temperature and power per GPU of the box.",
    [
        panel("GPU utilisation", [q("DCGM_FI_DEV_GPU_UTIL", "GPU {{gpu}}")], "percent"),
        panel(
            "GPU memory used",
            [q("DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)", "GPU {{gpu}}")],
            "percentunit",
            description="Alert PaneasGpuMemoryHigh above 95% for 10 minutes.",
        ),
        panel("Framebuffer used", [q("DCGM_FI_DEV_FB_USED", "GPU {{gpu}}")], "decmbytes"),
        panel("Temperature", [q("DCGM_FI_DEV_GPU_TEMP", "GPU {{gpu}}")], "celsius"),
        panel("Power", [q("DCGM_FI_DEV_POWER_USAGE", "GPU {{gpu}}")], "watt"),
        panel(
            "ASR real-time factor per instance",
            [q("paneas:asr_real_time_factor:avg5m", "{{instance}}")],
            "short",
            description="Decode seconds per audio second (asr-N runs on GPU N); above 1 "
            "live streams fall behind.",
        ),
    ],
)

API = dashboard(
    "paneas-api",
    "Paneas / API",
    "Gateway HTTP traffic, gRPC traffic of every service, Envoy upstream health.",
    [
        panel(
            "Gateway requests/s by route",
            [q(f"sum by (route) (rate(paneas_gateway_http_requests_total[{RATE}]))", "{{route}}")],
            "reqps",
        ),
        panel(
            "Gateway 5xx ratio",
            [
                q(
                    f'sum(rate(paneas_gateway_http_requests_total{{status=~"5.."}}[{RATE}])) / '
                    f"sum(rate(paneas_gateway_http_requests_total[{RATE}]))",
                    "5xx",
                )
            ],
            "percentunit",
        ),
        panel(
            "Gateway p95 latency by route",
            [
                q(
                    "histogram_quantile(0.95, sum by (le, route) "
                    f"(rate(paneas_gateway_http_request_duration_seconds_bucket[{RATE}])))",
                    "{{route}}",
                )
            ],
            "s",
        ),
        panel(
            "Gateway responses by status",
            [
                q(
                    f"sum by (status) (rate(paneas_gateway_http_requests_total[{RATE}]))",
                    "{{status}}",
                )
            ],
            "reqps",
        ),
        panel(
            "In flight",
            [
                q("paneas_gateway_http_in_flight", "gateway HTTP"),
                q("sum by (job) (grpc_server_in_flight)", "{{job}} gRPC"),
            ],
            "short",
        ),
        panel(
            "Rate limited (429) by class",
            [
                q(
                    f"sum by (limit_class) (rate(paneas_gateway_rate_limited_total[{RATE}]))",
                    "{{limit_class}}",
                )
            ],
            "reqps",
        ),
        panel(
            "gRPC RPCs/s by service and code",
            [
                q(
                    f"sum by (grpc_service, grpc_code) (rate(grpc_server_handled_total[{RATE}]))",
                    "{{grpc_service}} {{grpc_code}}",
                )
            ],
            "reqps",
        ),
        panel(
            "gRPC server error ratio",
            [q("paneas:grpc_server_error_ratio:rate5m", "{{job}} {{grpc_service}}")],
            "percentunit",
            description="UNKNOWN, INTERNAL, UNAVAILABLE, DEADLINE_EXCEEDED, DATA_LOSS, "
            "UNIMPLEMENTED over all RPCs (alert above 5%).",
        ),
        panel(
            "gRPC p95 latency (unary)",
            [
                q(
                    "histogram_quantile(0.95, sum by (le, grpc_service, grpc_method) "
                    f'(rate(grpc_server_handling_seconds_bucket{{grpc_type="unary"}}[{RATE}])))',
                    "{{grpc_service}}/{{grpc_method}}",
                )
            ],
            "s",
        ),
        panel(
            "Gateway → services p95 (client side)",
            [
                q(
                    "histogram_quantile(0.95, sum by (le, grpc_service) "
                    f"(rate(grpc_client_handling_seconds_bucket[{RATE}])))",
                    "{{grpc_service}}",
                )
            ],
            "s",
        ),
        panel(
            "Envoy healthy hosts per cluster",
            [
                q("envoy_cluster_membership_healthy", "{{envoy_cluster_name}} healthy"),
                q("envoy_cluster_membership_total", "{{envoy_cluster_name}} total"),
            ],
            "short",
            description="A host draining (NOT_SERVING) or loading leaves the healthy set.",
        ),
        panel(
            "Envoy upstream requests/s per cluster",
            [
                q(
                    f"sum by (envoy_cluster_name) (rate(envoy_cluster_upstream_rq_total[{RATE}]))",
                    "{{envoy_cluster_name}}",
                )
            ],
            "reqps",
        ),
        panel("Live ASR WebSockets", [q("paneas_gateway_asr_streams_active", "open")], "short"),
        panel(
            "WebSocket stream outcomes",
            [
                q(
                    f"sum by (outcome) (rate(paneas_gateway_asr_streams_total[{RATE}]))",
                    "{{outcome}}",
                )
            ],
            "ops",
        ),
    ],
)

LLM = dashboard(
    "paneas-llm",
    "Paneas / LLM",
    "LLM service: tokens/s, latency, queueing, routing and circuit breakers per model.",
    [
        panel(
            "Generated tokens/s by model",
            [q("paneas:llm_generation_tokens:rate1m", "{{model_name}} ({{engine}})")],
            "short",
        ),
        panel(
            "Prompt tokens/s by model",
            [
                q(
                    f"sum by (model_name) (rate(paneas_llm_prompt_tokens_total[{RATE}]))",
                    "{{model_name}}",
                )
            ],
            "short",
        ),
        panel(
            "Time to first token p50 / p95",
            [
                q(
                    "histogram_quantile(0.5, sum by (le, model_name) "
                    f"(rate(paneas_llm_time_to_first_token_seconds_bucket[{RATE}])))",
                    "p50 {{model_name}}",
                ),
                q(
                    "histogram_quantile(0.95, sum by (le, model_name) "
                    f"(rate(paneas_llm_time_to_first_token_seconds_bucket[{RATE}])))",
                    "p95 {{model_name}}",
                ),
            ],
            "s",
        ),
        panel(
            "End-to-end latency p95",
            [
                q(
                    "histogram_quantile(0.95, sum by (le, model_name) "
                    f"(rate(paneas_llm_e2e_request_latency_seconds_bucket[{RATE}])))",
                    "{{model_name}}",
                )
            ],
            "s",
        ),
        panel(
            "Inter-token latency p95",
            [
                q(
                    "histogram_quantile(0.95, sum by (le, model_name) "
                    f"(rate(paneas_llm_inter_token_latency_seconds_bucket[{RATE}])))",
                    "{{model_name}}",
                )
            ],
            "s",
        ),
        panel(
            "Decode speed per request (median tokens/s)",
            [
                q(
                    "histogram_quantile(0.5, sum by (le, model_name) "
                    f"(rate(paneas_llm_generation_tokens_per_second_bucket[{RATE}])))",
                    "{{model_name}}",
                )
            ],
            "short",
        ),
        panel(
            "Requests running / waiting",
            [
                q("sum by (engine) (paneas_llm_num_requests_running)", "running {{engine}}"),
                q("sum by (engine) (paneas_llm_num_requests_waiting)", "waiting {{engine}}"),
            ],
            "short",
        ),
        panel(
            "Finished requests by reason",
            [
                q(
                    "sum by (model_name, finished_reason) "
                    f"(rate(paneas_llm_request_success_total[{RATE}]))",
                    "{{model_name}} {{finished_reason}}",
                )
            ],
            "reqps",
        ),
        panel(
            "Router decisions",
            [
                q(
                    "sum by (model_name, reason) "
                    f"(rate(paneas_llm_router_decisions_total[{RATE}]))",
                    "{{model_name}} ({{reason}})",
                )
            ],
            "reqps",
        ),
        panel(
            "Fallbacks",
            [
                q(
                    "sum by (from_model, to_model, reason) "
                    f"(rate(paneas_llm_fallbacks_total[{RATE}]))",
                    "{{from_model}} → {{to_model}} ({{reason}})",
                )
            ],
            "reqps",
        ),
        panel(
            "Circuit breakers (0 closed, 1 half-open, 2 open)",
            [q("paneas_llm_circuit_state", "{{engine_name}}")],
            "short",
            width=24,
        ),
    ],
)

ASR = dashboard(
    "paneas-asr",
    "Paneas / ASR",
    "Speech recognition throughput, speed and live-stream latency per instance (one per GPU).",
    [
        panel(
            "Audio processed (seconds of audio per second)",
            [
                q(
                    "sum by (instance, rpc) "
                    f'(rate(paneas_asr_audio_seconds_total{{instance=~"$instance"}}[{RATE}]))',
                    "{{instance}} {{rpc}}",
                )
            ],
            "short",
            description="Throughput: 4 means four hours of audio transcribed per hour.",
        ),
        panel(
            "Real-time factor (average, 5m)",
            [q('paneas:asr_real_time_factor:avg5m{instance=~"$instance"}', "{{instance}}")],
            "short",
            description="Alert PaneasAsrSlowerThanRealTime above 1 for 10 minutes.",
        ),
        panel(
            "Real-time factor p95 by decode kind",
            [
                q(
                    "histogram_quantile(0.95, sum by (le, kind) "
                    f'(rate(paneas_asr_real_time_factor_bucket{{instance=~"$instance"}}[{RATE}])))',
                    "{{kind}}",
                )
            ],
            "short",
        ),
        panel(
            "Live streams open",
            [q('paneas_asr_active_streams{instance=~"$instance"}', "{{instance}}")],
            "short",
        ),
        panel(
            "Decode queue depth",
            [q('paneas_asr_queue_depth{instance=~"$instance"}', "{{instance}}")],
            "short",
            description="Waiting decodes; beyond ASR_MAX_QUEUE work is refused.",
        ),
        panel(
            "Final / interim latency p95",
            [
                q(
                    "histogram_quantile(0.95, sum by (le, instance) "
                    f'(rate(paneas_asr_final_latency_seconds_bucket{{instance=~"$instance"}}[{RATE}])))',
                    "final {{instance}}",
                ),
                q(
                    "histogram_quantile(0.95, sum by (le, instance) "
                    f'(rate(paneas_asr_interim_latency_seconds_bucket{{instance=~"$instance"}}[{RATE}])))',
                    "interim {{instance}}",
                ),
            ],
            "s",
        ),
        panel(
            "Rejections (RESOURCE_EXHAUSTED)",
            [
                q(
                    "sum by (instance, reason) "
                    f'(rate(paneas_asr_rejections_total{{instance=~"$instance"}}[{RATE}]))',
                    "{{instance}} {{reason}}",
                )
            ],
            "ops",
        ),
        panel(
            "Speculative finals",
            [
                q(
                    "sum by (outcome) "
                    f'(rate(paneas_asr_speculative_finals_total{{instance=~"$instance"}}[{RATE}]))',
                    "{{outcome}}",
                ),
                q(
                    f'sum(rate(paneas_asr_skipped_interims_total{{instance=~"$instance"}}[{RATE}]))',
                    "skipped interims",
                ),
                q(
                    f'sum(rate(paneas_asr_loops_cut_total{{instance=~"$instance"}}[{RATE}]))',
                    "loops cut",
                ),
            ],
            "ops",
        ),
        panel(
            "Insight requests",
            [
                q(
                    "sum by (kind, outcome) "
                    f'(rate(paneas_asr_insight_requests_total{{instance=~"$instance"}}[{RATE}]))',
                    "{{kind}} {{outcome}}",
                )
            ],
            "ops",
        ),
        panel(
            "Diarization of files: real-time factor p50 / p95, speakers found p50",
            [
                q(
                    f"histogram_quantile({quantile}, sum by (le) "
                    "(rate(paneas_asr_diarization_real_time_factor_bucket"
                    f'{{instance=~"$instance"}}[{RATE}])))',
                    f"RTF p{round(quantile * 100)}",
                )
                for quantile in (0.5, 0.95)
            ]
            + [
                q(
                    "histogram_quantile(0.5, sum by (le) "
                    f'(rate(paneas_asr_diarization_speakers_bucket{{instance=~"$instance"}}[{RATE}])))',
                    "speakers p50",
                )
            ],
            "short",
            description="Per diarized file or channel (VAD, embeddings, clustering over the "
            "audio's duration); the goal is under 0.1 on one core (ASR_DIARIZATION_CPU_THREADS).",
        ),
        panel(
            "ASR RPCs/s by method and code",
            [
                q(
                    "sum by (grpc_method, grpc_code) "
                    "(rate(grpc_server_handled_total"
                    f'{{job="asr", instance=~"$instance"}}[{RATE}]))',
                    "{{grpc_method}} {{grpc_code}}",
                )
            ],
            "reqps",
        ),
    ],
    [variable("instance", "label_values(paneas_asr_queue_depth, instance)", "Instance")],
)

SYSTEM = dashboard(
    "paneas-system",
    "Paneas / System health",
    "Is everything up, how much memory and CPU each process takes, OCR and TTS work, errors.",
    [
        panel(
            "Targets up",
            [q("up", "{{job}} {{instance}}")],
            "short",
            kind="stat",
            width=24,
            height=5,
        ),
        panel(
            "Resident memory by process",
            [
                q(
                    'process_resident_memory_bytes{job=~"gateway|asr|llm|ocr|tts|jobs|jobs-api"}',
                    "{{instance}}",
                )
            ],
            "bytes",
        ),
        panel(
            "CPU by process (cores)",
            [
                q(
                    f'rate(process_cpu_seconds_total{{job=~"gateway|asr|llm|ocr|tts|jobs|jobs-api"}}[{RATE}])',
                    "{{instance}}",
                )
            ],
            "short",
        ),
        panel(
            "OCR pages/s",
            [
                q(
                    f"sum by (engine, source) (rate(paneas_ocr_pages_total[{RATE}]))",
                    "{{engine}} {{source}}",
                )
            ],
            "short",
        ),
        panel(
            "OCR seconds per page p95",
            [
                q(
                    "histogram_quantile(0.95, sum by (le, engine) "
                    f"(rate(paneas_ocr_page_seconds_bucket[{RATE}])))",
                    "{{engine}}",
                )
            ],
            "s",
        ),
        panel(
            "TTS audio produced (seconds per second)",
            [q(f"sum by (engine) (rate(paneas_tts_audio_seconds_total[{RATE}]))", "{{engine}}")],
            "short",
        ),
        panel(
            "TTS time to first audio p95 / queue",
            [
                q(
                    "histogram_quantile(0.95, sum by (le, engine) "
                    f"(rate(paneas_tts_time_to_first_audio_seconds_bucket[{RATE}])))",
                    "p95 {{engine}}",
                ),
                q("paneas_tts_queue_depth", "queued sentences"),
            ],
            "s",
        ),
        # Every jobs worker reports the same job records: max over them.
        panel(
            "Jobs queued / running",
            [q("max(paneas_jobs_queued)", "queued"), q("max(paneas_jobs_running)", "running")],
            "short",
        ),
        panel(
            "Oldest queued job waiting",
            [q("max(paneas_jobs_oldest_queued_seconds)", "oldest queued")],
            "s",
        ),
        panel(
            "Job duration p95 / ASR call p95",
            [
                q(
                    "histogram_quantile(0.95, sum by (le, type) "
                    f"(rate(paneas_jobs_duration_seconds_bucket[{RATE}])))",
                    "job {{type}}",
                ),
                q(
                    "histogram_quantile(0.95, sum by (le, type) "
                    f"(rate(paneas_jobs_chunk_seconds_bucket[{RATE}])))",
                    "call {{type}}",
                ),
            ],
            "s",
        ),
        panel(
            "Jobs: audio (seconds per second), failures by reason",
            [
                q(f"sum(rate(paneas_jobs_audio_seconds_total[{RATE}]))", "audio s/s"),
                q(
                    f"sum by (reason) (rate(paneas_jobs_failures_total[{RATE}]))",
                    "failed {{reason}}",
                ),
            ],
            "short",
        ),
        panel(
            "Job webhooks by outcome",
            [
                q(
                    f"sum by (outcome) (rate(paneas_jobs_webhook_deliveries_total[{RATE}]))",
                    "{{outcome}}",
                )
            ],
            "ops",
        ),
        panel(
            "Analytics events dropped",
            [
                q(
                    f"sum by (reason) (rate(paneas_gateway_analytics_dropped_total[{RATE}]))",
                    "{{reason}}",
                )
            ],
            "ops",
        ),
        panel(
            "Rate-limit storage (Redis) up",
            [q("paneas_gateway_rate_limit_storage_up", "redis")],
            "short",
        ),
        logs("Errors from every component", '{component=~".+", level=~"error|critical"}'),
    ],
)

DASHBOARDS = {"gpu": GPU, "api": API, "llm": LLM, "asr": ASR, "system": SYSTEM}


def render(board: dict) -> str:
    return json.dumps(board, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, board in DASHBOARDS.items():
        (OUT / f"paneas-{name}.json").write_text(render(board))


if __name__ == "__main__":
    main()
