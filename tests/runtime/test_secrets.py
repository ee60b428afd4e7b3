"""Placeholder and short tokens are refused at start, by the services, the gateway and the
launcher alike, with a message that says what to do and never shows the token."""

import os
import subprocess
import sys

import pytest

from paneas.services.processes import free_port
from tests.support import REPO

# Slow: starts each service to see it refuse (subprocess).
pytestmark = pytest.mark.slow

PLACEHOLDER = "change-me-token-1"  # deploy/compose/.env.example, deploy/k8s/secret.example.yaml
SHORT = "s3cr3t-short"


def refused_start(module: str, env: dict[str, str]) -> str:
    """What `python -m module` printed when it refused to start (exit status 1)."""
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
    return output


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
    output = refused_start(module, env)
    assert f"refusing to start: {says}" in output
    assert "openssl rand -hex 24" in output
    assert PLACEHOLDER not in output and SHORT not in output
    assert "Traceback" not in output


# Every other secret the stack reads, as deployments set it: (setting, the value it takes
# with `secret` inside, the name the refusal gives it).
SECRET_SETTINGS = [
    ("GATEWAY_TICKET_SECRET", "{secret}", "GATEWAY_TICKET_SECRET"),
    (
        "REDIS_URL",
        "redis://:{secret}@127.0.0.1:6379/0",
        "REDIS_PASSWORD (the password in REDIS_URL)",
    ),
    (
        "DATABASE_URL",
        "postgresql://paneas:{secret}@127.0.0.1:5432/paneas",
        "POSTGRES_PASSWORD (the password in DATABASE_URL)",
    ),
]


@pytest.mark.parametrize(("setting", "value", "name"), SECRET_SETTINGS, ids=lambda s: s)
@pytest.mark.parametrize(
    ("module", "secret", "says"),
    [
        ("paneas.gateway", "change-me-ticket-secret", "holds a placeholder"),
        ("paneas.gateway", SHORT, "holds a value of 12 characters; use at least 16"),
        # The launcher refuses before it starts anything.
        ("paneas.services.launcher", "change-me-redis-password", "holds a placeholder"),
    ],
    ids=["gateway-placeholder", "gateway-short", "launcher-placeholder"],
)
def test_insecure_secrets_are_refused_at_start(setting, value, name, module, secret, says):
    env = {
        **{key: val for key, val in os.environ.items() if key != "API_TOKENS"},
        setting: value.format(secret=secret),
        "GATEWAY_PORT": str(free_port()),
    }
    output = refused_start(module, env)
    assert f"refusing to start: {name} {says}" in output
    assert "openssl rand -hex 24" in output
    assert secret not in output
    assert "Traceback" not in output
    # The launcher said so itself, before starting any component.
    assert "exited with" not in output
