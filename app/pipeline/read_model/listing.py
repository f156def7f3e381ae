"""The newest executions with their steps as JSON: the answer of `pipeline:list` and
`GET /api/executions`, and what `ingest-station status` prints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import PipelineExecution, PipelineStep, StepState
from app.db.types import utcnow

MAX_LIMIT = 1000


def list_executions(session: Session, limit: int = 50) -> list[dict[str, Any]]:
    limit = max(1, min(int(limit), MAX_LIMIT))
    executions = session.execute(
        select(PipelineExecution).order_by(PipelineExecution.id.desc()).limit(limit)
    ).scalars().all()
    if not executions:
        return []
    steps: dict[int, list[PipelineStep]] = {}
    for step in session.execute(
        select(PipelineStep).where(PipelineStep.execution_id.in_([e.id for e in executions])).order_by(PipelineStep.id)
    ).scalars():
        steps.setdefault(step.execution_id, []).append(step)
    now = utcnow()
    return [_execution_json(e, steps.get(e.id, []), now) for e in executions]


def _execution_json(e: PipelineExecution, steps: list[PipelineStep], now: datetime) -> dict[str, Any]:
    done = sum(1 for s in steps if StepState(s.state).is_final)
    return {
        "id": e.id, "pipeline": e.pipeline, "state": e.state, "detector_id": e.detector_id, "card_id": e.card_id,
        "card_label": e.card_label, "slot": e.slot, "files_total": e.files_total, "files_new": e.files_new,
        "error": e.error, "created_at": _iso(e.created_at), "finished_at": _iso(e.finished_at),
        "progress": {"done": done, "total": len(steps)},
        "steps": [_step_json(s, now) for s in steps],
    }


def _step_json(s: PipelineStep, now: datetime) -> dict[str, Any]:
    duration_ms = None
    if s.started_at is not None and s.state != StepState.WAITING.value:
        end = s.finished_at if s.finished_at is not None else now
        duration_ms = max(0, int((end - s.started_at).total_seconds() * 1000))
    return {
        "id": s.id, "name": s.name, "key": s.key, "state": s.state, "attempt": s.attempt,
        "duration_ms": duration_ms, "error": s.error, "worker_id": s.worker_id,
        "progress": {"done": s.progress_done, "total": s.progress_total},
        "started_at": _iso(s.started_at), "finished_at": _iso(s.finished_at),
    }


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
