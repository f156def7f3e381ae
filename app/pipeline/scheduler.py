"""The graph in SQL: creating steps and edges, claiming, finishing, readiness, propagation and
the execution's derived state. Every function here works inside the caller's transaction
(`session`) and never talks to Redis: what must be sent or announced after the commit is
collected in a `Report`.

Concurrency: a step changes state only by conditional UPDATEs on (id, attempt, state[, worker]),
so a duplicate message, a zombie worker or a racing retry changes nothing. On Postgres the
dependents of a finished step are locked (in id order) before their readiness is checked, so
two dependencies finishing at the same moment cannot both miss that the dependent is ready.

Why one module of ~700 lines: every write to a step's state is here, so the conditional
updates and the lock order they rely on can be checked against each other in one read.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, Select, Table, Update, bindparam, func, insert, select, tuple_, update
from sqlalchemy.orm import Session

from app.core_events import (
    CoreEvent,
    PipelineCancelled,
    PipelineCompleted,
    PipelineFailed,
    StepCompleted,
    StepStarted,
)
from app.db.models import (
    DONE_STEP_STATES,
    FAILED_STEP_STATES,
    FINAL_STEP_STATES,
    RAN_STEP_STATES,
    UNDERWAY_STEP_STATES,
    ExecutionState,
    PipelineExecution,
    PipelineStep,
    PipelineStepAttempt,
    PipelineStepEdge,
    PipelineStepLog,
    StepState,
)
from app.db.types import utcnow
from app.pipeline.base import ChildrenOf, NewStep, Retry, StepStatus
from app.refusals import NotFound, RetryRefused

log = logging.getLogger(__name__)

SelectT = TypeVar("SelectT", bound=Select[Any])

STEP = cast(Table, PipelineStep.__table__)
EDGE = cast(Table, PipelineStepEdge.__table__)
EXE = cast(Table, PipelineExecution.__table__)
LOG = cast(Table, PipelineStepLog.__table__)
ATTEMPT = cast(Table, PipelineStepAttempt.__table__)
DEP = STEP.alias("dep")  # a dependency's row (built once: an alias per call costs more than the query)

DONE_FOR_DEPENDENTS = sorted(s.value for s in DONE_STEP_STATES)
FINAL = sorted(s.value for s in FINAL_STEP_STATES)


class SpawnError(ValueError):
    """A spawned child names a dependency the execution does not have."""


@dataclass
class Report:
    """What a transaction decided, to act on after its commit."""

    queued: list[tuple[int, int]] = field(default_factory=list)  # (step_id, attempt) to send now
    delayed: list[tuple[int, int, datetime]] = field(default_factory=list)  # automatic retries
    events: list[CoreEvent] = field(default_factory=list)
    dead: list[tuple[int, int, str]] = field(default_factory=list)  # (step_id, attempt, reason)

    def extend(self, other: Report) -> None:
        self.queued += other.queued
        self.delayed += other.delayed
        self.events += other.events
        self.dead += other.dead


@dataclass
class Outcome:
    """The result of one run, as the worker hands it to `finish`. A failure with a `retry`
    policy is retried automatically while the policy has attempts left."""

    step_id: int
    attempt: int
    worker_id: str
    status: StepStatus
    output: dict[str, Any] | None = None
    error: str | None = None
    reason: str | None = None
    spawn: Sequence[NewStep] = ()
    logs: Sequence[tuple[str, str]] = ()
    progress: tuple[int, int] = (0, 0)
    retry: Retry | None = None  # with FAILED: the step's automatic retry policy covers this failure


@dataclass
class Claimed:
    """A step this worker now runs."""

    step_id: int
    attempt: int
    execution_id: int
    name: str
    key: str
    params: dict[str, Any]
    inputs: dict[str, Any]
    queued_at: datetime | None
    started_at: datetime


# -- creating steps ------------------------------------------------------------------------------
def create_steps(session: Session, execution_id: int, steps: Sequence[NewStep],
                 spawned_by: int | None = None) -> list[int]:
    """Insert steps (unique by name+key: existing ones are kept as they are) and their edges.
    Returns the ids of the steps that were new. Raises SpawnError for a dangling dependency."""
    if not steps:
        return []
    existing = {
        (row.name, row.key): row.id
        for row in session.execute(select(STEP.c.id, STEP.c.name, STEP.c.key).where(STEP.c.execution_id == execution_id))
    }
    now = utcnow()
    fresh: dict[tuple[str, str], NewStep] = {}
    for step in steps:
        if (step.name, step.key) not in existing:
            fresh.setdefault((step.name, step.key), step)
    created: list[tuple[int, NewStep]] = []
    if fresh:
        rows = session.execute(insert(STEP).returning(STEP.c.id, STEP.c.name, STEP.c.key), [
            {"execution_id": execution_id, "name": step.name, "key": step.key, "state": StepState.PENDING.value,
             "attempt": 1, "deliveries": 0, "spawned_by_id": spawned_by, "params": dict(step.params),
             "progress_done": 0, "progress_total": 0, "created_at": now, "wake_requested": False}
            for step in fresh.values()
        ]).all()
        ids = {(row.name, row.key): row.id for row in rows}
        existing.update(ids)
        created = sorted(((ids[k], step) for k, step in fresh.items()), key=lambda pair: pair[0])
    edges: list[dict[str, Any]] = []
    for step_id, step in created:
        for ref in step.refs():
            target = existing.get((ref.name, ref.key))
            if target is None:
                raise SpawnError(
                    f"step {step.name!r}{_key_text(step.key)} depends on {ref.name!r}{_key_text(ref.key)}, "
                    "which this execution does not have"
                )
            edges.append({"step_id": step_id, "depends_on_id": target, "fan_in": isinstance(ref, ChildrenOf)})
            if isinstance(ref, ChildrenOf):  # children already spawned by the fan-in parent
                for child in session.execute(select(STEP.c.id).where(STEP.c.spawned_by_id == target)).scalars():
                    edges.append({"step_id": step_id, "depends_on_id": child, "fan_in": False})
    if spawned_by is not None and created:
        # Steps that fan in over this parent now also wait for each new child.
        waiters = session.execute(
            select(EDGE.c.step_id).where(EDGE.c.depends_on_id == spawned_by, EDGE.c.fan_in.is_(True))
        ).scalars().all()
        for waiter in waiters:
            for child_id, _ in created:
                edges.append({"step_id": waiter, "depends_on_id": child_id, "fan_in": False})
    if edges:
        unique = {(e["step_id"], e["depends_on_id"]): e for e in edges}
        session.execute(insert(EDGE), list(unique.values()))
    return [step_id for step_id, _ in created]


def _rowcount(result: Any) -> int:
    """Rows an UPDATE matched (`session.execute` is typed as returning a plain Result)."""
    return cast(CursorResult[Any], result).rowcount


def _key_text(key: str) -> str:
    return f" (key {key!r})" if key else ""


# -- readiness -----------------------------------------------------------------------------------
def dependents_of(session: Session, step_ids: Iterable[int]) -> list[int]:
    ids = list(step_ids)
    if not ids:
        return []
    return sorted(set(session.execute(_DEPENDENTS, {"ids": ids}).scalars()))


_DEPENDENTS = select(EDGE.c.step_id).where(EDGE.c.depends_on_id.in_(bindparam("ids", expanding=True)))


def queue_ready(session: Session, execution_id: int, candidates: Sequence[int] | None, report: Report) -> None:
    """Queue the pending steps (all of the execution's, or `candidates`) whose dependencies all
    succeeded or were skipped: one conditional UPDATE on every database."""
    if candidates is not None and not candidates:
        return
    params: dict[str, Any] = {"b_execution_id": execution_id, "b_now": utcnow()}
    if candidates is not None:
        params["candidates"] = list(candidates)
    if session.get_bind().dialect.name == "postgresql":
        # Two dependencies finishing at the same moment must not both miss that their dependent
        # is ready: the second waits here for the first to commit, and the UPDATE (a new
        # statement, so a new snapshot) then sees both. SQLite has one writer at a time.
        session.execute(_LOCK_PENDING[candidates is not None], params)
    rows = session.execute(_QUEUE_READY[candidates is not None], params).all()
    report.queued += sorted((row.id, row.attempt) for row in rows)


def _pending(with_candidates: bool) -> list[Any]:
    where = [STEP.c.execution_id == bindparam("b_execution_id"), STEP.c.state == StepState.PENDING.value]
    if with_candidates:
        where.append(STEP.c.id.in_(bindparam("candidates", expanding=True)))
    return where


def _queue_ready_statement(with_candidates: bool) -> Any:
    blocked = (
        select(EDGE.c.step_id).join(DEP, DEP.c.id == EDGE.c.depends_on_id)
        .where(EDGE.c.step_id == STEP.c.id, DEP.c.state.not_in(DONE_FOR_DEPENDENTS)).exists()
    )
    return (update(STEP).where(*_pending(with_candidates), ~blocked)
            .values(state=StepState.QUEUED.value, queued_at=bindparam("b_now"), not_before=None)
            .returning(STEP.c.id, STEP.c.attempt))


# Built once (building a statement per call costs more than running it).
_QUEUE_READY = {True: _queue_ready_statement(True), False: _queue_ready_statement(False)}
_LOCK_PENDING = {flag: select(STEP.c.id).where(*_pending(flag)).order_by(STEP.c.id).with_for_update()
                 for flag in (True, False)}


def propagate_failure(session: Session, step_ids: Sequence[int]) -> None:
    """Pending steps downstream of failed ones become `upstream_failed` (transitively)."""
    frontier = list(step_ids)
    now = utcnow()
    while frontier:
        downstream = dependents_of(session, frontier)
        if not downstream:
            return
        frontier = list(session.execute(
            update(STEP)
            .where(STEP.c.id.in_(downstream), STEP.c.state == StepState.PENDING.value)
            .values(state=StepState.UPSTREAM_FAILED.value, finished_at=now, error="a step it depends on failed")
            .returning(STEP.c.id)
        ).scalars())


# -- the execution's state -------------------------------------------------------------------
_COUNT_STATES = (
    select(STEP.c.state, func.count()).where(STEP.c.execution_id == bindparam("execution_id")).group_by(STEP.c.state)
)


def execution_progress(session: Session, execution_id: int) -> tuple[dict[str, int], int, int]:
    counts = {state: n for state, n in session.execute(_COUNT_STATES, {"execution_id": execution_id})}
    total = sum(counts.values())
    done = sum(n for state, n in counts.items() if state in FINAL)
    return counts, done, total


def derive_state(counts: dict[str, int]) -> ExecutionState:
    def n(*states: StepState) -> int:
        return sum(counts.get(s.value, 0) for s in states)

    if n(StepState.QUEUED, StepState.RUNNING):
        return ExecutionState.RUNNING
    if n(StepState.WAITING):
        return ExecutionState.WAITING
    if n(StepState.PENDING):
        return ExecutionState.RUNNING
    if n(*FAILED_STEP_STATES):
        return ExecutionState.FAILED
    if n(StepState.CANCELLED):
        return ExecutionState.CANCELLED
    return ExecutionState.SUCCEEDED


def settle_execution(session: Session, execution_id: int, report: Report) -> tuple[int, int]:
    """Store the derived state; the transaction that makes it final announces it.
    Returns (done, total) steps for progress."""
    if session.get_bind().dialect.name == "postgresql":
        # Two transactions finishing the last two steps must not each miss the other's.
        session.execute(select(EXE.c.id).where(EXE.c.id == execution_id).with_for_update())
    counts, done, total = execution_progress(session, execution_id)
    state = derive_state(counts)
    now = utcnow()
    values: dict[str, Any] = {"state": state.value, "updated_at": now}
    if state in (ExecutionState.SUCCEEDED, ExecutionState.FAILED):
        values["finished_at"] = now
    changed = _rowcount(session.execute(
        update(EXE)
        .where(EXE.c.id == execution_id, EXE.c.state != state.value, EXE.c.state != ExecutionState.CANCELLED.value)
        .values(**values)
    ))
    if not changed:
        return done, total
    if state == ExecutionState.SUCCEEDED:
        report.events.append(PipelineCompleted(execution_id=execution_id, summary=_completed_fields(session, execution_id)))
    elif state == ExecutionState.FAILED:
        first = session.execute(
            select(STEP.c.id, STEP.c.name, STEP.c.error)
            .where(STEP.c.execution_id == execution_id, STEP.c.state == StepState.FAILED.value)
            .order_by(STEP.c.finished_at, STEP.c.id).limit(1)
        ).first()
        error = first.error if first else "a step failed"
        session.execute(update(EXE).where(EXE.c.id == execution_id).values(error=error))
        report.events.append(PipelineFailed(execution_id=execution_id, step_id=first.id if first else None,
                                            step=first.name if first else None, error=error))
    return done, total


def _completed_fields(session: Session, execution_id: int) -> dict[str, Any]:
    from app.pipeline.registry import PipelineDefinitionError, get_pipeline  # noqa: PLC0415

    name = session.execute(select(EXE.c.pipeline).where(EXE.c.id == execution_id)).scalar_one()
    try:
        definition = get_pipeline(name)
    except PipelineDefinitionError:
        return {}
    if definition.on_completed is None:
        return {}
    execution = session.get_one(PipelineExecution, execution_id)
    try:
        with session.begin_nested():
            return dict(definition.on_completed(session, execution) or {})
    except Exception as exc:  # the hook only adds fields: its failure must not undo the result
        log.exception("on_completed hook of pipeline %s failed", name)
        return {"hook_error": f"{type(exc).__name__}: {exc}"}


# -- claiming ------------------------------------------------------------------------------------
_CLAIM = (
    update(STEP)
    .where(tuple_(STEP.c.id, STEP.c.attempt).in_(bindparam("wanted", expanding=True)),
           STEP.c.state == StepState.QUEUED.value)
    .values(state=StepState.RUNNING.value, worker_id=bindparam("b_worker_id"), started_at=bindparam("b_now"),
            finished_at=None, deliveries=STEP.c.deliveries + 1)
    .returning(STEP.c.id, STEP.c.attempt, STEP.c.execution_id, STEP.c.name, STEP.c.key, STEP.c.params,
               STEP.c.deliveries, STEP.c.queued_at)
)


def claim(session: Session, wanted: Sequence[tuple[int, int]], worker_id: str, max_deliveries: int,
          report: Report) -> list[Claimed]:
    """Take queued steps for this worker. A (step, attempt) that is not queued any more (a
    duplicate message, an old attempt, a cancelled step) is simply not returned."""
    if not wanted:
        return []
    now = utcnow()
    rows = session.execute(_CLAIM, {"wanted": list(wanted), "b_worker_id": worker_id, "b_now": now}).all()
    claimed: list[Claimed] = []
    dead: list[Outcome] = []
    for row in rows:
        if row.deliveries > max_deliveries:
            reason = (f"delivered {row.deliveries - 1} times without finishing (its workers died or "
                      "were stopped); moved to the dead-letter stream")
            dead.append(Outcome(row.id, row.attempt, worker_id, StepStatus.FAILED, error=reason,
                                logs=[("ERROR", reason)]))
            report.dead.append((row.id, row.attempt, reason))
            continue
        claimed.append(Claimed(row.id, row.attempt, row.execution_id, row.name, row.key, dict(row.params or {}),
                               {}, row.queued_at, now))
    _load_inputs(session, claimed)
    for c in claimed:
        report.events.append(StepStarted(execution_id=c.execution_id, step_id=c.step_id, step=c.name, key=c.key,
                                         attempt=c.attempt))
    if dead:
        finish(session, dead, report)
    return claimed


def _load_inputs(session: Session, claimed: Sequence[Claimed]) -> None:
    if not claimed:
        return
    by_id = {c.step_id: c for c in claimed}
    dep = DEP
    fan_in_parents: dict[int, list[tuple[int, str]]] = {}
    for row in session.execute(
        select(EDGE.c.step_id, EDGE.c.fan_in, dep.c.id, dep.c.name, dep.c.key, dep.c.output)
        .join(dep, dep.c.id == EDGE.c.depends_on_id)
        .where(EDGE.c.step_id.in_(list(by_id)))
    ):
        inputs = by_id[row.step_id].inputs
        inputs[f"{row.name}:{row.key}" if row.key else row.name] = row.output
        if row.fan_in:
            fan_in_parents.setdefault(row.id, []).append((row.step_id, row.name))
    if fan_in_parents:
        for child in session.execute(
            select(STEP.c.spawned_by_id, STEP.c.output)
            .where(STEP.c.spawned_by_id.in_(list(fan_in_parents))).order_by(STEP.c.id)
        ):
            for step_id, parent_name in fan_in_parents[child.spawned_by_id]:
                by_id[step_id].inputs.setdefault(f"children:{parent_name}", []).append(child.output)


# -- finishing -----------------------------------------------------------------------------------
@dataclass
class _Finished:
    """What one `finish` batch did, for the readiness and state updates that follow it."""

    touched: set[int] = field(default_factory=set)  # execution ids
    done: dict[int, list[int]] = field(default_factory=dict)  # execution id -> succeeded/skipped step ids
    failed: list[int] = field(default_factory=list)
    spawned: dict[int, list[int]] = field(default_factory=dict)  # execution id -> new child step ids


def finish(session: Session, outcomes: Sequence[Outcome], report: Report) -> None:
    """Record results. An outcome whose (attempt, running, worker) no longer matches the row
    (a zombie after a takeover, a cancelled or retried step) is discarded."""
    if not outcomes:
        return
    now = utcnow()
    batch = _Finished()
    rows = _running_rows(session, [o.step_id for o in outcomes])
    for outcome in outcomes:
        row = rows.get(outcome.step_id)
        if row is None or (row.attempt, row.worker_id) != (outcome.attempt, outcome.worker_id):
            log.info("discarding the result of step %s attempt %s from %s: the step moved on",
                     outcome.step_id, outcome.attempt, outcome.worker_id)
            continue
        _record(session, row, outcome, now, batch, report)
    if batch.failed:
        propagate_failure(session, batch.failed)
    for execution_id in sorted(set(batch.done) | set(batch.spawned)):
        candidates = dependents_of(session, batch.done.get(execution_id, [])) + batch.spawned.get(execution_id, [])
        queue_ready(session, execution_id, sorted(set(candidates)), report)
    for execution_id in sorted(batch.touched):
        done, total = settle_execution(session, execution_id, report)
        report.events = [
            dataclasses.replace(e, progress={"done": done, "total": total})
            if isinstance(e, StepCompleted) and e.execution_id == execution_id and e.progress is None else e
            for e in report.events
        ]


def _running_rows(session: Session, step_ids: Sequence[int]) -> dict[int, Any]:
    """The steps still `running`, locked, by id."""
    return {row.id: row for row in session.execute(_for_update(session, select(
        STEP.c.id, STEP.c.execution_id, STEP.c.name, STEP.c.key, STEP.c.started_at, STEP.c.wake_requested,
        STEP.c.worker_id, STEP.c.attempt,
    ).where(STEP.c.id.in_(list(step_ids)), STEP.c.state == StepState.RUNNING.value).order_by(STEP.c.id)))}


def _record(session: Session, row: Any, outcome: Outcome, now: datetime, batch: _Finished, report: Report) -> None:
    """Write one run's result: children it spawned, then a retry, a wait or a final state."""
    logs = list(outcome.logs)
    status, error = outcome.status, outcome.error
    if outcome.spawn and status in (StepStatus.SUCCEEDED, StepStatus.WAITING):
        try:
            with session.begin_nested():
                new_ids = create_steps(session, row.execution_id, outcome.spawn, spawned_by=outcome.step_id)
            batch.spawned.setdefault(row.execution_id, []).extend(new_ids)
        except SpawnError as exc:
            status, error = StepStatus.FAILED, f"cannot spawn: {exc}"
            logs.append(("ERROR", error))
    values: dict[str, Any] = {"progress_done": outcome.progress[0], "progress_total": outcome.progress[1]}
    due = _retry_due(session, outcome, now, logs) if status == StepStatus.FAILED else None
    if due is not None:
        values.update(_retry_later(session, row, outcome, now, due, logs, report))
    elif status == StepStatus.WAITING:
        values.update(_wait(row, outcome, now, logs, report))
    else:
        values.update(_final(row, outcome, StepState(status.value), error, now, logs, batch, report))
    session.execute(_update_step(tuple(sorted(values))),
                    {"b_step_id": outcome.step_id, **{f"v_{k}": v for k, v in values.items()}})
    if logs:
        session.execute(insert(LOG), [
            {"step_id": outcome.step_id, "attempt": outcome.attempt, "ts": now, "level": level, "message": text}
            for level, text in logs
        ])
    batch.touched.add(row.execution_id)


def _retry_due(session: Session, outcome: Outcome, now: datetime, logs: list[tuple[str, str]]) -> datetime | None:
    """When a failed run is tried again automatically, or None (no policy, or its attempts are spent)."""
    if outcome.retry is None:
        return None
    used = _automatic_retries_used(session, outcome.step_id)
    if used + 1 >= outcome.retry.attempts:
        logs.append(("ERROR", f"giving up after {used + 1} attempt(s): {outcome.error}"))
        return None
    return now + timedelta(seconds=outcome.retry.delay_s(used + 1))


def _retry_later(session: Session, row: Any, outcome: Outcome, now: datetime, due: datetime,
                 logs: list[tuple[str, str]], report: Report) -> dict[str, Any]:
    """The next attempt, queued for `due` (the delayed set sends it then)."""
    _archive(session, outcome.step_id, outcome.attempt, RETRIED, None, outcome.error, outcome.worker_id,
             row.started_at, now)
    logs.append(("INFO", f"retrying at {due.isoformat(timespec='seconds')}"))
    report.delayed.append((outcome.step_id, outcome.attempt + 1, due))
    return {"state": StepState.QUEUED.value, "attempt": outcome.attempt + 1, "worker_id": None, "error": None,
            "not_before": due, "queued_at": due, "finished_at": None}


def _wait(row: Any, outcome: Outcome, now: datetime, logs: list[tuple[str, str]], report: Report) -> dict[str, Any]:
    """Waiting holds no worker; a wake that came while it ran queues it again at once."""
    again = bool(row.wake_requested)
    if outcome.reason:
        logs.append(("INFO", f"waiting: {outcome.reason}"))
    # A run that ended in `wait` finished: only unfinished deliveries count toward the
    # dead-letter limit, however often a step is woken.
    values: dict[str, Any] = {"state": StepState.QUEUED.value if again else StepState.WAITING.value,
                              "wake_requested": False, "worker_id": None, "error": None, "deliveries": 0}
    if again:
        values["queued_at"] = now
        report.queued.append((outcome.step_id, outcome.attempt))
    return values


def _final(row: Any, outcome: Outcome, state: StepState, error: str | None, now: datetime,
           logs: list[tuple[str, str]], batch: _Finished, report: Report) -> dict[str, Any]:
    """Succeeded, skipped or failed for good."""
    if state == StepState.SKIPPED and outcome.reason:
        logs.append(("INFO", f"skipped: {outcome.reason}"))
    if state in DONE_FOR_DEPENDENTS:
        batch.done.setdefault(row.execution_id, []).append(outcome.step_id)
    else:
        batch.failed.append(outcome.step_id)
    done_ms = int((now - row.started_at).total_seconds() * 1000) if row.started_at else 0
    report.events.append(StepCompleted(execution_id=row.execution_id, step_id=outcome.step_id, step=row.name,
                                       key=row.key, status=state.value, duration_ms=done_ms))
    return {"state": state.value, "finished_at": now, "wake_requested": False,
            "output": outcome.output if state == StepState.SUCCEEDED else None,
            "error": error if state == StepState.FAILED else outcome.reason}


# Archive state of an attempt that failed and was retried automatically.
RETRIED = "retried"


def _automatic_retries_used(session: Session, step_id: int) -> int:
    """Automatic retries since the step was last reset by hand (a manual retry restores the budget)."""
    manual = session.execute(
        select(func.max(ATTEMPT.c.attempt)).where(ATTEMPT.c.step_id == step_id, ATTEMPT.c.state != RETRIED)
    ).scalar() or 0
    return session.execute(
        select(func.count()).where(ATTEMPT.c.step_id == step_id, ATTEMPT.c.state == RETRIED,
                                   ATTEMPT.c.attempt > manual)
    ).scalar_one()


@functools.lru_cache(maxsize=64)
def _update_step(columns: tuple[str, ...]) -> Update:
    """`UPDATE pipeline_step SET <columns> WHERE id = :step_id`, built once per set of columns."""
    return update(STEP).where(STEP.c.id == bindparam("b_step_id")).values({c: bindparam(f"v_{c}") for c in columns})


def _for_update(session: Session, stmt: SelectT) -> SelectT:
    # NO KEY UPDATE: state changes never touch keys, so rows that reference the step (logs,
    # edges, transfer requests) can still be inserted meanwhile; plain FOR UPDATE would make
    # those foreign-key checks wait and deadlock against the orchestrator.
    if session.get_bind().dialect.name == "postgresql":
        return stmt.with_for_update(key_share=True)
    return stmt


def _archive(session: Session, step_id: int, attempt: int, state: str, output: Any, error: str | None,
             worker_id: str | None, started_at: datetime | None, finished_at: datetime | None) -> None:
    session.execute(insert(ATTEMPT).values(
        step_id=step_id, attempt=attempt, state=state, output=output, error=error, worker_id=worker_id,
        started_at=started_at, finished_at=finished_at, archived_at=utcnow(),
    ))


# -- waking, retrying, cancelling, recovering ----------------------------------------------------
def wake(session: Session, execution_id: int, name: str | None, key: str | None, report: Report) -> int:
    """Queue waiting steps again; a matching step that is running right now is flagged so
    its `wait` result queues it again at once. Returns how many steps were woken or flagged."""
    match = [STEP.c.execution_id == execution_id]
    if name is not None:
        match.append(STEP.c.name == name)
    if key is not None:
        match.append(STEP.c.key == key)
    now = utcnow()
    # Lock the candidates first: on Postgres a wake racing with the step's own `wait` result
    # would otherwise see it running in one statement and waiting in the next, and be lost.
    session.execute(_for_update(session, select(STEP.c.id).where(
        *match, STEP.c.state.in_([StepState.WAITING.value, StepState.RUNNING.value]))))
    rows = session.execute(
        update(STEP).where(*match, STEP.c.state == StepState.WAITING.value)
        .values(state=StepState.QUEUED.value, queued_at=now).returning(STEP.c.id, STEP.c.attempt)
    ).all()
    report.queued += [(r.id, r.attempt) for r in rows]
    flagged = _rowcount(session.execute(
        update(STEP).where(*match, STEP.c.state == StepState.RUNNING.value).values(wake_requested=True)
    ))
    if rows:
        settle_execution(session, execution_id, report)
    return len(rows) + flagged


def downstream_of(session: Session, step_id: int) -> list[int]:
    seen: set[int] = set()
    frontier = [step_id]
    while frontier:
        frontier = [s for s in dependents_of(session, frontier) if s not in seen]
        seen.update(frontier)
    return sorted(seen)


def retry(session: Session, execution_id: int, step_id: int, report: Report) -> list[int]:
    """Reset a failed step and everything downstream of it; returns the reset step ids."""
    row = session.execute(
        _for_update(session, select(STEP).where(STEP.c.id == step_id))
    ).first()
    if row is None or row.execution_id != execution_id:
        raise NotFound(f"execution {execution_id} has no step {step_id}")
    if row.state != StepState.FAILED.value:
        raise RetryRefused(f"step {step_id} ({row.name}) is {row.state}, not failed: only a failed step can be retried")
    now = utcnow()
    reset = [step_id, *downstream_of(session, step_id)]
    for r in session.execute(select(STEP).where(STEP.c.id.in_(reset))).all():
        ran = r.state in RAN_STEP_STATES
        if ran:
            _archive(session, r.id, r.attempt, r.state, r.output, r.error, r.worker_id, r.started_at, r.finished_at)
        if r.state in UNDERWAY_STEP_STATES:
            continue  # a downstream step already underway (fan-out children) keeps going
        session.execute(update(STEP).where(STEP.c.id == r.id).values(
            state=StepState.PENDING.value, attempt=r.attempt + 1 if ran else r.attempt, deliveries=0,
            output=None, error=None, worker_id=None, progress_done=0, progress_total=0, not_before=None,
            queued_at=None, started_at=None, finished_at=None, wake_requested=False,
        ))
    session.execute(update(EXE).where(EXE.c.id == execution_id).values(
        state=ExecutionState.RUNNING.value, error=None, finished_at=None, updated_at=now))
    queue_ready(session, execution_id, None, report)
    settle_execution(session, execution_id, report)
    return reset


def retry_failed(session: Session, execution_id: int, report: Report) -> list[int]:
    """Reset every failed step of the execution and what is downstream of them, in the caller's
    transaction: all of them or (on any error) none. Returns the reset step ids."""
    if session.execute(select(EXE.c.id).where(EXE.c.id == execution_id)).first() is None:
        raise NotFound(f"no execution {execution_id}")
    failed = session.scalars(select(STEP.c.id).where(
        STEP.c.execution_id == execution_id, STEP.c.state == StepState.FAILED.value).order_by(STEP.c.id)).all()
    if not failed:
        raise RetryRefused(f"execution {execution_id} has no failed step")
    reset: list[int] = []
    for step_id in failed:
        if step_id not in reset:  # a failed step downstream of another is reset with it
            reset.extend(retry(session, execution_id, step_id, report))
    return sorted(set(reset))


def cancel(session: Session, execution_id: int, report: Report) -> int:
    """Every unfinished step becomes `cancelled`; running ones finish into the void."""
    if session.execute(select(EXE.c.id).where(EXE.c.id == execution_id)).first() is None:
        raise NotFound(f"no execution {execution_id}")
    now = utcnow()
    count = _rowcount(session.execute(
        update(STEP).where(STEP.c.execution_id == execution_id, STEP.c.state.not_in(FINAL))
        .values(state=StepState.CANCELLED.value, finished_at=now, error="cancelled")
    ))
    changed = _rowcount(session.execute(
        update(EXE).where(EXE.c.id == execution_id, EXE.c.state.not_in(
            [ExecutionState.SUCCEEDED.value, ExecutionState.FAILED.value, ExecutionState.CANCELLED.value]))
        .values(state=ExecutionState.CANCELLED.value, finished_at=now, updated_at=now, error="cancelled")
    ))
    if changed:
        report.events.append(PipelineCancelled(execution_id=execution_id, cancelled_steps=count))
    return count


def requeue_dead_workers(session: Session, dead_workers: Sequence[str], report: Report,
                         reason: str = "its worker stopped responding; taken over by another worker") -> int:
    """Steps left `running` by workers whose heartbeat stopped go back to the queue (same
    attempt; the worker id is cleared so the dead one could never finish them)."""
    if not dead_workers:
        return 0
    now = utcnow()
    rows = session.execute(
        update(STEP).where(STEP.c.state == StepState.RUNNING.value, STEP.c.worker_id.in_(list(dead_workers)))
        .values(state=StepState.QUEUED.value, worker_id=None, queued_at=now)
        .returning(STEP.c.id, STEP.c.attempt, STEP.c.worker_id)
    ).all()
    for r in rows:
        session.execute(insert(LOG).values(step_id=r.id, attempt=r.attempt, ts=now, level="WARNING",
                                           message=reason))
    report.queued += [(r.id, r.attempt) for r in rows]
    return len(rows)


def running_workers(session: Session) -> list[str]:
    return [w for w in session.execute(
        select(STEP.c.worker_id).where(STEP.c.state == StepState.RUNNING.value).distinct()
    ).scalars() if w]


def stale_queued(session: Session, older_than: datetime, limit: int = 500) -> list[tuple[int, int]]:
    """Queued steps whose time has come, queued before `older_than` (reconciler candidates)."""
    now = utcnow()
    return [(r.id, r.attempt) for r in session.execute(
        select(STEP.c.id, STEP.c.attempt).where(
            STEP.c.state == StepState.QUEUED.value, STEP.c.queued_at < older_than,
            (STEP.c.not_before.is_(None)) | (STEP.c.not_before <= now),
        ).order_by(STEP.c.id).limit(limit)
    )]


__all__ = [
    "Claimed", "NotFound", "Outcome", "Report", "RetryRefused", "SpawnError", "cancel", "claim", "create_steps",
    "finish", "queue_ready", "requeue_dead_workers", "retry", "settle_execution", "wake",
]
