"""A real Prometheus (Debian `prometheus`) scrapes every target of the running mesh: Envoy's
read-only stats listener (/stats/prometheus, as in compose and Kubernetes) and each
service's metrics port, with `up == 1` for each."""

import json
import subprocess
import time
import urllib.parse
import urllib.request
from urllib.parse import urlsplit

import yaml

from paneas.services.processes import free_port, http_ok, wait_until


def scrape_config(mesh) -> dict:
    jobs = [
        {
            "job_name": "envoy",
            "metrics_path": "/stats/prometheus",
            "static_configs": [{"targets": [f"127.0.0.1:{mesh.envoy.target.stats_port}"]}],
        },
        {
            "job_name": "asr",
            "static_configs": [{"targets": [f"127.0.0.1:{i.metrics_port}" for i in mesh.asr]}],
        },
    ]
    for name, service in mesh.services.items():
        jobs.append(
            {
                "job_name": name,
                "static_configs": [{"targets": [urlsplit(service.metrics_url).netloc]}],
            }
        )
    return {"global": {"scrape_interval": "1s", "scrape_timeout": "1s"}, "scrape_configs": jobs}


def query(base: str, expr: str) -> list[dict]:
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)["data"]["result"]


def test_prometheus_scrapes_every_target(mesh, tmp_path):
    mesh.restore()
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(scrape_config(mesh)))
    port = free_port()
    prometheus = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={config}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("wb"),
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: http_ok(f"{base}/-/ready"), "Prometheus", prometheus, 60)
        expected = 4 + len(mesh.asr) + 1  # llm, ocr, tts, jobs, the ASR instances, Envoy
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            up = query(base, "up")
            if len(up) == expected and all(s["value"][1] == "1" for s in up):
                break
            time.sleep(0.5)
        by_target = {(s["metric"]["job"], s["metric"]["instance"]): s["value"][1] for s in up}
        assert len(by_target) == expected, by_target
        assert set(by_target.values()) == {"1"}, by_target
        # What the dashboards read is there: Envoy's per-cluster health, the services' own.
        healthy = query(base, 'envoy_cluster_membership_healthy{envoy_cluster_name="asr"}')
        assert healthy and healthy[0]["value"][1] == str(len(mesh.asr))
    finally:
        prometheus.terminate()
        prometheus.wait(30)
