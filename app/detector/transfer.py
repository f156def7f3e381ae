"""Sending one file to the station: upload mode (binary frames) or shared-path mode (a copy)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection

READ_BYTES = 8 * 1024 * 1024  # read the card in large blocks; send them as chunk_size frames

Send = Callable[[ClientConnection, str, dict[str, Any]], Awaitable[None]]


class _Reader:
    """Reads a file sequentially on a thread and hashes what it read (the whole file)."""

    def __init__(self, fh: Any) -> None:
        self.fh = fh
        self.hasher = hashlib.sha256()
        self.position = 0

    def hash_prefix(self, offset: int) -> None:
        while self.position < offset:
            block = self.fh.read(min(READ_BYTES, offset - self.position))
            if not block:
                raise OSError(f"the file ends at {self.position} bytes, before offset {offset}")
            self.hasher.update(block)
            self.position += len(block)

    def read(self) -> bytes:
        block = self.fh.read(READ_BYTES)
        self.hasher.update(block)
        self.position += len(block)
        return block


async def upload_file(ws: ClientConnection, send: Send, request_id: str, path: str, local: Path, size: int,
                      offset: int, chunk_size: int) -> None:
    """`sd:upload_begin`, the bytes from `offset` in frames of `chunk_size`, `sd:file_copied`.
    A read error after the begin becomes `sd:copy_error` (retryable: the card may be reseated)."""
    try:
        fh = await asyncio.to_thread(open, local, "rb", buffering=0)
    except OSError as exc:
        await send(ws, "sd:copy_error", {"request_id": request_id, "path": path,
                                         "error": f"cannot open: {exc.strerror or exc}", "retryable": True})
        return
    reader = _Reader(fh)
    pending: asyncio.Future[bytes] | None = None
    try:
        actual = os.fstat(fh.fileno()).st_size
        if actual != size:
            await send(ws, "sd:copy_error", {"request_id": request_id, "path": path, "retryable": False,
                                             "error": f"the file changed on the card ({actual} bytes, listed {size})"})
            return
        offset = min(max(offset, 0), size)
        await send(ws, "sd:upload_begin", {"request_id": request_id, "path": path, "size": size, "offset": offset})
        try:
            await asyncio.to_thread(reader.hash_prefix, offset)
            # Read the next block while the current one is being sent.
            pending = asyncio.ensure_future(asyncio.to_thread(reader.read))
            while True:
                block = await pending
                if not block:
                    break
                pending = asyncio.ensure_future(asyncio.to_thread(reader.read))
                view = memoryview(block)
                for start in range(0, len(block), chunk_size):
                    await ws.send(view[start:start + chunk_size])
        except OSError as exc:
            await send(ws, "sd:copy_error", {"request_id": request_id, "path": path, "retryable": True,
                                             "error": f"read error at 0x{reader.position:x}: {exc.strerror or exc}"})
            return
        if reader.position != size:
            await send(ws, "sd:copy_error", {"request_id": request_id, "path": path, "retryable": True,
                                             "error": f"the file ended at {reader.position} of {size} bytes"})
            return
        await send(ws, "sd:file_copied", {"request_id": request_id, "path": path, "size": size,
                                          "sha256": reader.hasher.hexdigest()})
    finally:
        if pending is not None and not pending.done():
            await asyncio.gather(pending, return_exceptions=True)  # never close under a running read
        await asyncio.to_thread(fh.close)


def copy_to_shared_dir(local: Path, dest_dir: Path, card_path: str) -> tuple[Path, int, str]:
    """Copy a card file into the station's shared folder; returns (dest, size, sha256)."""
    dest = dest_dir.joinpath(*card_path.split("/"))
    dest.parent.mkdir(parents=True, exist_ok=True)
    hasher = hashlib.sha256()
    size = 0
    with open(local, "rb") as src, open(dest, "wb") as out:
        while block := src.read(READ_BYTES):
            hasher.update(block)
            out.write(block)
            size += len(block)
    shutil.copystat(local, dest)
    return dest.resolve(), size, hasher.hexdigest()
