"""Upload mode: one file (or one slice of it, `range`) to the station as binary frames."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection

READ_BYTES = 8 * 1024 * 1024  # read the card in large blocks; send them as chunk_size frames

Send = Callable[[ClientConnection, str, dict[str, Any]], Awaitable[None]]


class _Reader:
    """Reads a file sequentially on a thread up to `end`, hashing what it read."""

    def __init__(self, fh: Any, end: int) -> None:
        self.fh = fh
        self.end = end
        self.hasher = hashlib.sha256()
        self.position = 0

    def hash_prefix(self, offset: int) -> None:
        while self.position < offset:
            block = self.fh.read(min(READ_BYTES, offset - self.position))
            if not block:
                raise OSError(f"the file ends at {self.position} bytes, before offset {offset}")
            self.hasher.update(block)
            self.position += len(block)

    def skip_to(self, offset: int) -> None:
        self.fh.seek(offset)
        self.position = offset

    def read(self) -> bytes:
        block = self.fh.read(min(READ_BYTES, self.end - self.position))
        self.hasher.update(block)
        self.position += len(block)
        return block


async def upload_file(ws: ClientConnection, send: Send, request_id: str, path: str, local: Path, size: int,
                      offset: int, chunk_size: int, *, length: int | None = None,
                      cancelled: Callable[[], bool] = lambda: False) -> None:
    """`sd:upload_begin`, the bytes from `offset` in frames of `chunk_size`, `sd:file_copied`.

    Whole file (`length` None): `sha256` of the whole file, from byte 0. A slice (`range`):
    the bytes [offset, offset + length) cut at the end of the file, `sha256` of those alone.
    A read error after the begin becomes `sd:copy_error` (retryable: the card may be reseated);
    a cancel between frames ends the upload with a `sd:copy_error` that is not retryable."""
    def error(text: str, retryable: bool) -> Awaitable[None]:
        return send(ws, "sd:copy_error", {"request_id": request_id, "path": path, "error": text,
                                          "retryable": retryable})

    if length is not None and offset >= size:
        await error(f"slice offset {offset} is at or beyond the end of the file ({size} bytes)", False)
        return
    try:
        fh = await asyncio.to_thread(open, local, "rb", buffering=0)
    except OSError as exc:
        await error(f"cannot open: {exc.strerror or exc}", True)
        return
    end = size if length is None else min(offset + length, size)
    reader = _Reader(fh, end)
    pending: asyncio.Future[bytes] | None = None
    try:
        actual = os.fstat(fh.fileno()).st_size
        if actual != size:
            await error(f"the file changed on the card ({actual} bytes, listed {size})", False)
            return
        offset = min(max(offset, 0), size)
        begin: dict[str, Any] = {"request_id": request_id, "path": path, "size": size, "offset": offset}
        if length is not None:
            begin["length"] = end - offset  # the bytes that follow: the slice cut at the end of the file
        await send(ws, "sd:upload_begin", begin)
        try:
            if length is None:
                await asyncio.to_thread(reader.hash_prefix, offset)
            else:
                await asyncio.to_thread(reader.skip_to, offset)
            # Read the next block while the current one is being sent.
            pending = asyncio.ensure_future(asyncio.to_thread(reader.read))
            while True:
                block = await pending
                if not block:
                    break
                pending = asyncio.ensure_future(asyncio.to_thread(reader.read))
                view = memoryview(block)
                for start in range(0, len(block), chunk_size):
                    if cancelled():
                        await error("cancelled by the station", False)
                        return
                    await ws.send(view[start:start + chunk_size])
        except OSError as exc:
            await error(f"read error at 0x{reader.position:x}: {exc.strerror or exc}", True)
            return
        if reader.position != end:
            await error(f"the file ended at {reader.position} of {size} bytes", True)
            return
        copied: dict[str, Any] = {"request_id": request_id, "path": path, "size": size,
                                  "sha256": reader.hasher.hexdigest()}
        if length is not None:
            copied.update(offset=offset, length=end - offset)
        await send(ws, "sd:file_copied", copied)
    finally:
        if pending is not None and not pending.done():
            await asyncio.gather(pending, return_exceptions=True)  # never close under a running read
        await asyncio.to_thread(fh.close)
