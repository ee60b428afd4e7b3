"""GET /api/v1/health: the gateway and the gRPC health of every backend."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["health"])


@router.get("/api/v1/health", summary="Health of the gateway and each backend service")
async def health(request: Request) -> JSONResponse:
    backends = await request.app.state.backends.health(
        request.app.state.settings.health_timeout_seconds
    )
    serving = all(entry["status"] == "SERVING" for entry in backends.values())
    return JSONResponse(
        {"status": "ok" if serving else "degraded", "backends": backends},
        status_code=200 if serving else 503,
    )
