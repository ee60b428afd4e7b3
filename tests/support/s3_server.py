"""A real S3-protocol server for tests: moto's standalone server (`moto_server`, from the dev
extra) as a child process on loopback, own free port, state in memory. It can be killed and
started again on the same port (an object store outage); objects do not survive that.

moto keeps S3's rules that matter to us: parts of a multipart upload under 5 MiB (all but the
last) are refused, and an upload is no object until it is completed."""

import os
import secrets
import shutil
import sys
from pathlib import Path

from paneas.services.processes import LoggedProcess, free_port, http_ok, wait_until


class S3Server:
    def __init__(self, log_folder: Path, bucket: str = "paneas-jobs") -> None:
        self.port = free_port()
        self.log_folder = log_folder
        self.bucket = bucket
        # moto takes any credentials; these are long enough for JobsSettings' checks.
        self.access_key_id = "paneas-test-key"
        self.secret_access_key = secrets.token_hex(20)
        self.server: LoggedProcess | None = None
        self.starts = 0
        self.start()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, prefix: str = "jobs") -> dict[str, str]:
        """The JOBS_* settings that store jobs in this server's bucket, under `prefix`."""
        return {
            "JOBS_STORAGE_URL": f"s3://{self.bucket}/{prefix}",
            "JOBS_S3_ENDPOINT_URL": self.endpoint_url,
            "JOBS_S3_REGION": "us-east-1",
            "JOBS_S3_ACCESS_KEY_ID": self.access_key_id,
            "JOBS_S3_SECRET_ACCESS_KEY": self.secret_access_key,
        }

    def client(self):
        """A boto3 client of our own, to look at the bucket as a test."""
        import boto3

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
        )

    def start(self, timeout: float = 60) -> None:
        """Starts the server (again) and creates the bucket, as the deployment's init step
        does for MinIO."""
        self.starts += 1
        server = shutil.which("moto_server", path=str(Path(sys.executable).parent))
        assert server, "moto_server is not installed: run `bash scripts/setup.sh --dev`"
        log = self.log_folder / f"moto-{self.starts}.log"
        self.server = LoggedProcess(
            "moto_server",
            [server, "-H", "127.0.0.1", "-p", str(self.port)],
            # No AWS_* variables of ours: the server needs none.
            {"PATH": os.environ.get("PATH", "")},
            log,
        )
        wait_until(
            lambda: http_ok(f"{self.endpoint_url}/moto-api/"),
            "moto_server",
            self.server.process,
            timeout=timeout,
        )
        self.client().create_bucket(Bucket=self.bucket)

    def keys(self, prefix: str = "") -> list[str]:
        listed = self.client().list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return sorted(item["Key"] for item in listed.get("Contents", []))

    def kill(self) -> None:
        """Abrupt death, as in an outage."""
        if self.server is not None:
            self.server.process.kill()
            self.server.stop()
        self.server = None
