"""Routes derived from the contracts' google.api.http annotations, against real services."""

import asyncio
import base64
import json
import subprocess
import sys
import threading
from pathlib import Path

import grpc
import httpx
import pytest

from paneas.tts.v1 import tts_pb2, tts_pb2_grpc
from tests.conftest import start_gateway
from tests.ocr.documents import ENGLISH, encode, render_text

# A page of dense text: far more than 100 ms of OCR, so a 100 ms deadline always expires.
DENSE_PAGE_REQUEST = json.dumps(
    {"content": base64.b64encode(encode(render_text([ENGLISH] * 6), "PNG")).decode()}
)


@pytest.fixture(scope="module")
def headers(api_token) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token}"}


def test_get_binding_returns_the_rpc_response(gateway, headers):
    response = httpx.get(f"{gateway.url}/api/v1/ocr/engines", headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert body["default_engine"] == "ENGINE_TESSERACT"
    assert {engine["engine"] for engine in body["engines"]} == {
        "ENGINE_TESSERACT",
        "ENGINE_RAPIDOCR",
    }


def test_post_binding_with_json_body(gateway, headers, ocr_service):
    png = encode(render_text(["Transcodificação funciona"]), "PNG")
    response = httpx.post(
        f"{gateway.url}/api/v1/ocr:recognize",
        headers={**headers, "X-Request-ID": "transcoded-request-7"},
        json={"content": base64.b64encode(png).decode(), "languages": ["pt"]},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert response.json()["pages"][0]["text"].strip() == "Transcodificação funciona"
    # The request id travelled to the service as gRPC metadata and into its logs.
    assert "transcoded-request-7" in ocr_service.process.log_text()


def test_camel_case_field_names_are_accepted(gateway, headers):
    response = httpx.post(
        f"{gateway.url}/api/v1/ocr:recognize",
        headers=headers,
        json={"content": "", "textLayerPolicy": "TEXT_LAYER_POLICY_FORCE_OCR"},
    )
    assert response.status_code == 400
    assert "empty" in response.json()["message"]  # parsed, then refused by the service


@pytest.mark.parametrize(
    "body, extra_headers, status, fragment",
    [
        ("{not json", {}, 400, "not valid JSON"),
        ('{"bogus": 1}', {}, 400, "bogus"),
        ('{"dpi": "many"}', {}, 400, "dpi"),
        ('["a list"]', {}, 400, "JSON object"),
        ("{}", {"Grpc-Timeout": "soon"}, 400, "Grpc-Timeout"),
        (DENSE_PAGE_REQUEST, {"Grpc-Timeout": "100m"}, 504, "Deadline"),
    ],
    ids=["malformed", "unknown-field", "wrong-type", "not-an-object", "bad-timeout", "deadline"],
)
def test_bad_requests_map_to_http(gateway, headers, body, extra_headers, status, fragment):
    response = httpx.post(
        f"{gateway.url}/api/v1/ocr:recognize",
        headers={**headers, **extra_headers, "Content-Type": "application/json"},
        content=body,
    )
    assert response.status_code == status, response.text
    payload = response.json()
    assert fragment.lower() in payload["message"].lower()
    assert set(payload) == {"code", "message", "details"}


def test_transcoded_routes_need_a_token(gateway):
    assert httpx.get(f"{gateway.url}/api/v1/ocr/engines").status_code == 401


def test_openapi_describes_transcoded_routes(gateway):
    spec = httpx.get(f"{gateway.url}/openapi.json").json()
    recognize = spec["paths"]["/api/v1/ocr:recognize"]["post"]
    schema = recognize["requestBody"]["content"]["application/json"]["schema"]
    assert schema["properties"]["content"]["format"] == "byte"
    assert "TEXT_LAYER_POLICY_FORCE_OCR" in schema["properties"]["text_layer_policy"]["enum"]
    assert "/api/v1/ocr/engines" in spec["paths"]
    assert "/api/v1/asr:recognize" in spec["paths"]
    assert "/api/v1/tts:synthesize" in spec["paths"]


def test_schemathesis_finds_no_server_errors(gateway, api_token):
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            f"{gateway.url}/openapi.json",
            "--checks",
            "not_a_server_error",
            "-H",
            f"Authorization: Bearer {api_token}",
            "--max-examples",
            "40",
            "--seed",
            "1",
            # A valid chat request without max_tokens generates until the context window is
            # full: minutes on CPU. The chat routes' validation has tests of its own.
            "--exclude-path-regex",
            "/chat/completions$|/llm:(chat|streamChat)$",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:]


class CountingVoices(tts_pb2_grpc.TtsServiceServicer):
    """A stand-in TTS backend (the real one arrives with its issue) that streams numbered
    chunks, to drive the gateway's generic server-streaming transcoding."""

    async def StreamSynthesize(self, request, context):
        if not request.text:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "text is empty")
        for index, word in enumerate(request.text.split()):
            yield tts_pb2.StreamSynthesizeResponse(audio=word.encode(), sentence_index=index)
        if request.voice == "fail-midway":
            await context.abort(grpc.StatusCode.INTERNAL, "voice broke")


@pytest.fixture(scope="module")
def streaming_gateway(api_token, tmp_path_factory):
    ready = threading.Event()
    state = {}

    def serve() -> None:
        async def main() -> None:
            server = grpc.aio.server()
            tts_pb2_grpc.add_TtsServiceServicer_to_server(CountingVoices(), server)
            state["port"] = server.add_insecure_port("127.0.0.1:0")
            await server.start()
            state["stop"] = asyncio.Event()
            ready.set()
            await state["stop"].wait()
            await server.stop(0)

        state["loop"] = asyncio.new_event_loop()
        state["loop"].run_until_complete(main())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait(10)
    gateway = start_gateway(
        api_token,
        "",
        tmp_path_factory.mktemp("streaming"),
        GATEWAY_OCR_TARGET="",
        GATEWAY_TTS_TARGET=f"127.0.0.1:{state['port']}",
    )
    yield gateway
    gateway.process.stop()
    state["loop"].call_soon_threadsafe(state["stop"].set)
    thread.join(10)


def test_services_not_deployed_offer_no_routes(streaming_gateway):
    paths = httpx.get(f"{streaming_gateway.url}/openapi.json").json()["paths"]
    assert "/api/v1/tts:streamSynthesize" in paths
    assert not any(path.startswith(("/api/v1/ocr", "/api/v1/asr", "/v1/chat")) for path in paths)


def test_server_streaming_as_ndjson(streaming_gateway, headers):
    response = httpx.post(
        f"{streaming_gateway.url}/api/v1/tts:streamSynthesize",
        headers=headers,
        json={"text": "one two three"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [base64.b64decode(line["result"]["audio"]) for line in lines] == [
        b"one",
        b"two",
        b"three",
    ]
    assert [line["result"]["sentence_index"] for line in lines] == [0, 1, 2]


def test_stream_error_before_first_message_is_an_http_error(streaming_gateway, headers):
    response = httpx.post(
        f"{streaming_gateway.url}/api/v1/tts:streamSynthesize", headers=headers, json={}
    )
    assert response.status_code == 400
    assert response.json()["message"] == "text is empty"


def test_stream_error_midway_is_an_error_line(streaming_gateway, headers):
    response = httpx.post(
        f"{streaming_gateway.url}/api/v1/tts:streamSynthesize",
        headers=headers,
        json={"text": "a b", "voice": "fail-midway"},
    )
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [list(line) for line in lines] == [["result"], ["result"], ["error"]]
    assert lines[-1]["error"] == {"code": 13, "message": "voice broke", "details": []}
