"""Export…: a passenger's folder copied to a chosen place (a USB stick) and every file read back
and checked by SHA-256; a file that changed on the way is reported, and every export recorded.

A file "changed on the way" when its copy does not read back as the bytes that were read from
the library (a bad stick, a stick pulled too early), when the library file changed while it was
being copied (size or time differ after the copy), or when the library file no longer matches
the SHA-256 recorded when it was imported.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.engine import Database
from app.db.models import ExecutionFile, FileState, Jump, PassengerExport
from app.db.types import utcnow

CHUNK = 1024 * 1024

# Called after a file was copied and before its copy is read back (tests break things here).
AfterCopy = Callable[[Path, Path], None]


class ExportError(ValueError):
    """The export cannot start; the message says why."""


@dataclass
class ExportedFile:
    name: str  # relative to the passenger's folder
    size: int
    sha256: str
    problem: str = ""


@dataclass
class ExportReport:
    export_id: int
    source: Path
    dest: Path
    files: list[ExportedFile] = field(default_factory=list)

    @property
    def problems(self) -> list[ExportedFile]:
        return [f for f in self.files if f.problem]

    @property
    def verified(self) -> bool:
        return not self.problems

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)


def find_passenger_folder(session: Session, library: Path, booking_or_folder: str) -> tuple[Path, int | None]:
    """(folder, jump id) for a booking id or a passenger folder in the library."""
    as_path = Path(booking_or_folder).expanduser()
    if as_path.is_dir():
        folder = as_path.resolve()
        jump = session.scalar(select(Jump).where(Jump.output_dir == str(folder)).order_by(Jump.id.desc()).limit(1))
        return folder, jump.id if jump else None
    jump = session.scalar(select(Jump).where(Jump.booking_id == booking_or_folder, Jump.output_dir.is_not(None))
                          .order_by(Jump.id.desc()).limit(1))
    if jump is None:
        raise ExportError(f"no passenger with booking {booking_or_folder!r} and no such folder")
    return Path(str(jump.output_dir)), jump.id


def folder_of_jump(session: Session, jump_id: int) -> Path:
    jump = session.get(Jump, jump_id)
    if jump is None or jump.unassigned or not jump.output_dir:
        raise ExportError(f"no passenger folder for jump {jump_id}")
    return Path(jump.output_dir)


def export_folder(source: Path, dest_parent: Path, *, recorded: dict[str, str] | None = None,
                  after_copy: AfterCopy | None = None) -> tuple[Path, list[ExportedFile]]:
    """Copy `source` into a new folder of the same name under `dest_parent`, then read every copy
    back. Blocking: run it off the event loop."""
    if not source.is_dir():
        raise ExportError(f"{source} is not a folder")
    if not dest_parent.is_dir():
        raise ExportError(f"{dest_parent} is not a folder (is the stick mounted?)")
    dest = _free_name(dest_parent / source.name)
    if Path(os.path.realpath(dest)).is_relative_to(os.path.realpath(source)):
        raise ExportError("cannot export a folder into itself")
    recorded = recorded or {}
    files: list[ExportedFile] = []
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        relative = path.relative_to(source)
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        before = path.stat()
        size, digest = _copy(path, target)
        if after_copy is not None:
            after_copy(path, target)
        files.append(ExportedFile(relative.as_posix(), size, digest,
                                  _problem(path, target, before, size, digest, recorded.get(str(path)))))
    return dest, files


def _copy(source: Path, target: Path) -> tuple[int, str]:
    """Copy, hashing what was read, and flush to the device before it is read back."""
    hasher = hashlib.sha256()
    size = 0
    with open(source, "rb") as src, open(target, "wb") as dst:
        while chunk := src.read(CHUNK):
            hasher.update(chunk)
            dst.write(chunk)
            size += len(chunk)
        dst.flush()
        os.fsync(dst.fileno())
    shutil.copystat(source, target)  # the clip's time, as in the library
    return size, hasher.hexdigest()


def _problem(source: Path, target: Path, before: os.stat_result, size: int, digest: str,
             recorded_sha256: str | None) -> str:
    after = source.stat()
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        return "the library file changed while it was copied"
    if recorded_sha256 and recorded_sha256 != digest:
        return "the library file no longer matches the SHA-256 recorded at import"
    copy_size, copy_digest = _read_back(target)
    if (copy_size, copy_digest) != (size, digest):
        return f"the copy reads back different (SHA-256 {copy_digest[:12]}…, expected {digest[:12]}…)"
    return ""


def _free_name(wanted: Path) -> Path:
    """`wanted`, or `wanted (2)`, `(3)`…: an earlier export on the same stick stays as it was."""
    candidate, n = wanted, 1
    while candidate.exists():
        n += 1
        candidate = wanted.with_name(f"{wanted.name} ({n})")
    return candidate


async def export_passenger(db: Database, library: Path, what: int | str, dest_parent: Path, *,
                           after_copy: AfterCopy | None = None) -> ExportReport:
    """Export a passenger (a jump id, a booking id or a folder) to `dest_parent`, recorded."""
    def locate(session: Session) -> tuple[Path, int | None, dict[str, str]]:
        jump_id: int | None
        if isinstance(what, int):
            folder, jump_id = folder_of_jump(session, what), what
        else:
            folder, jump_id = find_passenger_folder(session, library, what)
        recorded = dict(session.execute(select(ExecutionFile.stored_path, ExecutionFile.sha256).where(
            ExecutionFile.state == FileState.STORED, ExecutionFile.stored_path.like(f"{folder}%"))).all())
        return folder, jump_id, {k: v for k, v in recorded.items() if k and v}

    folder, jump_id, recorded = await db.read(locate)
    started = utcnow()
    try:
        dest, files = await asyncio.to_thread(export_folder, folder, Path(dest_parent), recorded=recorded,
                                              after_copy=after_copy)
    except (ExportError, OSError) as exc:
        await _record(db, jump_id, folder, Path(dest_parent), started, [], str(exc))
        raise ExportError(f"export of {folder.name} failed: {exc}") from exc
    problems = [f"{f.name}: {f.problem}" for f in files if f.problem]
    export_id = await _record(db, jump_id, folder, dest, started, files, "; ".join(problems) or None)
    return ExportReport(export_id, folder, dest, files)


async def _record(db: Database, jump_id: int | None, source: Path, dest: Path, started: datetime, files: list[ExportedFile],
                  error: str | None) -> int:
    def add(session: Session) -> int:
        row = PassengerExport(jump_id=jump_id, source_dir=str(source), dest_dir=str(dest),
                              state="failed" if error else "verified", files=len(files),
                              bytes=sum(f.size for f in files), error=error, started_at=started,
                              finished_at=utcnow())
        session.add(row)
        session.flush()
        return row.id

    return await db.run(add)


def _read_back(path: Path) -> tuple[int, str]:
    """Size and SHA-256 of a file as it reads back from its disk."""
    with open(path, "rb") as fh:
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
    return path.stat().st_size, digest
