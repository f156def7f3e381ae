"""Writing one uploaded file: a temporary file, SHA-256 as the bytes arrive, an atomic rename.

All disk work and hashing runs on a small thread pool, never on the event loop. Frames are
handed over in batches (large sequential writes); at most one batch is being written while
the next one fills, so memory stays flat whatever the file's size.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

BATCH_BYTES = 8 * 1024 * 1024  # hand frames to the writer thread in batches this large
READ_BYTES = 8 * 1024 * 1024  # when hashing bytes already on disk
WRITEBACK_LAG = 32 * 1024 * 1024  # start writeback of what lies this far behind the write position
WRITEBACK_STEP = 32 * 1024 * 1024

# Hashing and writing release the GIL; a few threads serve several Detectors at once.
_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="upload-io")


async def offload(fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(_POOL, fn, *args)


class UploadFile:
    """The partial file of one upload. Use `open()`, then `write()`, then `finish()` or `close()`."""

    def __init__(self, partial: Path, fd: int, hasher: Any, held: int) -> None:
        self.partial = partial
        self._fd: int | None = fd
        self._hasher = hasher
        self._sink = _Sink(fd, hasher, held)
        self.held = held  # bytes on disk (or queued to be) from the file's start
        self._batch: list[bytes] = []
        self._batch_bytes = 0
        self._inflight: asyncio.Future[None] | None = None

    @classmethod
    async def open(cls, partial: Path, offset: int) -> UploadFile:
        """Open the partial file to continue at `offset` (0: start over). The bytes already held
        up to `offset` are hashed on the pool; raises ValueError when fewer than `offset` are held."""
        fd, hasher = await offload(_open_partial, partial, offset)
        return cls(partial, fd, hasher, offset)

    async def write(self, frame: bytes) -> None:
        self._batch.append(frame)
        self._batch_bytes += len(frame)
        self.held += len(frame)
        if self._batch_bytes >= BATCH_BYTES:
            await self._flush()

    async def _flush(self) -> None:
        if self._inflight is not None:
            await self._inflight  # one batch at a time: order kept, memory bounded
            self._inflight = None
        if self._batch:
            batch, self._batch, self._batch_bytes = self._batch, [], 0
            assert self._fd is not None
            self._inflight = asyncio.get_running_loop().run_in_executor(_POOL, self._sink.write, batch)

    async def _drain(self) -> None:
        await self._flush()
        if self._inflight is not None:
            await self._inflight
            self._inflight = None

    async def finish(self) -> str:
        """Write what is left, make it durable and close; returns the SHA-256 (hex) of the whole file."""
        await self._drain()
        fd, self._fd = self._fd, None
        assert fd is not None
        await offload(_sync_close, fd)
        return self._hasher.hexdigest()

    async def close(self) -> None:
        """Keep the bytes written so far (an upload may be resumed from them)."""
        if self._fd is None:
            return
        try:
            await self._drain()
        finally:
            fd, self._fd = self._fd, None
            await offload(_sync_close, fd)

    async def discard(self) -> None:
        """Forget this upload and delete its partial file."""
        try:
            await self.close()
        except OSError:
            pass
        try:
            await offload(_unlink, self.partial)
        except OSError:
            pass  # the disk is gone: nothing more to do


def _open_partial(partial: Path, offset: int) -> tuple[int, Any]:
    partial.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(partial, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
    try:
        held = os.fstat(fd).st_size
        if held < offset:
            raise ValueError(f"the station holds {held} bytes of this file, not {offset}")
        hasher = hashlib.sha256()
        done = 0
        while done < offset:
            block = os.pread(fd, min(READ_BYTES, offset - done), done)
            if not block:
                raise ValueError(f"the partial file ended at {done} bytes")
            hasher.update(block)
            done += len(block)
        os.ftruncate(fd, offset)
        os.lseek(fd, offset, os.SEEK_SET)
        return fd, hasher
    except BaseException:
        os.close(fd)
        raise


class _Sink:
    """The writer thread's side of one upload: hash, write, and start writeback early."""

    def __init__(self, fd: int, hasher: Any, position: int) -> None:
        self.fd = fd
        self.hasher = hasher
        self.position = position
        self.flushed = position

    def write(self, batch: list[bytes]) -> None:
        for frame in batch:
            self.hasher.update(frame)
        views = [memoryview(frame) for frame in batch]
        while views:
            written = os.writev(self.fd, views[:512])  # IOV_MAX is 1024 on Linux
            self.position += written
            while written and views:
                if written >= len(views[0]):
                    written -= len(views[0])
                    views.pop(0)
                else:
                    views[0] = views[0][written:]
                    written = 0
        self._start_writeback()

    def _start_writeback(self) -> None:
        # Ask the kernel to write out (and forget) what is some way behind us, so the final
        # fsync is short and a 100 GB import does not crowd the page cache.
        behind = self.position - WRITEBACK_LAG
        if behind - self.flushed >= WRITEBACK_STEP and hasattr(os, "posix_fadvise"):
            os.posix_fadvise(self.fd, self.flushed, behind - self.flushed, os.POSIX_FADV_DONTNEED)
            self.flushed = behind


