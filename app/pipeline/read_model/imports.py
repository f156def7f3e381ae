"""The imports as the crew sees them (an execution with its passengers, steps and unassigned
clips; a step's details): queries returning the frozen rows of `rows.py`.

Every function takes a SQLAlchemy session and runs on a database thread through
`Database.read` (a read-only transaction that never queues behind the workers' writes);
views call them through `ReadModel`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import (
    ExecutionFile,
    Jump,
    PipelineExecution,
    PipelineStep,
    PipelineStepEdge,
    PipelineStepLog,
)
from app.pipeline.passenger import shown_fields
from app.pipeline.read_model.rows import ClipRow, ExecutionRow, ExecutionSnapshot, JumpRow, StepDetails, StepRow

CLIP_KINDS = ("video", "photo")


def _execution_row(execution: Any) -> ExecutionRow:
    return ExecutionRow(
        id=execution.id,
        card_id=execution.card_id or "",
        card_label=execution.card_label or "",
        detector_id=execution.detector_id or "",
        state=execution.state,
        files_total=execution.files_total or 0,
        files_new=execution.files_new or 0,
        created_at=execution.created_at,
        finished_at=execution.finished_at,
        error=execution.error,
    )


def _clip_duration(media: dict[str, Any] | None) -> float | None:
    if not media:
        return None
    value = media.get("duration_s", media.get("duration"))
    return float(value) if isinstance(value, (int, float)) else None


def _step_row(step: Any, jump_id: int | None) -> StepRow:
    return StepRow(
        id=step.id, execution_id=step.execution_id, name=step.name, key=step.key or "", state=step.state,
        attempt=step.attempt or 0, progress_done=step.progress_done or 0, progress_total=step.progress_total or 0,
        started_at=step.started_at, finished_at=step.finished_at, error=step.error, jump_id=jump_id,
    )


def step_jump(step: Any, jump_ids: set[int], jump_of_path: dict[str, int]) -> int | None:
    """Which passenger a step works for: named in its params, or its key is a jump id or one of
    that jump's files. Card-wide steps (listing, filtering, assigning, cleanup) answer None."""
    params = step.params or {}
    for name in ("jump_id", "jump"):
        value = params.get(name)
        if isinstance(value, int) and value in jump_ids:
            return value
    key = step.key or ""
    if key.isdigit() and int(key) in jump_ids and step.name not in ("decode_qr", "extract_metadata"):
        return int(key)
    for prefix in ("jump-", "jump:", "jump_"):
        if key.startswith(prefix) and key[len(prefix):].isdigit() and int(key[len(prefix):]) in jump_ids:
            return int(key[len(prefix):])
    for name in ("path", "clip", "file"):
        value = params.get(name)
        if isinstance(value, str) and value in jump_of_path:
            return jump_of_path[value]
    return jump_of_path.get(key)


# Plain column reads, not ORM objects: this runs several times a second during an import and
# every millisecond of Python on a database thread is a millisecond the GIL is not the window's.
_EXECUTION_COLUMNS = [getattr(PipelineExecution, name) for name in (
    "id", "card_id", "card_label", "detector_id", "state", "files_total", "files_new", "created_at", "finished_at",
    "error")]
_JUMP_COLUMNS = [getattr(Jump, name) for name in (
    "id", "unassigned", "passenger_name", "booking_id", "qr_frame_path", "output_dir", "video_path", "duration_s",
    "passenger")]
_FILE_COLUMNS = [getattr(ExecutionFile, name) for name in (
    "id", "jump_id", "path", "kind", "media", "size", "state", "stored_path", "modified")]
_STEP_COLUMNS = [getattr(PipelineStep, name) for name in (
    "id", "execution_id", "name", "key", "state", "attempt", "progress_done", "progress_total", "started_at",
    "finished_at", "error", "params")]


