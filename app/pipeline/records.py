"""`mark_file_imported`: a file is recorded as imported only once it is stored and its
SHA-256 checked, in the same transaction that marks it stored."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import ExecutionFile, FileState, ImportedFile, PipelineExecution
from app.pipeline.fingerprint import file_name, fingerprint


def mark_file_imported(session: Session, card_file: ExecutionFile, stored_path: Path, sha256: str) -> ImportedFile:
    card_file.state = FileState.STORED
    card_file.stored_path = str(stored_path)
    card_file.sha256 = sha256
    card_file.error = None
    execution: PipelineExecution = card_file.execution
    existing = session.scalar(select(ImportedFile).where(ImportedFile.fingerprint == card_file.fingerprint))
    if existing is not None:  # a redelivered "stored" or a second reader with the same card
        existing.stored_path, existing.sha256 = str(stored_path), sha256
        return existing
    record = ImportedFile(
        fingerprint=card_file.fingerprint, name=file_name(card_file.path), size=card_file.size,
        modified=card_file.modified, card_id=execution.card_id, detector_id=execution.detector_id,
        source_path=card_file.path, stored_path=str(stored_path), sha256=sha256,
        execution_id=execution.id, jump_id=card_file.jump_id,
    )
    session.add(record)
    return record


def update_stored_path(session: Session, card_file: ExecutionFile, new_path: Path) -> None:
    """The file moved inside the library (filed into a passenger's folder)."""
    card_file.stored_path = str(new_path)
    record = session.scalar(select(ImportedFile).where(ImportedFile.fingerprint == card_file.fingerprint))
    if record is not None:
        record.stored_path = str(new_path)
        record.jump_id = card_file.jump_id


def listing_fingerprint(path: str, size: int, modified) -> str:
    return fingerprint(file_name(path), size, modified)


def forget_unfiled(session: Session, card_file: ExecutionFile) -> None:
    """A stored file that was never filed (its import was cancelled): no longer recorded as
    imported, so the card's next listing offers it again. The caller deletes the staged bytes."""
    record = session.scalar(select(ImportedFile).where(ImportedFile.fingerprint == card_file.fingerprint))
    if record is not None and record.stored_path == card_file.stored_path:
        session.delete(record)
    card_file.state, card_file.stored_path, card_file.sha256 = FileState.LISTED, None, None
