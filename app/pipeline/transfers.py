"""Asking Detectors for files: transfer requests recorded in SQL, sent by the station.

A step (on any worker) calls `request_files`; the rows it writes are the command. The
station's reconciler (`request_reconciler`) sends every open request that was not sent on its
Detector's current connection; the `transfer:requested` event only wakes it. A request that
could not be sent (Detector gone, card pulled) stays open and is sent when the card is listed
again.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import ExecutionFile, FileProbe, FileState, PipelineExecution, TransferRequest
from app.db.types import utcnow
from app.pipeline.library import Library

MAX_COPY_ATTEMPTS = 3
FINAL_FILE_STATES = frozenset({FileState.STORED, FileState.FAILED, FileState.MISSING, FileState.SKIPPED})


def new_request_id(execution_id: int) -> str:
    return f"r-{execution_id}-{secrets.token_hex(4)}"


def request_files(session: Session, execution: PipelineExecution, files: Sequence[ExecutionFile],
                  step_id: int | None) -> TransferRequest | None:
    """Open one request for the files not asked for yet (in the order given)."""
    wanted = [f for f in files if f.state == FileState.LISTED]
    if not wanted:
        return None
    request = TransferRequest(
        id=new_request_id(execution.id), execution_id=execution.id, step_id=step_id,
        detector_id=execution.detector_id, card_id=execution.card_id or "", mode="upload",
    )
    session.add(request)
    session.flush()
    for card_file in wanted:
        card_file.request_id = request.id
        card_file.state = FileState.REQUESTED
    return request


def copy_request_message(session: Session, request: TransferRequest, library: Library) -> dict[str, Any]:
    """The `data` of `sd:copy_request`: the files still wanted, each from the bytes already held."""
    files = session.scalars(
        select(ExecutionFile)
        .where(ExecutionFile.request_id == request.id, ExecutionFile.state == FileState.REQUESTED)
        .order_by(ExecutionFile.id)
    ).all()
    return {
        "request_id": request.id,
        "card_id": request.card_id,
        "mode": request.mode,
        "files": [
            {"path": f.path, "size": f.size,
             "offset": _held_bytes(library.partial_path(request.execution_id, f.id, f.path), f.size)}
            for f in files
        ] + _probe_entries(session, request.id),
        "dest_dir": request.dest_dir,
    }


def _probe_entries(session: Session, request_id: str) -> list[dict[str, Any]]:
    """Probes (app/pipeline/probes.py) asked for in this request; `length` only for slices."""
    entries = []
    for probe in session.scalars(select(FileProbe).where(FileProbe.request_id == request_id,
                                                         FileProbe.state == FileState.REQUESTED).order_by(FileProbe.id)):
        entry: dict[str, Any] = {"path": probe.path, "size": probe.size, "offset": probe.offset}
        if probe.length is not None:
            entry["length"] = probe.length
        entries.append(entry)
    return entries


def _held_bytes(partial: Path, size: int) -> int:
    try:
        held = partial.stat().st_size
    except OSError:
        return 0
    return held if held <= size else 0


def reopen_file(session: Session, card_file: ExecutionFile, reason: str, step_id: int | None) -> TransferRequest | None:
    """After a rejected or failed copy: ask again, or give up after MAX_COPY_ATTEMPTS."""
    card_file.copy_attempts += 1
    card_file.error = reason
    if card_file.copy_attempts >= MAX_COPY_ATTEMPTS:
        card_file.state = FileState.FAILED
        return None
    card_file.state = FileState.LISTED
    return request_files(session, card_file.execution, [card_file], step_id)


def close_finished_requests(session: Session, request_id: str) -> None:
    request = session.get(TransferRequest, request_id)
    if request is None:
        return
    open_files = session.scalars(
        select(ExecutionFile.id).where(ExecutionFile.request_id == request_id, ExecutionFile.state == FileState.REQUESTED)
    ).first()
    open_probes = session.scalars(
        select(FileProbe.id).where(FileProbe.request_id == request_id, FileProbe.state == FileState.REQUESTED)
    ).first()
    if open_files is None and open_probes is None and request.state == "open":
        request.state = "done"


def mark_sent(session: Session, request_id: str, connection: str | None) -> None:
    """The request went out on that Detector connection (the reconciler does not send it again there)."""
    request = session.get(TransferRequest, request_id)
    if request is not None:
        request.sent_at, request.sent_to, request.send_after = utcnow(), connection, None


@dataclass(frozen=True)
class OpenRequest:
    id: str
    detector_id: str
    card_id: str
    sent_to: str | None


def open_requests_due(session: Session, now: datetime) -> list[OpenRequest]:
    """Open requests for a Detector whose pause (`send_after`) is over, oldest first."""
    rows = session.execute(
        select(TransferRequest.id, TransferRequest.detector_id, TransferRequest.card_id, TransferRequest.sent_to)
        .where(TransferRequest.state == "open", TransferRequest.detector_id.is_not(None),
               (TransferRequest.send_after.is_(None)) | (TransferRequest.send_after <= now))
        .order_by(TransferRequest.created_at, TransferRequest.id)
    ).all()
    return [OpenRequest(r.id, r.detector_id, r.card_id, r.sent_to) for r in rows]
