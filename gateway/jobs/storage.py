"""Where jobs keep their inputs and results: a `Storage` named by JOBS_STORAGE_URL.
`file://` is a local folder (the embedded stack); `s3://bucket[/prefix]` is any S3-compatible
store (AWS S3, MinIO in compose, Ceph, ...). Both keep the same contract:

- `write` takes the bytes as an async iterable and holds a bounded amount of them (a chunk;
  S3: one part), and a key is either whole or absent (a failed or interrupted write leaves
  nothing under it);
- `read` of a key that is not there raises FileNotFoundError;
- `delete_prefix` removes every key under a job's prefix and is fine with none being there;
- a store that cannot be reached or refuses a request raises `StorageUnavailable`, whose
  message names the store: the worker tries the job again later, then fails it with it.
"""

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterable, Callable
from pathlib import Path
from typing import Protocol, TypeVar
from urllib.parse import unquote, urlparse

# boto3, not aiobotocore or minio: it is AWS's own SDK and the best kept of the three, speaks
# to every S3-compatible store through `endpoint_url`, and retries with backoff by itself;
# aiobotocore pins botocore to a narrow range (it patches its internals) and pulls aiohttp in
# beside httpx. boto3 blocks, so every call runs in a thread (`S3Storage._call`) and the
# event loop never waits on the network.
import boto3
import botocore.config
import botocore.exceptions

from paneas.gateway.jobs.settings import JobsSettings

CHUNK_BYTES = 1024 * 1024
# Most keys one S3 DeleteObjects request takes (and one ListObjectsV2 page gives).
_S3_DELETE_BATCH = 1000

T = TypeVar("T")


class StorageUnavailable(Exception):
    """The store could not be reached, or refused the request (credentials, a missing
    bucket). Worth trying again later; the message says which store and what it answered."""


