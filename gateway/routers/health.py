"""GET /api/v1/health: the gateway and the gRPC health of every backend.

Public, for probes; each backend's address (`target`) only to a caller with a valid token,
since anonymous callers have no business mapping the network behind the gateway.
"""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from paneas.gateway.auth import caller_is_authenticated

router = APIRouter(tags=["health"])


@router.get("/api/v1/health", summary="Health of the gateway and each backend service")
async def health(request: Request) -> JSONResponse:
    backends = await request.app.state.backends.health(
        request.app.state.settings.health_timeout_seconds
    )
    serving = all(entry["status"] == "SERVING" for entry in backends.values())
    if not caller_is_authenticated(request):
        backends = {name: {"status": entry["status"]} for name, entry in backends.items()}
    return JSONResponse(
        {"status": "ok" if serving else "degraded", "backends": backends},
        status_code=200 if serving else 503,
    )
