"""No token, a wrong token, a good token: over every route the gateway offers."""

import httpx
import pytest

PUBLIC = {("GET", "/api/v1/health"), ("GET", "/metrics"), ("GET", "/openapi.json")}


def offered_routes(gateway) -> list[tuple[str, str]]:
    spec = httpx.get(f"{gateway.url}/openapi.json").json()
    return [
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method in operations
        if (method.upper(), path) not in PUBLIC
    ]


def call(gateway, method: str, path: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, f"{gateway.url}{path}", headers=headers, timeout=60)


def test_every_protected_route_refuses_missing_and_wrong_tokens(gateway, api_token):
    routes = offered_routes(gateway)
    assert len(routes) >= 3
    for method, path in routes:
        for token in (None, "not-a-token"):
            response = call(gateway, method, path, token)
            assert response.status_code == 401, (method, path, token, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
        accepted = call(gateway, method, path, api_token)
        assert accepted.status_code != 401, (method, path, accepted.text)


@pytest.mark.parametrize("method, path", sorted(PUBLIC))
def test_public_routes_need_no_token(gateway, method, path):
    assert call(gateway, method, path, None).status_code == 200
