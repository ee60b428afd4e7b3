"""Hostile HTTP clients against real gateways: made-up methods, large unauthenticated bodies,
lengthened deadlines; what anonymous callers can see (issue 15)."""

import json
import socket

import httpx
import pytest

from tests.conftest import start_gateway
from tests.gateway.test_transcoding import DENSE_PAGE_REQUEST

pytestmark = pytest.mark.backends("ocr")

# Under the session gateway's 8 MB body limit, so only authentication can refuse it early.
DECLARED_BODY_BYTES = 7 * 1024 * 1024
SENT_BODY_BYTES = 64 * 1024


@pytest.fixture(scope="module")
def headers(api_token) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token}"}


def test_made_up_methods_do_not_grow_the_metrics(gateway):
    made_up = "X" * 4096
    before = httpx.get(f"{gateway.url}/metrics").text
    for index in range(30):
        method = f"{made_up}{index}"  # each one a new label value, were methods labels
        response = httpx.request(method, f"{gateway.url}/api/v1/health")
        assert response.status_code == 405
    after = httpx.get(f"{gateway.url}/metrics").text
    assert made_up not in after
    assert 'method="other"' in after
    # At most a handful of new series (route, `other`, 405), never 30 x 4 KB of labels.
    assert len(after) - len(before) < 16 * 1024


def partial_post(url: str, path: str, headers: dict[str, str]) -> tuple[int, dict]:
    """Declares a 7 MB body, sends 64 KB of it and waits for an answer: one can only come
    if the server answers without reading the body."""
    host, port = url.removeprefix("http://").split(":")
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {DECLARED_BODY_BYTES}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        sock.sendall(b'{"messages": "' + b"a" * (SENT_BODY_BYTES - 14))
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            assert chunk, "connection closed without an answer"
            received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(body) < length:
            body += sock.recv(65536)
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


@pytest.mark.parametrize("token", [None, "not-a-token"], ids=["no-token", "wrong-token"])
def test_unauthenticated_bodies_are_refused_before_they_are_read(gateway, token):
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    status, body = partial_post(gateway.url, "/v1/chat/completions", auth)
    assert status == 401
    assert body["error"]["code"] == "invalid_api_key"  # OpenAI's body on /v1
    status, body = partial_post(gateway.url, "/api/v1/ocr:recognize", auth)
    assert status == 401
    assert body["code"] == 16 and "bearer token" in body["message"]  # google.rpc.Status


def test_anonymous_health_names_no_addresses(gateway, headers, ocr_service):
    anonymous = httpx.get(f"{gateway.url}/api/v1/health").json()
    assert anonymous["backends"]["ocr"] == {"status": "SERVING"}
    assert ocr_service.target not in json.dumps(anonymous)
    with_token = httpx.get(f"{gateway.url}/api/v1/health", headers=headers).json()
    assert with_token["backends"]["ocr"] == {"target": ocr_service.target, "status": "SERVING"}


def test_the_page_has_the_same_policy_at_both_addresses(gateway):
    root = httpx.get(f"{gateway.url}/")
    page = httpx.get(f"{gateway.url}/ui/index.html")
    assert page.status_code == 200 and page.text == root.text
    policy = root.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert page.headers["content-security-policy"] == policy
    assert page.headers["x-content-type-options"] == "nosniff"


@pytest.fixture(scope="module")
def short_deadline_gateway(api_token, ocr_service, tmp_path_factory):
    # The server's deadline for OCR: far shorter than the dense page takes.
    running = start_gateway(
        api_token,
        ocr_service.target,
        tmp_path_factory.mktemp("short-deadline"),
        GATEWAY_OCR_TIMEOUT_SECONDS="0.1",
    )
    yield running
    running.process.stop()


def test_a_client_cannot_lengthen_the_servers_deadline(short_deadline_gateway, headers):
    response = httpx.post(
        f"{short_deadline_gateway.url}/api/v1/ocr:recognize",
        headers={**headers, "Grpc-Timeout": "99999999H"},
        content=DENSE_PAGE_REQUEST,
        timeout=60,
    )
    assert response.status_code == 504, response.text
    assert response.json()["code"] == 4  # DEADLINE_EXCEEDED
