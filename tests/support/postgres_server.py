"""A throwaway PostgreSQL 15 server for tests: its own data folder, port and database.

PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user, on a
folder that user owns. Skips the tests that need it where the binaries are not installed.
"""

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from paneas.services.processes import free_port, stop_process, wait_until

BIN = Path("/usr/lib/postgresql/15/bin")
DATABASE = "paneas"


def _as_postgres() -> dict[str, str]:
    """subprocess arguments that run a program as the `postgres` user when we are root."""
    return {"user": "postgres", "group": "postgres"} if os.geteuid() == 0 else {}


class PostgresServer:
    def __init__(self, port: int | None = None) -> None:
        """`port`: a port chosen beforehand, e.g. one a client was already told (to test a
        database that comes up late)."""
        self.folder = Path(tempfile.mkdtemp(prefix="paneas-postgres-"))
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        self.data = self.folder / "data"
        self.port = port or free_port()
        subprocess.run(
            [str(BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust"],
            check=True,
            capture_output=True,
            **_as_postgres(),
        )
        self._log = (self.folder / "postgres.log").open("wb")
        server = [str(BIN / "postgres"), "-D", str(self.data), "-k", str(self.folder)]
        self.process = subprocess.Popen(
            [*server, "-h", "127.0.0.1", "-p", str(self.port)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            **_as_postgres(),
        )
        wait_until(self._accepting, "PostgreSQL", self.process, timeout=30)
        subprocess.run(
            [str(BIN / "createdb"), *self._client_args(), DATABASE],
            check=True,
            capture_output=True,
        )

    def _client_args(self) -> list[str]:
        return ["-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]

    def _accepting(self) -> bool:
        ready = subprocess.run(
            [str(BIN / "pg_isready"), *self._client_args()], check=False, capture_output=True
        )
        return ready.returncode == 0

    @property
    def url(self) -> str:
        """A plain `postgresql://` URL, as deployments write DATABASE_URL."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def stop(self) -> None:
        # SIGINT is PostgreSQL's "fast" shutdown: it does not wait for clients to leave.
        stop_process(self.process, 30, signal.SIGINT)
        self._log.close()
        shutil.rmtree(self.folder, ignore_errors=True)


# Test modules import it; tests then name it `postgres`.
@pytest.fixture(scope="session", name="postgres")
def postgres_fixture() -> Iterator[PostgresServer]:
    if not (BIN / "postgres").exists():
        pytest.skip(f"PostgreSQL 15 is not installed ({BIN})")
    server = PostgresServer()
    yield server
    server.stop()
