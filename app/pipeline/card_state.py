"""Where a card stands (PROTOCOL.md `status`), and which of its files may be wiped (`wipe`).

- `importing`: its import is still running or waiting;
- `complete`: the import succeeded and every file the station imports from this card (not the
  proxies and thumbnails it leaves) has a library copy that was read back and matched its
  SHA-256, in this import or an earlier one (`imported_file.verified_at`);
- `incomplete`: the import ended otherwise (files missing or failed, the import failed or was
  cancelled, a copy that did not read back identical).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.db.models import ExecutionFile, ExecutionState, FileState, ImportedFile, PipelineExecution
from app.pipeline.file_kinds import PROXY, VIDEO, is_imported_kind
from app.pipeline.fingerprint import ListedFile, find_imported
from app.pipeline.import_options import ImportOptions

IMPORTING, COMPLETE, INCOMPLETE = "importing", "complete", "incomplete"
_OPEN = (ExecutionState.PENDING.value, ExecutionState.RUNNING.value, ExecutionState.WAITING.value)


@dataclass(frozen=True)
class CardStatus:
    card_id: str
    execution_id: int
    detector_id: str | None
    state: str
    files_total: int
    files_verified: int

    @property
    def safe_to_format(self) -> bool:
        return self.state == COMPLETE

    def message_data(self) -> dict[str, Any]:
        """The `data` of `sd:card_status`."""
        return {"card_id": self.card_id, "execution_id": self.execution_id, "state": self.state,
                "files_total": self.files_total, "files_verified": self.files_verified,
                "safe_to_format": self.safe_to_format}

    def event_data(self) -> dict[str, Any]:
        return {**asdict(self), "safe_to_format": self.safe_to_format}


@dataclass(frozen=True)
class VerifiedFile:
    card_file: ExecutionFile
    record: ImportedFile


def card_files(session: Session, execution: PipelineExecution,
               settings: Settings) -> tuple[list[ExecutionFile], list[VerifiedFile]]:
    """The files the station imports from this card, and those of them whose library copy was
    read back and matched (each with its record)."""
    import_proxies = ImportOptions.of(execution, settings).import_proxies
    files = [f for f in session.scalars(select(ExecutionFile).where(ExecutionFile.execution_id == execution.id)
                                        .order_by(ExecutionFile.path))
             if is_imported_kind(f.kind, import_proxies)]
    return files, [VerifiedFile(f, r) for f, r in records_of(session, files).items() if r.verified_at is not None]


def records_of(session: Session, files: list[ExecutionFile]) -> dict[ExecutionFile, ImportedFile]:
    """The `imported_file` record of each file stored now or imported before."""
    stored = [f for f in files if f.state == FileState.STORED]
    by_fingerprint = {r.fingerprint: r for r in session.scalars(
        select(ImportedFile).where(ImportedFile.fingerprint.in_([f.fingerprint for f in stored])))} if stored else {}
    found = {f: by_fingerprint[f.fingerprint] for f in stored if f.fingerprint in by_fingerprint}
    before = [f for f in files if f.state == FileState.SKIPPED]
    earlier = find_imported(session, [ListedFile(f.path, f.size, f.modified) for f in before])
    found.update({f: earlier[f.path] for f in before if f.path in earlier})
    return found


def card_status(session: Session, execution_id: int, settings: Settings) -> CardStatus | None:
    execution = session.get(PipelineExecution, execution_id)
    if execution is None or not execution.card_id:
        return None
    files, verified = card_files(session, execution, settings)
    if execution.state in _OPEN:
        state = IMPORTING
    elif execution.state == ExecutionState.SUCCEEDED and len(verified) == len(files):
        state = COMPLETE
    else:
        state = INCOMPLETE
    return CardStatus(execution.card_id, execution.id, execution.detector_id, state, len(files), len(verified))


def wipe_entries(session: Session, execution_id: int, settings: Settings) -> list[dict[str, Any]]:
    """The entries of `sd:wipe_request`: exactly the verified files, with the GoPro proxy and
    thumbnail of a verified clip (same chapter). Empty unless the card is complete."""
    status = card_status(session, execution_id, settings)
    if status is None or status.state != COMPLETE:
        return []
    _, verified = card_files(session, session.get_one(PipelineExecution, execution_id), settings)
    entries = [_entry(v.card_file, v.record.sha256) for v in verified]
    clips = {gopro_key(v.card_file.path) for v in verified if v.card_file.kind == VIDEO} - {None}
    companions = session.scalars(select(ExecutionFile).where(ExecutionFile.execution_id == execution_id,
                                                             ExecutionFile.kind == PROXY))
    entries += [_entry(f, None) for f in companions if gopro_key(f.path) in clips]
    return sorted(entries, key=lambda e: e["path"])


def _entry(card_file: ExecutionFile, sha256: str | None) -> dict[str, Any]:
    entry = {"path": card_file.path, "size": card_file.size,
             "modified": card_file.modified.strftime("%Y-%m-%dT%H:%M:%SZ")}
    if sha256:
        entry["sha256"] = sha256
    return entry


# GoPro names: GX010231.MP4 (clip 0231, chapter 01), GL010231.LRV its proxy, GX010231.THM its
# thumbnail; older cameras GOPR0231.* for the first chapter and GP010231.* for the next.
_GOPRO = re.compile(r"G[A-Z](\d{2})(\d{4})|GOPR(\d{4})", re.IGNORECASE)


def gopro_key(path: str) -> tuple[str, str, str] | None:
    """(folder, chapter, clip number) of a GoPro file, or None for another name."""
    name = PurePosixPath(path)
    match = _GOPRO.fullmatch(name.stem)
    if match is None:
        return None
    chapter, number = (match.group(1), match.group(2)) if match.group(2) else ("00", match.group(3))
    return str(name.parent), chapter, number
