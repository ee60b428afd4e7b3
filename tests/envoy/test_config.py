"""The committed Envoy configs are the generator's current output, and Envoy accepts every
target's rendering (`envoy --mode validate` builds every listener and cluster)."""

import subprocess

import pytest
import yaml

from paneas.services.envoy.__main__ import committed, committed_text
from paneas.services.envoy.config import Tls, compose_target, k8s_target, local_target, render
from paneas.services.envoy.process import validate
from tests.support import REPO


# Runs `envoy --mode validate`.
@pytest.mark.slow
@pytest.mark.parametrize("path", list(committed()), ids=lambda p: p.name)
def test_committed_config_is_current_and_valid(path):
    target = committed()[path]
    assert path.read_text() == committed_text(target), (
        f"{path} is stale: run .venv/bin/python -m paneas.services.envoy"
    )
    result = validate(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout
    assert "Deprecated" not in result.stdout + result.stderr


def test_compose_and_k8s_match_the_deployments():
    compose = render(compose_target())
    listener = compose["static_resources"]["listeners"][0]["address"]["socket_address"]
    assert listener == {"address": "0.0.0.0", "port_value": 9000}
    # Admin (POST /quitquitquit, ...) on loopback; the directory reads it from Envoy's network
    # namespace, Prometheus scrapes the read-only stats listener.
    assert compose["admin"]["address"]["socket_address"] == {
        "address": "127.0.0.1",
        "port_value": 9901,
    }
    stats = compose["static_resources"]["listeners"][1]["address"]["socket_address"]
    assert stats == {"address": "0.0.0.0", "port_value": 9902}
    endpoints = {
        cluster["name"]: [
            (e["endpoint"]["address"]["socket_address"]["address"])
            + f":{e['endpoint']['address']['socket_address']['port_value']}"
            for e in cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
        ]
        for cluster in compose["static_resources"]["clusters"]
    }
    assert endpoints == {
        "asr": [f"asr-{i}:50051" for i in range(4)],
        "llm": ["llm:50052"],
        "ocr": ["ocr:50053"],
        "tts": ["tts:50054"],
        "jobs": ["jobs:50055"],
        # Beside Envoy: its container shares Envoy's network namespace.
        "directory": ["127.0.0.1:50050"],
        "envoy_admin": ["127.0.0.1:9901"],
    }
    compose_file = yaml.safe_load((REPO / "deploy/compose/docker-compose.yml").read_text())
    assert {f"asr-{i}" for i in range(4)} <= set(compose_file["services"])
    directory = compose_file["services"]["directory"]
    assert directory["network_mode"] == "service:envoy"
    assert directory["environment"]["DIRECTORY_PORT"] == "50050"

    k8s = render(k8s_target())
    for cluster in k8s["static_resources"]["clusters"]:
        if cluster["name"] in ("directory", "envoy_admin"):
            assert cluster["type"] == "STATIC"  # in the Envoy pod
            continue
        assert cluster["type"] == "STRICT_DNS"
        (endpoint,) = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
        host = endpoint["endpoint"]["address"]["socket_address"]["address"]
        assert host == f"{cluster['name']}.paneas.svc.cluster.local"


def test_local_binds_loopback_only():
    config = render(local_target([50051, 50061]))
    assert config["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"
    listener = config["static_resources"]["listeners"][0]
    assert listener["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 9000}


# Runs openssl and `envoy --mode validate`.
@pytest.mark.slow
@pytest.mark.parametrize("policy", ["MAGLEV", "RING_HASH"])
def test_local_and_tls_renderings_validate(tmp_path, policy):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    for tls in (None, Tls(str(cert), str(key))):
        path = tmp_path / "envoy.yaml"
        path.write_text(
            yaml.safe_dump(render(local_target([50051, 50061], lb_policy=policy, tls=tls)))
        )
        result = validate(path)
        assert result.returncode == 0, result.stdout + result.stderr


def test_health_and_reflection_go_to_the_directory_unless_a_service_is_named():
    routes = render(local_target([50051], directory_port=50070))["static_resources"]
    routes = routes["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    routes = routes["route_config"]["virtual_hosts"][0]["routes"]
    health = [r for r in routes if r["match"].get("prefix") == "/grpc.health.v1.Health/"]
    by_header = {
        r["match"]["headers"][0]["string_match"]["exact"]: r["route"]["cluster"]
        for r in health
        if "string_match" in r["match"].get("headers", [{}])[0]
    }
    assert by_header == {"asr": "asr", "llm": "llm", "ocr": "ocr", "tts": "tts", "jobs": "jobs"}
    # An unknown header value is refused; no header: the directory.
    assert health[-2]["match"]["headers"][0]["present_match"] is True
    assert "direct_response" in health[-2]
    assert health[-1]["route"]["cluster"] == "directory"
    assert "headers" not in health[-1]["match"]
