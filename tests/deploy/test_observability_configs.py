"""Configs of the parts that cannot run here (OTel collector, Tempo, Loki, Promtail): they
parse, their internal references resolve, and they agree with how our services emit."""

import yaml

from tests.deploy.support import DEPLOY


def _load(relative: str) -> dict:
    return yaml.safe_load((DEPLOY / relative).read_text())


def test_otel_collector_pipelines_use_defined_components():
    config = _load("otel/otel-collector.yaml")
    defined = {
        section: set(config.get(section) or {})
        for section in ("receivers", "processors", "exporters", "connectors", "extensions")
    }
    service = config["service"]
    assert set(service["extensions"]) <= defined["extensions"]
    for name, pipeline in service["pipelines"].items():
        assert pipeline["receivers"], name
        assert pipeline["exporters"], name
        for receiver in pipeline["receivers"]:
            assert receiver in defined["receivers"] | defined["connectors"], (name, receiver)
        for processor in pipeline.get("processors", []):
            assert processor in defined["processors"], (name, processor)
        for exporter in pipeline["exporters"]:
            assert exporter in defined["exporters"] | defined["connectors"], (name, exporter)
    # A connector is both: exported to by one pipeline, received from by another.
    for connector in defined["connectors"]:
        pipelines = service["pipelines"].values()
        assert any(connector in p["exporters"] for p in pipelines), connector
        assert any(connector in p["receivers"] for p in pipelines), connector
    # OTLP/gRPC on 4317, where OTEL_EXPORTER_OTLP_ENDPOINT points; traces on to Tempo.
    assert config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].endswith(":4317")
    assert config["exporters"]["otlp/tempo"]["endpoint"] == "tempo:4317"
    compose = _load("compose/docker-compose.yml")
    assert compose["x-service-env"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4317"
    # Prometheus scrapes the collector's own and its exported metrics ports.
    prometheus = _load("prometheus/prometheus.yml")
    otel_job = next(j for j in prometheus["scrape_configs"] if j["job_name"] == "otel-collector")
    exported = config["exporters"]["prometheus"]["endpoint"].rsplit(":", 1)[1]
    assert f"otel-collector:{exported}" in otel_job["static_configs"][0]["targets"]


def test_tempo_receives_otlp_and_serves_grafana():
    tempo = _load("tempo/tempo.yaml")
    endpoint = tempo["distributor"]["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    assert endpoint.endswith(":4317")
    port = tempo["server"]["http_listen_port"]
    datasources = _load("grafana/provisioning/datasources/datasources.yaml")["datasources"]
    assert {d["uid"]: d["url"] for d in datasources}["tempo"] == f"http://tempo:{port}"


def test_loki_and_promtail_agree_and_parse_our_json_logs():
    loki = _load("loki/loki.yaml")
    promtail = _load("loki/promtail.yaml")
    port = loki["server"]["http_listen_port"]
    assert promtail["clients"][0]["url"] == f"http://loki:{port}/loki/api/v1/push"
    stages = promtail["scrape_configs"][0]["pipeline_stages"][0]["match"]["stages"]
    fields = next(s["json"]["expressions"] for s in stages if "json" in s)
    # The keys services/runtime/logs.py writes.
    assert set(fields.values()) <= {"timestamp", "level", "service", "logger", "event"}
    assert set(next(s["labels"] for s in stages if "labels" in s)) == {"level", "service"}
    # Compose labels our containers the way Promtail selects them.
    compose = _load("compose/docker-compose.yml")
    for name in ("gateway", "ocr", "tts", "llm", "asr-0", "envoy"):
        assert "paneas.component" in compose["services"][name]["labels"], name
    source = (DEPLOY.parent / "services" / "runtime" / "logs.py").read_text()
    for key in ("add_log_level", "add_logger_name", 'TimeStamper(fmt="iso"', "service=service"):
        assert key in source
