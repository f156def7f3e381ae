"""The shared logic of the steps that ask a Detector for files and wait for them.

Such a step is run again each time one of its files is stored (the orchestrator wakes it):
each run opens a request for files not yet asked for, reports what arrived, and the step
waits until every file is stored, missing or failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from app.core_events import TransferRequested
from app.db.models import ExecutionFile, FileState, PipelineExecution
from app.pipeline.base import StepContext
from app.pipeline.free_space import check_room
from app.pipeline.transfers import FINAL_FILE_STATES, request_files


@dataclass
class FetchProgress:
    total: int = 0
    request_id: str | None = None
    stored: list[int] = field(default_factory=list)  # ExecutionFile ids
    failed: list[str] = field(default_factory=list)  # "path: why"
    missing: list[str] = field(default_factory=list)
    outstanding: int = 0

    @property
    def done(self) -> bool:
        return self.outstanding == 0


def fetch_files(session: Session, ctx: StepContext, files: Sequence[ExecutionFile]) -> FetchProgress:
    """Open a request for what is not asked for yet; report where every file stands."""
    if ctx.attempt > 1:
        # Retried by the crew after copies failed: those files get their three attempts again.
        for card_file in files:
            if card_file.state == FileState.FAILED:
                card_file.state, card_file.copy_attempts = FileState.LISTED, 0
    check_room(ctx.settings.library, sum(f.size for f in files if f.state == FileState.LISTED),
               ctx.settings.library_reserve_bytes)
    execution = session.get_one(PipelineExecution, ctx.execution_id)
    request = request_files(session, execution, files, ctx.step_id)
    progress = FetchProgress(total=len(files), request_id=request.id if request else None)
    for card_file in files:
        if card_file.state == FileState.STORED:
            progress.stored.append(card_file.id)
        elif card_file.state == FileState.FAILED:
            progress.failed.append(f"{card_file.path}: {card_file.error}")
        elif card_file.state == FileState.MISSING:
            progress.missing.append(f"{card_file.path}: {card_file.error}")
        elif card_file.state not in FINAL_FILE_STATES:
            progress.outstanding += 1
    return progress


def report_request(ctx: StepContext, request_id: str | None, what: str) -> None:
    """Tell the station to send a request just opened (the log says what it asks for)."""
    if request_id:
        ctx.emit(TransferRequested(execution_id=ctx.execution_id, request_id=request_id))
        ctx.log.info("asked the Detector for %s (request %s)", what, request_id)


def report(ctx: StepContext, progress: FetchProgress, what: str) -> None:
    if progress.request_id:
        ctx.emit(TransferRequested(execution_id=ctx.execution_id, request_id=progress.request_id))
        ctx.log.info("asked the Detector for %d %s (request %s)", progress.outstanding, what, progress.request_id)
    for line in progress.missing:
        ctx.log.warning("not on the card any more or unreadable, set aside: %s", line)
    for line in progress.failed:
        ctx.log.error("copy failed after every attempt: %s", line)
    ctx.progress(progress.total - progress.outstanding, progress.total)