def load_execution(session: Session, execution_id: int) -> ExecutionSnapshot | None:
    execution = session.execute(select(*_EXECUTION_COLUMNS).where(PipelineExecution.id == execution_id)).first()
    if execution is None:
        return None
    jumps = session.execute(select(*_JUMP_COLUMNS).where(Jump.execution_id == execution_id).order_by(Jump.id)).all()
    files = session.execute(
        select(*_FILE_COLUMNS).where(ExecutionFile.execution_id == execution_id).order_by(ExecutionFile.modified)
    ).all()
    steps = session.execute(
        select(*_STEP_COLUMNS).where(PipelineStep.execution_id == execution_id).order_by(PipelineStep.id)
    ).all()

    jump_ids = {jump.id for jump in jumps}
    unassigned_ids = {jump.id for jump in jumps if jump.unassigned}
    jump_of_path: dict[str, int] = {}
    clip_counts: dict[int, int] = {}
    durations: dict[int, float] = {}
    clips: list[ClipRow] = []
    for file in files:
        if file.jump_id is None:
            continue
        jump_of_path[file.path] = file.jump_id
        if file.kind not in CLIP_KINDS:
            continue
        clip_counts[file.jump_id] = clip_counts.get(file.jump_id, 0) + 1
        duration = _clip_duration(file.media)
        if duration is not None:
            durations[file.jump_id] = durations.get(file.jump_id, 0.0) + duration
        if file.jump_id in unassigned_ids:
            clips.append(ClipRow(
                id=file.id, execution_id=execution_id, jump_id=file.jump_id, path=file.path, size=file.size,
                state=file.state, stored_path=file.stored_path, modified=file.modified, duration_s=duration,
            ))

    jump_rows = tuple(
        JumpRow(
            id=jump.id, execution_id=execution_id, unassigned=bool(jump.unassigned),
            passenger_name=jump.passenger_name or "", booking_id=jump.booking_id or "",
            qr_frame_path=jump.qr_frame_path, output_dir=jump.output_dir, video_path=jump.video_path,
            clip_count=clip_counts.get(jump.id, 0),
            total_duration_s=jump.duration_s if jump.duration_s is not None else durations.get(jump.id),
            extra=shown_fields(jump.passenger),
        )
        for jump in jumps
    )
    step_rows = tuple(_step_row(step, step_jump(step, jump_ids, jump_of_path)) for step in steps)
    return ExecutionSnapshot(_execution_row(execution), jump_rows, step_rows, tuple(clips))


def recent_execution_ids(session: Session, limit: int) -> list[int]:
    return list(session.scalars(select(PipelineExecution.id).order_by(PipelineExecution.id.desc()).limit(limit)))


def load_recent(session: Session, limit: int = 50) -> list[ExecutionSnapshot]:
    snapshots = (load_execution(session, execution_id) for execution_id in recent_execution_ids(session, limit))
    return [snapshot for snapshot in snapshots if snapshot is not None]


def load_step_details(session: Session, step_id: int) -> StepDetails | None:
    step = session.get(PipelineStep, step_id)
    if step is None:
        return None
    upstream = session.scalars(
        select(PipelineStep)
        .join(PipelineStepEdge, PipelineStepEdge.depends_on_id == PipelineStep.id)
        .where(PipelineStepEdge.step_id == step_id)
        .order_by(PipelineStep.id)
    ).all()
    inputs = {(f"{dep.name}:{dep.key}" if dep.key else dep.name): dep.output for dep in upstream if dep.output}
    logs = session.execute(
        select(PipelineStepLog.ts, PipelineStepLog.level, PipelineStepLog.attempt, PipelineStepLog.message)
        .where(PipelineStepLog.step_id == step_id)
        .order_by(PipelineStepLog.id)
    ).all()
    return StepDetails(
        step=_step_row(step, None),
        worker_id=step.worker_id,
        params=dict(step.params or {}),
        inputs=inputs,
        output=step.output,
        logs=tuple((ts, level, attempt, message) for ts, level, attempt, message in logs),
        depends_on=tuple(f"{dep.name}[{dep.key}]" if dep.key else dep.name for dep in upstream),
    )


def jumps_of_card(session: Session, execution_id: int) -> list[JumpRow]:
    """The passengers a clip of this card may be assigned to (the card's other jumps)."""
    snapshot = load_execution(session, execution_id)
    return [jump for jump in snapshot.jumps if not jump.unassigned] if snapshot else []


def output_folders(session: Session, execution_id: int) -> list[str]:
    """The folders the card's passengers were filed in (the window opens their common parent)."""
    return [d for d in session.scalars(select(Jump.output_dir).where(Jump.execution_id == execution_id)) if d]
