"""Which files of a card were imported before.

Identity is (file name, size, modified time). Cameras' clocks and FAT timestamps drift, so
a match tolerates FAT's 2-second rounding and whole-hour shifts (time zone or daylight
saving set differently on the camera or the reader), as photo importers learned to.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import PurePosixPath
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, String, any_, func, literal, select, type_coerce
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import InstrumentedAttribute, Session

from app.db.models import ImportedFile
from app.pipeline.file_kinds import is_imported_kind, kind_of

FAT_ROUNDING_S = 2
MAX_ZONE_SHIFT_H = 14  # UTC-12 .. UTC+14


class ListedFile(NamedTuple):
    """One file of a card's listing. A tuple: a card lists tens of thousands, made per listing."""

    path: str
    size: int
    modified: datetime  # aware

    @property
    def name(self) -> str:
        return file_name(self.path)


def file_name(path: str) -> str:
    # FAT and exFAT ignore case: GX010231.MP4 and gx010231.mp4 are one file.
    return _final_component(path).casefold()


def _final_component(path: str) -> str:
    """PurePosixPath(path).name, without building a path object (a card lists thousands)."""
    name = path.rpartition("/")[2]
    return name if name not in ("", ".") else PurePosixPath(path).name


def fingerprint(name: str, size: int, modified: datetime) -> str:
    epoch = int(modified.astimezone(timezone.utc).timestamp())
    return hashlib.sha256(f"{name.casefold()}\0{size}\0{epoch}".encode()).hexdigest()


def same_moment(a: datetime, b: datetime) -> bool:
    """Equal within FAT rounding, possibly shifted by a whole number of hours."""
    return _same_moment_us((a - b) // _MICROSECOND)


def _same_moment_us(delta: int) -> bool:
    delta = abs(delta)
    hours = round(delta / _HOUR_US)
    return hours <= MAX_ZONE_SHIFT_H and abs(delta - hours * _HOUR_US) <= FAT_ROUNDING_S * 1_000_000


_MICROSECOND = timedelta(microseconds=1)
_HOUR_US = 3600 * 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_NAIVE_EPOCH = _EPOCH.replace(tzinfo=None)

_imported = ImportedFile.__table__


def find_imported(session: Session, files: Sequence[ListedFile]) -> dict[str, ImportedFile]:
    """Map each listed path that was imported before to its record."""
    ids = _imported_ids(session, [(f.name, f) for f in files])
    if not ids:
        return {}
    connection = session.connection()
    records = {r.id: r for r in session.scalars(
        select(ImportedFile).where(_among(connection.dialect.name, ImportedFile.id, sorted(set(ids.values())))))}
    return {path: records[row_id] for path, row_id in ids.items()}


def _imported_ids(session: Session, keyed: Sequence[tuple[str, ListedFile]]) -> dict[str, int]:
    """Map each listed path (with its file name worked out) that was imported before to its id.

    One query for the whole listing: the imported files of the listed sizes (sizes of media
    files rarely coincide, names do: GX010001.MP4 is on every camera), on index
    ix_imported_file_size_name_modified, which holds every column read. Name and the
    tolerant time match (FAT rounding, zone shifts) are compared here, on plain rows.
    """
    if not keyed:
        return {}
    connection = session.connection()
    sizes = list({f.size for _, f in keyed})
    query = select(_imported.c.id, _imported.c.name, _imported.c.size,
                   # As stored, not through UTCDateTime: parsing was most of the cost per row.
                   type_coerce(_imported.c.modified, String)).where(_among(connection.dialect.name, _imported.c.size, sizes))
    by_key: dict[tuple[str, int], list[tuple[int, int]]] = {}
    for row_id, name, size, modified in connection.execute(query).all():
        by_key.setdefault((name, size), []).append((_stored_epoch_us(modified), row_id))

    found: dict[str, int] = {}
    for name, listed_file in keyed:
        candidates = by_key.get((name, listed_file.size))
        if not candidates:
            continue
        when = (listed_file.modified - _EPOCH) // _MICROSECOND
        for imported_when, row_id in candidates:
            if _same_moment_us(when - imported_when):
                found[listed_file.path] = row_id
                break
    return found


def _among(dialect: str, column: ColumnElement[Any] | InstrumentedAttribute[Any], values: list[Any]) -> ColumnElement[bool]:
    """`column IN values` with the list as ONE bound parameter: thousands of parameters cost
    more to render and plan than the lookups themselves."""
    if dialect == "postgresql":
        return column == any_(literal(values, ARRAY(column.type)))
    listed = func.json_each(literal(json.dumps(values))).table_valued("value")  # SQLite
    return column.in_(select(listed.c.value))


def _stored_epoch_us(stored: datetime | str) -> int:
    """Microseconds since the epoch of a stored `modified`: SQLite hands back UTCDateTime's
    naive-UTC text, Postgres an aware datetime."""
    if isinstance(stored, str):
        return (datetime.fromisoformat(stored) - _NAIVE_EPOCH) // _MICROSECOND
    return (stored - _EPOCH) // _MICROSECOND


def stored_paths(session: Session, ids: Iterable[int]) -> dict[int, str]:
    """Where each imported file went (for the skip message), by primary key."""
    connection = session.connection()
    query = select(_imported.c.id, _imported.c.stored_path).where(
        _among(connection.dialect.name, _imported.c.id, sorted(set(ids))))
    return dict(connection.execute(query).all())


def new_files(session: Session, files: Iterable[ListedFile]) -> list[ListedFile]:
    files = list(files)
    seen = _imported_ids(session, [(f.name, f) for f in files])
    return [f for f in files if f.path not in seen]


@dataclass
class ListingSplit:
    new: list[str]  # paths to import
    imported_before: dict[str, int]  # listed path -> imported_file id
    not_imported_kind: list[str]  # proxies, thumbnails and other files


def split_listing(session: Session, files: Sequence[ListedFile], import_proxies: bool) -> ListingSplit:
    """The one rule for what of a card gets imported (used for the ack's count and by filter_new_files)."""
    wanted: list[tuple[str, ListedFile]] = []
    other: list[str] = []
    imported_kind: dict[str, bool] = {}  # by suffix: a card has thousands of files and a handful of suffixes
    for f in files:
        component = _final_component(f.path)
        dot = component.rfind(".")
        suffix = component[dot:] if 0 < dot < len(component) - 1 else ""  # pathlib's PurePath.suffix
        wanted_kind = imported_kind.get(suffix)
        if wanted_kind is None:
            wanted_kind = imported_kind[suffix] = is_imported_kind(kind_of(component), import_proxies)
        if wanted_kind:
            wanted.append((component.casefold(), f))
        else:
            other.append(f.path)
    seen = _imported_ids(session, wanted)
    return ListingSplit([f.path for _, f in wanted if f.path not in seen], seen, other)