class Storage(Protocol):
    async def write(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        """Stores the chunks under `key`, replacing what was there; the bytes written."""
        ...

    async def read(self, key: str) -> bytes: ...

    async def delete_prefix(self, prefix: str) -> None: ...


class FileStorage:
    """Keys are relative paths under `root`. Blocking file calls run in threads, so a slow
    disk never stalls the gateway's event loop."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        # Keys are built from job ids, but a key must never reach outside the root.
        if not path.is_relative_to(self.root.resolve()) or path == self.root.resolve():
            raise ValueError(f"storage key {key!r} is outside the storage root")
        return path

    async def write(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        path = self._path(key)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        # Written aside and renamed into place: a reader never sees half a file.
        partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
        written = 0
        file = await asyncio.to_thread(partial.open, "wb")
        try:
            async for chunk in chunks:
                await asyncio.to_thread(file.write, chunk)
                written += len(chunk)
            await asyncio.to_thread(file.flush)
            await asyncio.to_thread(os.fsync, file.fileno())
        except BaseException:
            file.close()
            partial.unlink(missing_ok=True)
            raise
        file.close()
        await asyncio.to_thread(os.replace, partial, path)
        return written

    async def read(self, key: str) -> bytes:
        return await asyncio.to_thread(self._path(key).read_bytes)

    async def delete_prefix(self, prefix: str) -> None:
        await asyncio.to_thread(shutil.rmtree, self._path(prefix), ignore_errors=True)


class S3Storage:
    """Keys under `prefix` in an S3 bucket. An upload of more than one part goes up as a
    multipart upload, one part at a time (memory holds one part), and is only an object once
    completed: a write that fails or is cancelled aborts it, and the key stays absent."""

    def __init__(self, bucket: str, prefix: str, settings: JobsSettings) -> None:
        self.bucket = bucket
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.part_bytes = settings.s3_part_bytes
        endpoint = settings.s3_endpoint_url or None
        self.name = f"s3://{bucket}/{self.prefix}" + (f" at {endpoint}" if endpoint else "")
        config = botocore.config.Config(
            region_name=settings.s3_region,
            connect_timeout=settings.s3_connect_timeout_seconds,
            read_timeout=settings.s3_read_timeout_seconds,
            retries={"mode": "standard", "max_attempts": settings.s3_max_attempts},
            # Other stores (MinIO, Ceph) answer at http://host/bucket/key; virtual hosts
            # (bucket.host) need DNS set up for them. AWS itself takes either.
            s3={"addressing_style": "path" if endpoint else "auto"},
            # Checksums only where S3 requires them: newer SDK defaults send headers that
            # several S3-compatible stores refuse (SignatureDoesNotMatch, NotImplemented).
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        # A session of its own: boto3's default session is not safe to share across threads.
        self.client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=settings.s3_access_key_id or None,
            aws_secret_access_key=settings.s3_secret_access_key or None,
            config=config,
        )

    def _key(self, key: str) -> str:
        if not key or key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"storage key {key!r} is outside the storage prefix")
        return self.prefix + key

    async def _call(self, function: Callable[..., T], *args: object, **kwargs: object) -> T:
        """`function` in a thread, the client's errors as StorageUnavailable."""
        try:
            return await asyncio.to_thread(function, *args, **kwargs)
        except botocore.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise FileNotFoundError(f"{self.name}: no object {kwargs.get('Key')!r}") from None
            raise StorageUnavailable(f"the object store {self.name} refused: {error}") from None
        except botocore.exceptions.BotoCoreError as error:
            raise StorageUnavailable(
                f"the object store {self.name} is unavailable: {error}"
            ) from None

    async def write(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        name = self._key(key)
        buffer = bytearray()
        written = 0
        upload_id = None
        parts: list[dict] = []
        try:
            async for chunk in chunks:
                buffer += chunk
                written += len(chunk)
                while len(buffer) >= self.part_bytes:
                    if upload_id is None:
                        created = await self._call(
                            self.client.create_multipart_upload, Bucket=self.bucket, Key=name
                        )
                        upload_id = created["UploadId"]
                    part = bytes(buffer[: self.part_bytes])
                    del buffer[: self.part_bytes]
                    number = len(parts) + 1
                    uploaded = await self._call(
                        self.client.upload_part,
                        Bucket=self.bucket,
                        Key=name,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=part,
                    )
                    parts.append({"PartNumber": number, "ETag": uploaded["ETag"]})
            if upload_id is None:
                # Smaller than one part: one plain PUT.
                await self._call(
                    self.client.put_object, Bucket=self.bucket, Key=name, Body=bytes(buffer)
                )
                return written
            if buffer:
                number = len(parts) + 1
                uploaded = await self._call(
                    self.client.upload_part,
                    Bucket=self.bucket,
                    Key=name,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=bytes(buffer),
                )
                parts.append({"PartNumber": number, "ETag": uploaded["ETag"]})
            await self._call(
                self.client.complete_multipart_upload,
                Bucket=self.bucket,
                Key=name,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            if upload_id is not None:
                # Its parts would otherwise be kept (and billed) until a lifecycle rule
                # removes them; the key itself never existed.
                try:
                    await self._call(
                        self.client.abort_multipart_upload,
                        Bucket=self.bucket,
                        Key=name,
                        UploadId=upload_id,
                    )
                except StorageUnavailable:
                    pass  # the store is gone: the error being raised says so already
            raise
        return written

    async def read(self, key: str) -> bytes:
        def read_object(Key: str) -> bytes:
            return self.client.get_object(Bucket=self.bucket, Key=Key)["Body"].read()

        return await self._call(read_object, Key=self._key(key))

    async def delete_prefix(self, prefix: str) -> None:
        name = self._key(prefix).rstrip("/") + "/"

        def delete_all() -> None:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=name, PaginationConfig={"PageSize": _S3_DELETE_BATCH}
            )
            for page in pages:
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if not keys:
                    continue
                answer = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True}
                )
                if errors := answer.get("Errors"):
                    first = errors[0]
                    raise StorageUnavailable(
                        f"the object store {self.name} kept {len(errors)} objects under "
                        f"{name!r}: {first.get('Code')}: {first.get('Message')}"
                    )

        await self._call(delete_all)


def open_storage(settings: JobsSettings) -> Storage:
    """JOBS_STORAGE_URL as a Storage: `file:///srv/paneas/jobs` -> a FileStorage there;
    `s3://bucket/prefix` -> an S3Storage with the JOBS_S3_* settings."""
    url = settings.storage()
    parsed = urlparse(url)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise ValueError(f"JOBS_STORAGE_URL {url!r}: a file URL names a local folder")
        return FileStorage(Path(unquote(parsed.path)))
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ValueError(f"JOBS_STORAGE_URL {url!r}: name the bucket, s3://bucket[/prefix]")
        return S3Storage(parsed.netloc, unquote(parsed.path), settings)
    raise ValueError(
        f"JOBS_STORAGE_URL {url!r}: unsupported scheme {parsed.scheme!r}; use "
        "file:///absolute/folder or s3://bucket[/prefix]"
    )


async def chunks_of(file, chunk_bytes: int = CHUNK_BYTES) -> AsyncIterable[bytes]:
    """An upload (anything with an async `read(size)`) as chunks."""
    while chunk := await file.read(chunk_bytes):
        yield chunk


def input_key(job_id: str) -> str:
    return f"{job_id}/input"


def result_key(job_id: str) -> str:
    """A transcription's result: the RecognizeResponse as protobuf bytes, from which every
    result format is rendered."""
    return f"{job_id}/result.pb"


async def one_chunk(data: bytes) -> AsyncIterable[bytes]:
    yield data
