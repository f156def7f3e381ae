"""Shared-path mode on the Detector's side: copy a card file into the station's `dest_dir`,
but only inside the folder the Detector's operator allowed (`--shared-root`).

The station names `dest_dir`; the Detector does not trust it. The folder must lie inside the
shared root (compared without resolving anything the station could have planted), every folder
on the way is opened without following symlinks (`O_NOFOLLOW` from the root's descriptor, so
nothing can climb out), and the file is created new (`O_EXCL`): nothing is overwritten.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
from pathlib import Path

from app.net.protocol import path_problem

READ_BYTES = 8 * 1024 * 1024
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class SharedPathRefused(Exception):
    """The station's `dest_dir` or the target file is not one this Detector writes."""


def relative_dest_dir(shared_root: Path, dest_dir: str) -> list[str]:
    """The folders from the shared root down to `dest_dir`, or SharedPathRefused."""
    if not posixpath.isabs(dest_dir) or "\x00" in dest_dir:
        raise SharedPathRefused(f"dest_dir {dest_dir[:200]!r} is not an absolute path")
    if ".." in dest_dir.split("/"):
        raise SharedPathRefused("dest_dir has a '..' segment")
    wanted = posixpath.normpath(dest_dir)
    # The root as the operator wrote it and with its own links resolved (the station may know
    # either form); never the station's folder resolved, which could lead anywhere.
    for root in dict.fromkeys((os.path.abspath(shared_root), os.path.realpath(shared_root))):
        if wanted == root:
            return []
        if wanted.startswith(root.rstrip("/") + "/"):
            return wanted[len(root.rstrip("/")) + 1:].split("/")
    raise SharedPathRefused(f"dest_dir {dest_dir[:200]!r} is outside this Detector's shared folder")


def _open_folder(parent_fd: int, name: str) -> int:
    """Open (creating if need be) one folder below `parent_fd`, refusing symlinks."""
    try:
        os.mkdir(name, 0o755, dir_fd=parent_fd)
    except FileExistsError:
        pass
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except OSError as exc:
        raise SharedPathRefused(f"{name!r} is not a plain folder ({exc.strerror})") from None


def copy_into_shared_root(local: Path, shared_root: Path, dest_dir: str, card_path: str) -> tuple[str, int, str]:
    """Copy `local` to `dest_dir/card_path`; returns (dest as the station names it, size, sha256).

    Raises SharedPathRefused for a destination outside the shared root, through a symlink or
    already there, and OSError for a read or write failure (the half-written file is removed)."""
    problem = path_problem(card_path)
    if problem:
        raise SharedPathRefused(f"card path {card_path[:200]!r} {problem}")
    folders = [*relative_dest_dir(shared_root, dest_dir), *card_path.split("/")[:-1]]
    name = card_path.split("/")[-1]
    fd = os.open(shared_root, _DIR_FLAGS & ~os.O_NOFOLLOW)  # the operator's own folder: links allowed
    try:
        for folder in folders:
            child = _open_folder(fd, folder)
            os.close(fd)
            fd = child
        return posixpath.join(posixpath.normpath(dest_dir), card_path), *_copy_new(local, fd, name)
    finally:
        os.close(fd)


def _copy_new(local: Path, folder_fd: int, name: str) -> tuple[int, str]:
    hasher = hashlib.sha256()
    size = 0
    with open(local, "rb") as src:
        try:
            out_fd = os.open(name, _NEW_FILE_FLAGS, 0o644, dir_fd=folder_fd)
        except FileExistsError:
            raise SharedPathRefused(f"{name!r} already exists in dest_dir; not overwritten") from None
        except OSError as exc:
            raise SharedPathRefused(f"cannot create {name!r} ({exc.strerror})") from None
        try:
            with os.fdopen(out_fd, "wb") as out:
                while block := src.read(READ_BYTES):
                    hasher.update(block)
                    out.write(block)
                    size += len(block)
                out.flush()
                info = os.fstat(src.fileno())
                os.utime(out.fileno(), ns=(info.st_atime_ns, info.st_mtime_ns))
        except BaseException:
            os.unlink(name, dir_fd=folder_fd)  # ours, created just above: never leave half a file
            raise
    return size, hasher.hexdigest()
