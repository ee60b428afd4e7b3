"""The browser UI: plain ES modules and CSS under gateway/static/, no build step.

`GET /` serves the page and `/ui/*` its files. Both are public (the page holds no data); every
API call the page makes carries the token the user signs in with. The page is same-origin, so
it needs no CORS, and its Content-Security-Policy allows nothing but this origin.
"""

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

STATIC = Path(__file__).resolve().parent / "static"

# Scripts, styles, workers and connections from this origin only; blob: for the audio and
# images the page makes from responses and uploads.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self' ws: wss:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
)


SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class UiFiles(StaticFiles):
    """The page's files with the same policy as `/`: `/ui/index.html` is the same page, and
    without the policy it would run with none."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        return response


def install_ui(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(
            STATIC / "index.html", headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"}
        )

    app.mount("/ui", UiFiles(directory=STATIC), name="ui")
