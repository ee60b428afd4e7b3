"""Placeholder and short tokens are refused at start, by the services, the gateway and the
launcher alike, with a message that says what to do and never shows the token."""

import os
import subprocess
import sys

import pytest

from tests.support.processes import REPO, free_port

PLACEHOLDER = "change-me-token-1"  # deploy/compose/.env.example, deploy/k8s/secret.example.yaml
SHORT = "s3cr3t-short"


@pytest.mark.parametrize(
    "module", ["paneas.services.ocr", "paneas.gateway", "paneas.services.launcher"]
)
@pytest.mark.parametrize(
    ("tokens", "says"),
    [
        (f"{'a' * 32},{PLACEHOLDER}", "API_TOKENS (token 2 of 2) holds a placeholder"),
        (SHORT, "API_TOKENS (token 1 of 1) holds a value of 12 characters; use at least 16"),
    ],
)
def test_insecure_tokens_are_refused_at_start(module, tokens, says):
    env = {
        **os.environ,
        "API_TOKENS": tokens,
        "OCR_PORT": str(free_port()),
        "OCR_METRICS_PORT": "0",
        "GATEWAY_PORT": str(free_port()),
    }
    result = subprocess.run(
        [sys.executable, "-m", module],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert f"refusing to start: {says}" in output
    assert "openssl rand -hex 24" in output
    assert PLACEHOLDER not in output and SHORT not in output
    assert "Traceback" not in output
