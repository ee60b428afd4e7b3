"""`python -m paneas.gateway` (or `paneas-gateway`): the REST gateway."""

import contextlib
import sys

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from paneas.gateway.app import create_app
from paneas.gateway.settings import GatewaySettings
from paneas.gateway.shutdown import GatewayServer
from paneas.services.runtime.logs import configure_logging
from paneas.services.runtime.settings import RuntimeSettings

WS_MAX_QUEUED_FRAMES = 4


def main() -> None:
    settings = GatewaySettings()
    runtime = RuntimeSettings()
    configure_logging("gateway", runtime.log_level, runtime.log_format)
    app = create_app(settings, runtime)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        # Our telemetry middleware writes the access log, with request and trace ids.
        access_log=False,
        timeout_graceful_shutdown=30,
        # The default, 16 MiB, would let one frame buffer 16 MiB before anything checks it.
        ws_max_size=settings.asr_stream_max_frame_bytes,
        # Frames the server holds for a socket whose app has stopped reading (a live stream
        # under backpressure); with the frame limit and the stream's byte buffer this bounds a
        # socket's memory (the default, 32, would allow 32 frames of the limit).
        ws_max_queue=WS_MAX_QUEUED_FRAMES,
        # No keepalive pings from the server: a live stream held back (the service reads no
        # more audio while its decoder is behind) reads none of the client's frames, its pong
        # included, and uvicorn would drop a client that is only ahead. A dead client is
        # found by GATEWAY_ASR_STREAM_IDLE_SECONDS instead.
        ws_ping_interval=None,
    )
    # uvicorn.run, with live streams drained before the sockets close (gateway/shutdown.py).
    server = GatewayServer(config, app.state.live_streams)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)


if __name__ == "__main__":
    main()
