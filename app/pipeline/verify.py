"""Reading library copies back: one file against its record, and the whole library against
the database (`ingest-station verify`).

A copy is good when its bytes hash to the SHA-256 recorded when it was stored. The library is
good when every recorded file in it is good, and its passenger and unassigned folders hold
nothing the station did not record (the station's own products, `passenger.json` and the
rendered videos, excepted). Synchronous: run it on a worker thread, never on the event loop.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.db.models import ImportedFile, Jump, Passenger
from app.file_hash import hash_file
from app.pipeline.library import preview_path
from app.pipeline.offload_report import REPORTS

DAY_FOLDER = re.compile(r"\d{4}-\d{2}-\d{2}")
PASSENGER_DOCUMENT = "passenger.json"


@dataclass(frozen=True)
class CopyCheck:
    """One library copy read back: `problem` is None when it matched."""

    path: Path
    problem: str | None = None
    missing: bool = False


def check_copy(path: Path, size: int, sha256: str) -> CopyCheck:
    """Read the whole file back and compare it with what was recorded."""
    try:
        found_size, digest = hash_file(path)
    except FileNotFoundError:
        return CopyCheck(path, "not in the library", missing=True)
    except OSError as exc:
        return CopyCheck(path, f"cannot be read: {exc.strerror or exc}")
    if found_size != size:
        return CopyCheck(path, f"{found_size} bytes, recorded {size}")
    if digest != sha256.lower():
        return CopyCheck(path, f"sha256 {digest}, recorded {sha256.lower()}")
    return CopyCheck(path)


@dataclass
class LibraryReport:
    checked: int = 0
    bytes_read: int = 0
    missing: list[tuple[str, str]] = field(default_factory=list)  # (library path, what it was)
    changed: list[tuple[str, str]] = field(default_factory=list)  # (library path, how)
    unrecorded: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.missing or self.changed or self.unrecorded)


@dataclass(frozen=True)
class _Record:
    id: int
    path: str
    size: int
    sha256: str
    source: str
    card_id: str | None


def day_of(path: str | Path, root: Path) -> str | None:
    """The library day folder a path lies in (`<root>/<YYYY-MM-DD>/...`), or None."""
    try:
        first = Path(path).relative_to(root).parts[0]
    except (ValueError, IndexError):
        return None
    return first if DAY_FOLDER.fullmatch(first) else None


def verify_library(session_factory: Callable[[], Session], root: Path, since: str | None, now: datetime) -> LibraryReport:
    """Every recorded file under `root` (day folders from `since` on) read back; the folders
    walked for files nobody recorded. Matching records get `verified_at = now`."""
    root = Path(os.path.realpath(root))
    with session_factory() as session:
        records, products = _load(session, root, since)
    report = LibraryReport()
    good: list[int] = []
    for record in records:
        check = check_copy(Path(record.path), record.size, record.sha256)
        report.checked += 1
        if check.problem is None:
            report.bytes_read += record.size
            good.append(record.id)
        elif check.missing:
            report.missing.append((record.path, f"{record.source} of card {record.card_id or '?'}"))
        else:
            report.changed.append((record.path, check.problem))
    known = {r.path for r in records} | products
    report.unrecorded = sorted(p for p in _library_files(root, since) if p not in known)
    if good:
        with session_factory() as session:
            for start in range(0, len(good), 500):
                session.execute(update(ImportedFile).where(ImportedFile.id.in_(good[start:start + 500]))
                                .values(verified_at=now))
    return report


def _load(session: Session, root: Path, since: str | None) -> tuple[list[_Record], set[str]]:
    records = []
    for row in session.execute(select(ImportedFile.id, ImportedFile.stored_path, ImportedFile.size, ImportedFile.sha256,
                                      ImportedFile.source_path, ImportedFile.card_id).order_by(ImportedFile.id)):
        path = os.path.realpath(row.stored_path)
        if _in_range(path, root, since):
            records.append(_Record(row.id, path, row.size, row.sha256, row.source_path, row.card_id))
    products: set[str] = set()
    for output_dir, video in session.execute(select(Jump.output_dir, Jump.video_path)):
        if output_dir:
            products.add(os.path.realpath(Path(output_dir) / PASSENGER_DOCUMENT))
        if video:
            products.add(os.path.realpath(video))
    for folder, video in session.execute(select(Passenger.folder, Passenger.video_path)):  # every camera's
        if folder:
            products.add(os.path.realpath(Path(folder) / PASSENGER_DOCUMENT))
        if video:
            products.add(os.path.realpath(video))
            products.add(os.path.realpath(preview_path(Path(video))))
    return records, products


def _in_range(path: str, root: Path, since: str | None) -> bool:
    if since is None:
        return True
    day = day_of(path, root)
    return day is not None and day >= since


def _library_files(root: Path, since: str | None) -> Iterator[str]:
    """Files in the day folders (passengers' and unassigned), leaving out hidden ones (the
    station's staging and frames folders, a file manager's notes)."""
    try:
        days = sorted((e for e in os.scandir(root) if e.is_dir() and DAY_FOLDER.fullmatch(e.name)), key=lambda e: e.name)
    except FileNotFoundError:
        return
    for day in days:
        if since is not None and day.name < since:
            continue
        for folder, dirs, files in os.walk(day.path):
            # hidden folders, and the offload reports (the station's own products, not clips)
            dirs[:] = [d for d in dirs if not d.startswith(".") and not (folder == day.path and d == REPORTS)]
            yield from (os.path.realpath(os.path.join(folder, name)) for name in _visible(files))


def _visible(names: Iterable[str]) -> list[str]:
    return [name for name in names if not name.startswith(".")]
