"""Running one claimed step: its context, `run()` under its timeout, and whatever happens (a
result, an exception, a timeout, a value that is not a result) turned into an `Outcome` for
`scheduler.finish`. Never raises, except when the run is cancelled."""

from __future__ import annotations

import asyncio
import json
import traceback
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from app.config import Settings
from app.db.engine import Database
from app.pipeline.base import BaseStep, StepContext, StepFailure, StepLog, StepResult, StepStatus
from app.pipeline.registry import PipelineDefinitionError, UnknownStep, check_new_steps, get_step
from app.pipeline.scheduler import Claimed, Outcome
from app.pipeline.step_queue import Emit


class StepRunner:
    """Runs steps for one worker (`worker_id`) with its thread and process pools."""

    def __init__(self, *, db: Database, settings: Settings, worker_id: str, emit: Emit, threads: Executor,
                 processes: Callable[[], Executor]) -> None:
        self.db = db
        self.settings = settings
        self.worker_id = worker_id
        self.emit = emit
        self.threads = threads
        self.processes = processes

    async def run(self, c: Claimed) -> Outcome:
        step_log = StepLog(c.name)
        try:
            step_class = get_step(c.name)
        except UnknownStep as exc:
            return self._failed(c, step_log, None, f"{exc}; is this worker's version the station's?")
        step: BaseStep = step_class()
        ctx = StepContext(
            execution_id=c.execution_id, step_id=c.step_id, name=c.name, key=c.key, attempt=c.attempt,
            params=c.params, inputs=c.inputs, db=self.db, settings=self.settings, log=step_log,
            _emit=self.emit, _thread_pool=self.threads, _process_pool=self.processes,
        )
        timeout = step_class.timeout_s
        try:
            result = await asyncio.wait_for(step.run(ctx), timeout=timeout)
        except asyncio.CancelledError:
            raise
        except StepFailure as exc:
            result = StepResult.fail(str(exc))
        except TimeoutError:
            error = f"timed out after {timeout:g} s"
            if step_class.retry.retryable(TimeoutError()):
                return self._retryable(c, step_class, ctx, error)
            return self._failed(c, step_log, ctx, error)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            if step_class.retry.retryable(exc):
                return self._retryable(c, step_class, ctx, error)
            return self._failed(c, step_log, ctx, error, exc)
        problem = check_result(result)
        if problem:
            return self._failed(c, step_log, ctx, f"returned garbage: {problem}")
        return Outcome(c.step_id, c.attempt, self.worker_id, result.status, output=result.output,
                       error=result.error, reason=result.reason, spawn=result.spawn, logs=step_log.take(),
                       progress=(ctx.progress_done, ctx.progress_total))

    def _failed(self, c: Claimed, step_log: StepLog, ctx: StepContext | None, error: str,
                exc: BaseException | None = None) -> Outcome:
        step_log.error(error)
        if exc is not None:
            step_log.error("".join(traceback.format_exception(exc)).rstrip())
        progress = (ctx.progress_done, ctx.progress_total) if ctx else (0, 0)
        return Outcome(c.step_id, c.attempt, self.worker_id, StepStatus.FAILED, error=error, logs=step_log.take(),
                       progress=progress)

    def _retryable(self, c: Claimed, step_class: type[BaseStep], ctx: StepContext, error: str) -> Outcome:
        """A failure the step's retry policy covers: `finish` retries it while the policy allows."""
        ctx.log.warning("%s (attempt %d)", error, c.attempt)
        return Outcome(c.step_id, c.attempt, self.worker_id, StepStatus.FAILED, error=error, logs=ctx.log.take(),
                       progress=(ctx.progress_done, ctx.progress_total), retry=step_class.retry)


def check_result(result: Any) -> str | None:
    """Why a step's return value cannot be recorded, or None."""
    if not isinstance(result, StepResult):
        return f"expected a StepResult, got {type(result).__name__} {result!r:.200}"
    if not isinstance(result.status, StepStatus):
        return f"unknown status {result.status!r}"
    if result.output is not None:
        if not isinstance(result.output, dict):
            return f"output must be a JSON object, got {type(result.output).__name__}"
        try:
            json.dumps(result.output)
        except (TypeError, ValueError) as exc:
            return f"output is not JSON: {exc}"
    try:
        check_new_steps(result.spawn)
    except PipelineDefinitionError as exc:
        return str(exc)
    return None


__all__ = ["StepRunner", "check_result"]
