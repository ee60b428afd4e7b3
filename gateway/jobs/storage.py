"""Where jobs keep their inputs and results: a `Storage` named by a URL. `file://` is a local
folder; an S3 backend is for later and must keep the same contract:

- `write` takes the bytes as an async iterable and never holds more than one chunk, and a
  key is either whole or absent (a failed or interrupted write leaves nothing under it);
- `delete_prefix` removes every key under a job's prefix and is fine with none being there.
"""

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterable
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse

CHUNK_BYTES = 1024 * 1024


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


def open_storage(url: str) -> Storage:
    """`file:///srv/paneas/jobs` -> a FileStorage there."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise ValueError(f"JOBS_STORAGE_URL {url!r}: a file URL names a local folder")
        return FileStorage(Path(unquote(parsed.path)))
    raise ValueError(
        f"JOBS_STORAGE_URL {url!r}: unsupported scheme {parsed.scheme!r} (only file:// for now)"
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
