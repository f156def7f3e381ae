"""The library is a property of the shared setup, not of each machine's config.

The station records its library (path and a generated id) in the database at start and keeps
a marker file with that id at the library's root. A worker takes the library from the database
and checks it reaches the very same folder (the marker's id matches) before it takes any step,
so no worker files a card into a library of its own (issue 12, finding 10).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from app.db.models import StationLibrary

log = logging.getLogger(__name__)

MARKER_NAME = ".ingest-library.json"
ROW_ID = 1  # one library per setup


class LibraryUnreachable(RuntimeError):
    """This process cannot reach the setup's library; the message says why."""


@dataclass(frozen=True)
class LibraryIdentity:
    library_id: str
    path: Path


def read_marker(root: Path) -> str | None:
    """The id in the library's marker file; None when there is none. Raises LibraryUnreachable
    when the marker cannot be read or is not one of ours."""
    marker = root / MARKER_NAME
    try:
        raw = marker.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LibraryUnreachable(f"cannot read {marker}: {exc.strerror or exc}") from None
    try:
        library_id = json.loads(raw)["library_id"]
    except (ValueError, KeyError, TypeError):
        raise LibraryUnreachable(f"{marker} is not a library marker of this station") from None
    if not isinstance(library_id, str) or not library_id:
        raise LibraryUnreachable(f"{marker} holds no library id")
    return library_id


def write_marker(root: Path, library_id: str) -> None:
    marker = root / MARKER_NAME
    tmp = root / f".{MARKER_NAME}.tmp"
    tmp.write_text(json.dumps({"library_id": library_id}) + "\n", encoding="utf-8")
    os.replace(tmp, marker)


def claim_library(session: Session, root: Path) -> LibraryIdentity:
    """The station at start: its library becomes the setup's library (created if needed).

    The marker already in the folder wins (the folder keeps its identity when the database is
    new); otherwise the recorded id is kept for the same path, or a new one is made."""
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    row = session.get(StationLibrary, ROW_ID)
    library_id = read_marker(root)
    if library_id is None:
        library_id = row.library_id if row is not None and Path(row.path) == root else secrets.token_hex(16)
        write_marker(root, library_id)
    if row is None:
        session.add(StationLibrary(id=ROW_ID, library_id=library_id, path=str(root)))
    elif (row.library_id, row.path) != (library_id, str(root)):
        log.warning("the setup's library is now %s (id %s); it was %s (id %s)", root, library_id, row.path, row.library_id)
        row.library_id, row.path = library_id, str(root)
    return LibraryIdentity(library_id, root)


def recorded_library(session: Session) -> LibraryIdentity | None:
    row = session.get(StationLibrary, ROW_ID)
    return LibraryIdentity(row.library_id, Path(row.path)) if row is not None else None


def check_reachable(identity: LibraryIdentity) -> None:
    """Raises LibraryUnreachable unless this machine sees the setup's library at its path."""
    root = identity.path
    if not root.is_dir():
        raise LibraryUnreachable(f"the library {root} does not exist on this machine "
                                 "(mount the shared library at the same path on every machine)")
    found = read_marker(root)
    if found is None:
        raise LibraryUnreachable(f"{root} has no {MARKER_NAME}: it is not the setup's library "
                                 "(an empty folder where the shared library should be mounted?)")
    if found != identity.library_id:
        raise LibraryUnreachable(f"{root} is another library (its marker says {found}, the database "
                                 f"{identity.library_id})")