def _sync_close(fd: int) -> None:
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


# -- whole-file helpers (shared-path mode, final move) ---------------------------------------
def move_into_place(partial: Path, final: Path) -> None:
    """One rename: the final name holds either nothing or the whole verified file."""
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(partial, final)
    _fsync_dir(final.parent)


class SharedFileRefused(ValueError):
    """A shared-path copy is not a regular file at `dest_dir/<path>` (missing, a symlink, a folder,
    a device, or reached through a symlinked folder): the station leaves it alone."""


@dataclass(frozen=True)
class SharedCopy:
    size: int
    sha256: str
    identity: tuple[int, int]  # (st_dev, st_ino) of the file that was read


def copy_from_shared(dest_dir: Path, card_path: str, partial: Path) -> SharedCopy:
    """Copy `dest_dir/<card_path>` into the station's own `partial`, hashing the bytes as they are
    written. The file is opened once, without following a symlink anywhere below `dest_dir`, so
    what is hashed is exactly what the station keeps, whatever happens to the shared folder meanwhile.
    Raises SharedFileRefused for the copy, OSError when the station cannot write its own file."""
    source = _open_shared(dest_dir, card_path)
    try:
        info = os.fstat(source)
        if not stat.S_ISREG(info.st_mode):
            raise SharedFileRefused("not a regular file")
        partial.parent.mkdir(parents=True, exist_ok=True)
        out = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o644)
        try:
            hasher, size = hashlib.sha256(), 0
            while block := os.read(source, READ_BYTES):
                hasher.update(block)
                view = memoryview(block)
                while view:
                    view = view[os.write(out, view):]
                size += len(block)
            os.fsync(out)
        finally:
            os.close(out)
        return SharedCopy(size, hasher.hexdigest(), (info.st_dev, info.st_ino))
    finally:
        os.close(source)


def remove_shared(dest_dir: Path, card_path: str, identity: tuple[int, int]) -> None:
    """Delete the shared-path file once it is in the library, if it is still the file that was read."""
    *folders, name = card_path.split("/")
    try:
        parent = _open_shared_folder(dest_dir, folders)
    except SharedFileRefused:
        return
    # With a folder descriptor (POSIX) the name is looked up in the folder that was checked.
    where: dict[str, int] = {"dir_fd": parent} if parent >= 0 else {}
    target: str | Path = name if parent >= 0 else dest_dir.joinpath(*folders, name)
    try:
        info = os.stat(target, follow_symlinks=False, **where)
        if (info.st_dev, info.st_ino) == identity:
            os.unlink(target, **where)
    except OSError:
        pass  # gone or replaced: nothing of ours to remove
    finally:
        if parent >= 0:
            os.close(parent)


def _open_shared(dest_dir: Path, card_path: str) -> int:
    *folders, name = card_path.split("/")
    parent = _open_shared_folder(dest_dir, folders)
    try:
        if parent < 0:  # no dir_fd (Windows): refuse links found on the way, then open
            path = dest_dir.joinpath(*folders, name)
            if path.is_symlink() or not path.is_file():
                raise SharedFileRefused("not a regular file")
            return os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        # O_NONBLOCK: a FIFO put there must not hang the station in open().
        return os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=parent)
    except OSError as exc:
        raise SharedFileRefused(exc.strerror or str(exc)) from None
    finally:
        if parent >= 0:
            os.close(parent)


def _open_shared_folder(dest_dir: Path, folders: list[str]) -> int:
    """A descriptor of `dest_dir/<folders>` reached without following symlinks (-1 without dir_fd)."""
    if os.open not in os.supports_dir_fd:
        for depth in range(1, len(folders) + 1):
            if dest_dir.joinpath(*folders[:depth]).is_symlink():
                raise SharedFileRefused("reached through a symlink")
        return -1
    try:
        fd = os.open(dest_dir, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise SharedFileRefused(f"dest_dir: {exc.strerror or exc}") from None
    try:
        for folder in folders:
            inner = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = inner
    except OSError as exc:
        os.close(fd)
        raise SharedFileRefused(exc.strerror or str(exc)) from None
    return fd


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
