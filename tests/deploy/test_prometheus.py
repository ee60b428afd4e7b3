"""Prometheus and Alertmanager configs, checked by their own tools (Debian prometheus 2.42,
prometheus-alertmanager 0.25: the versions the compose file runs)."""

import re

import pytest
import yaml

from tests.deploy.support import DEPLOY, known_metric_names, promql_metric_names, run, tool

PROMETHEUS = DEPLOY / "prometheus"
RULES = PROMETHEUS / "rules" / "paneas.yml"


# Runs promtool.
@pytest.mark.slow
def test_promtool_accepts_the_compose_and_kubernetes_configs():
    promtool = tool("promtool")
    for name in ("prometheus.yml", "prometheus-k8s.yml"):
        result = run(promtool, "check", "config", name, cwd=PROMETHEUS)
        assert result.returncode == 0, result.stdout + result.stderr
        # The rule files the config names were found and checked too.
        assert "SUCCESS: 1 rule files found" in result.stdout, result.stdout


# Runs promtool.
@pytest.mark.slow
def test_promtool_accepts_the_rules():
    result = run(tool("promtool"), "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


# Runs promtool.
@pytest.mark.slow
def test_alert_unit_tests_pass():
    # ASR RTF > 1 fires after 10 minutes for the slow instance only; the gRPC error ratio.
    result = run(tool("promtool"), "test", "rules", "paneas.test.yml", cwd=PROMETHEUS / "tests")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_rules_use_metrics_our_code_exports():
    known = known_metric_names()
    rules = [
        rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]
    ]
    unknown = {
        (rule.get("alert") or rule["record"], name)
        for rule in rules
        for name in promql_metric_names(rule["expr"])
        if name not in known
    }
    assert not unknown, unknown
    alerts = {rule["alert"] for rule in rules if "alert" in rule}
    # The list: error rate, p95 latency, ASR RTF > 1, queue depth, GPU memory.
    for required in (
        "PaneasGrpcErrorRateHigh",
        "PaneasGatewayErrorRateHigh",
        "PaneasGrpcLatencyP95High",
        "PaneasAsrSlowerThanRealTime",
        "PaneasAsrQueueBacklog",
        "PaneasGpuMemoryHigh",
    ):
        assert required in alerts
    for rule in rules:
        if "alert" in rule:
            assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
            assert rule["annotations"]["summary"], rule["alert"]


def test_scrape_config_covers_every_metrics_endpoint():
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    targets = {
        name: [t for sc in job.get("static_configs", []) for t in sc["targets"]]
        for name, job in jobs.items()
    }
    # Each service's <SVC>_METRICS_PORT default, the gateway's /metrics, Envoy's admin.
    from paneas.services.asr.settings import AsrSettings
    from paneas.services.llm.settings import LlmSettings
    from paneas.services.ocr.settings import OcrSettings
    from paneas.services.tts.settings import TtsSettings

    for job, settings in (
        ("asr", AsrSettings),
        ("llm", LlmSettings),
        ("ocr", OcrSettings),
        ("tts", TtsSettings),
    ):
        port = settings.model_fields["metrics_port"].default
        assert targets[job] and all(t.endswith(f":{port}") for t in targets[job]), job
    assert targets["asr"] == [f"asr-{gpu}:9451" for gpu in range(4)]
    assert targets["gateway"] == ["gateway:8000"] and jobs["gateway"]["metrics_path"] == "/metrics"
    assert jobs["envoy"]["metrics_path"] == "/stats/prometheus"
    assert targets["dcgm"] == ["dcgm-exporter:9400"]


def test_compose_services_expose_the_scraped_ports():
    compose = yaml.safe_load((DEPLOY / "compose" / "docker-compose.yml").read_text())
    scraped = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())["scrape_configs"]
    for job in scraped:
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host, port = target.rsplit(":", 1)
                if host == "localhost":
                    continue
                assert host in compose["services"], f"{job['job_name']}: no service {host}"
                environment = compose["services"][host].get("environment") or {}
                for key, value in environment.items():
                    if re.fullmatch(r"[A-Z]+_METRICS_PORT", key):
                        assert value == port, (host, key, value, port)


# Runs amtool.
@pytest.mark.slow
def test_amtool_accepts_the_alertmanager_config():
    result = run(tool("amtool"), "check-config", str(DEPLOY / "alertmanager" / "alertmanager.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
