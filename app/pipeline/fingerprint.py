"""Which files of a card were imported before.

Identity is (file name, size, modified time). Cameras' clocks and FAT timestamps drift, so
a match tolerates FAT's 2-second rounding and whole-hour shifts (time zone or daylight
saving set differently on the camera or the reader), as photo importers learned to.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import PurePosixPath

from sqlalchemy import BigInteger, Column, MetaData, String, Table, insert, select
from sqlalchemy.orm import Session

from app.db.models import ImportedFile
from app.pipeline.file_kinds import is_imported_kind, kind_of

FAT_ROUNDING_S = 2
MAX_ZONE_SHIFT_H = 14  # UTC-12 .. UTC+14


@dataclass(frozen=True)
class ListedFile:
    path: str
    size: int
    modified: datetime  # aware

    @property
    def name(self) -> str:
        return file_name(self.path)


def file_name(path: str) -> str:
    # FAT and exFAT ignore case: GX010231.MP4 and gx010231.mp4 are one file.
    return PurePosixPath(path).name.casefold()


def fingerprint(name: str, size: int, modified: datetime) -> str:
    epoch = int(modified.astimezone(timezone.utc).timestamp())
    return hashlib.sha256(f"{name.casefold()}\0{size}\0{epoch}".encode()).hexdigest()


def same_moment(a: datetime, b: datetime) -> bool:
    """Equal within FAT rounding, possibly shifted by a whole number of hours."""
    delta = abs((a - b).total_seconds())
    hours = round(delta / 3600)
    return hours <= MAX_ZONE_SHIFT_H and abs(delta - hours * 3600) <= FAT_ROUNDING_S


_listing_meta = MetaData()
_listing = Table(
    "tmp_card_listing",
    _listing_meta,
    Column("name", String(255)),
    Column("size", BigInteger),
    prefixes=["TEMPORARY"],
)


def find_imported(session: Session, files: Sequence[ListedFile]) -> dict[str, ImportedFile]:
    """Map each listed path that was imported before to its record.

    One indexed query whatever the card's size: the listing goes into a temporary table
    joined on (name, size) (index ix_imported_file_name_size); times are compared here.
    """
    if not files:
        return {}
    connection = session.connection()
    _listing.create(connection, checkfirst=True)
    connection.execute(_listing.delete())
    keys = {(f.name, f.size) for f in files}
    connection.execute(insert(_listing), [{"name": n, "size": s} for n, s in keys])
    rows = session.scalars(
        select(ImportedFile).join(
            _listing, (ImportedFile.name == _listing.c.name) & (ImportedFile.size == _listing.c.size)
        )
    ).all()
    connection.execute(_listing.delete())

    by_key: dict[tuple[str, int], list[ImportedFile]] = {}
    for row in rows:
        by_key.setdefault((row.name, row.size), []).append(row)
    found: dict[str, ImportedFile] = {}
    for listed in files:
        for candidate in by_key.get((listed.name, listed.size), ()):
            if same_moment(candidate.modified, listed.modified):
                found[listed.path] = candidate
                break
    return found


def new_files(session: Session, files: Iterable[ListedFile]) -> list[ListedFile]:
    files = list(files)
    seen = find_imported(session, files)
    return [f for f in files if f.path not in seen]


@dataclass
class ListingSplit:
    new: list[str]  # paths to import
    imported_before: dict[str, ImportedFile]
    not_imported_kind: list[str]  # proxies, thumbnails and other files


def split_listing(session: Session, files: Sequence[ListedFile], import_proxies: bool) -> ListingSplit:
    """The one rule for what of a card gets imported (used for the ack's count and by filter_new_files)."""
    wanted = [f for f in files if is_imported_kind(kind_of(f.path), import_proxies)]
    other = [f.path for f in files if not is_imported_kind(kind_of(f.path), import_proxies)]
    seen = find_imported(session, wanted)
    return ListingSplit([f.path for f in wanted if f.path not in seen], seen, other)
