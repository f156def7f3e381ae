"""A card as the Detector sees it: its files (relative POSIX paths, sizes, UTC times) and its id."""

from __future__ import annotations

import hashlib
import logging
import math
import os
import shutil
import stat
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path

from app.net.protocol import path_problem

log = logging.getLogger(__name__)

# Folders operating systems leave on removable media; never part of a camera's card.
SYSTEM_FOLDERS = frozenset({"System Volume Information", "$RECYCLE.BIN", "LOST.DIR", "FOUND.000"})


@dataclass(frozen=True)
class CardFile:
    path: str  # relative POSIX path on the card
    size: int
    mtime_s: int  # whole seconds since the epoch: what a wipe compares with the station's entry

    @property
    def modified(self) -> str:
        """As the protocol carries it: ISO 8601, UTC, whole seconds."""
        return utc_iso(self.mtime_s)

    def as_message(self) -> dict[str, object]:
        return {"path": self.path, "size": self.size, "modified": self.modified}


@dataclass(frozen=True)
class Card:
    card_id: str
    root: Path
    label: str
    files: tuple[CardFile, ...]

    @cached_property
    def _by_path(self) -> dict[str, CardFile]:
        return {f.path: f for f in self.files}

    def file(self, path: str) -> CardFile | None:
        """One lookup per requested file: a 20,000-file card's copy or wipe stays linear."""
        return self._by_path.get(path)

    def local_path(self, path: str) -> Path:
        """The file on disk for a card path (checked: the station could send anything)."""
        if path_problem(path):
            raise ValueError(f"not a card path: {path!r}")
        return self.root.joinpath(*path.split("/"))


def utc_iso(timestamp: float) -> str:
    return datetime.fromtimestamp(int(timestamp), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def list_files(root: Path) -> tuple[CardFile, ...]:
    """Every regular file on the card, sorted by path; hidden and system entries left out, and
    names the protocol cannot carry (backslashes, control characters) skipped with a warning."""
    found: list[CardFile] = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SYSTEM_FOLDERS)
        for name in sorted(names):
            if name.startswith("."):
                continue
            full = Path(folder) / name
            relative = full.relative_to(root).as_posix()
            problem = path_problem(relative)
            if problem:
                log.warning("skipping %r on the card: %s", relative, problem)
                continue
            try:
                info = full.stat(follow_symlinks=False)
            except OSError:
                continue  # gone while listing
            if stat.S_ISREG(info.st_mode):
                found.append(CardFile(relative, info.st_size, math.floor(info.st_mtime)))
    return tuple(sorted(found, key=lambda f: f.path))


def listing_hash(files: tuple[CardFile, ...]) -> str:
    digest = hashlib.sha256()
    for f in files:
        digest.update(f"{f.path}\t{f.size}\t{f.modified}\n".encode())
    return "L-" + digest.hexdigest()[:20]


BY_UUID = Path("/dev/disk/by-uuid")


def volume_uuid(root: Path, by_uuid: Path = BY_UUID) -> str | None:
    """The filesystem UUID/serial of the volume mounted at `root` (Linux), else None.

    Only for a mount point: a folder on the system disk is not a card of its own. FAT cards
    have a serial like `3A1F-77C2`; udev lists it under /dev/disk/by-uuid, lsblk also knows it."""
    try:
        if not os.path.ismount(root):
            return None
        device = os.stat(root).st_dev
        for entry in sorted(by_uuid.iterdir()) if by_uuid.is_dir() else ():
            try:
                if os.stat(entry).st_rdev == device:
                    return entry.name.upper()
            except OSError:
                continue
    except OSError:
        return None
    return _uuid_from_lsblk(_run_lsblk(), str(root))


def _run_lsblk() -> str:
    lsblk = shutil.which("lsblk")
    if lsblk is None:
        return ""
    try:
        return subprocess.run([lsblk, "-rno", "UUID,MOUNTPOINT"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def _uuid_from_lsblk(output: str, mountpoint: str) -> str | None:
    """`lsblk -rno UUID,MOUNTPOINT` lines (raw mode escapes spaces as \\x20) → the UUID mounted there."""
    for line in output.splitlines():
        parts = line.split(" ")
        if len(parts) != 2 or not parts[0]:
            continue
        uuid, mounted = parts
        if mounted.encode().decode("unicode_escape") == mountpoint:
            return uuid.upper()
    return None


def read_card(root: Path, card_id: str | None = None, label: str | None = None) -> Card:
    """List a card (blocking: call it on a thread). Its id: the given one, else the volume's
    UUID/serial, else a stable hash of its listing."""
    root = Path(root).resolve()
    files = list_files(root)
    return Card(card_id or volume_uuid(root) or listing_hash(files), root, label or root.name, files)
