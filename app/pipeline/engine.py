"""`PipelineEngine`: the one door to the pipeline for the orchestrator, the UI channel, the
CLI and the window (docs/architecture.md, "Engine facade").

It creates executions, queues what is ready (always after the commit), wakes, retries and
cancels, lists executions as the JSON of `pipeline:list`, and runs the station's embedded
worker pool. Events go to the station's bus; a standalone worker's engine publishes them to
Redis instead (`events_bridge`).
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy.orm import Session

from app.config import Settings
from app.core_events import CoreEvent
from app.db.engine import Database, lost_a_conflict
from app.db.models import ExecutionState, PipelineExecution
from app.events import EventBus
from app.pipeline import scheduler
from app.pipeline.events_bridge import EventBridge, EventPublisher
from app.pipeline.read_model.listing import list_executions
from app.pipeline.registry import PipelineDefinition, get_pipeline
from app.pipeline.scheduler import NotFound, Report, RetryRefused
from app.pipeline.step_queue import StepQueue
from app.pipeline.worker import WorkerOptions, WorkerPool
from app.worker_id import new_worker_id

log = logging.getLogger(__name__)

CANCEL_ATTEMPTS = 5


class PipelineEngine:
    def __init__(self, *, db: Database, redis: aioredis.Redis, settings: Settings, bus: EventBus | None = None,
                 prefix: str | None = None, origin: str | None = None) -> None:
        self.db = db
        self.redis = redis
        self.settings = settings
        self.bus = bus
        self.prefix = prefix or settings.redis_prefix
        self.queue = StepQueue(redis, self.prefix)
        self.origin = origin or new_worker_id("engine")
        self.pool: WorkerPool | None = None
        self._publisher: EventPublisher | None = None
        self._bridge: EventBridge | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self, *, workers: int, worker_id: str | None = None, options: WorkerOptions | None = None,
                    bridge: bool = True, role: str = "station") -> None:
        """Start the worker pool (`workers` steps at once; 0 = none) and, with a bus, the bridge
        that brings remote workers' events to it; without a bus, events are published to Redis."""
        await self.queue.ensure_group()
        if self.bus is None:
            self._publisher = EventPublisher(self.redis, self.prefix, self.origin)
            self._publisher.start()
        elif bridge:
            self._bridge = EventBridge(self.redis, self.prefix, self.bus, self.origin)
            await self._bridge.start()
        if workers > 0:
            opts = options or WorkerOptions()
            opts.concurrency = workers
            self.pool = WorkerPool(db=self.db, queue=self.queue, settings=self.settings,
                                   worker_id=worker_id or new_worker_id(role), emit=self.emit,
                                   options=opts, role=role)
            await self.pool.start()

    async def stop(self) -> None:
        if self.pool is not None:
            await self.pool.stop()
            self.pool = None
        if self._bridge is not None:
            await self._bridge.stop()
            self._bridge = None
        if self._publisher is not None:
            await self._publisher.stop()
            self._publisher = None

    def count_workers(self) -> int:
        """Steps the live workers (this station's and remote ones) can run at once."""
        if self.pool is None:
            return 0
        return max(self.pool.live_workers, self.pool.options.concurrency)

    # -- events ---------------------------------------------------------------------------------
    def emit(self, event: CoreEvent) -> None:
        if self.bus is not None:
            self.bus.publish(event)
        elif self._publisher is not None:
            self._publisher(event)

    async def _announce(self, report: Report) -> None:
        await self.queue.announce(report, self.emit)

    # -- executions -----------------------------------------------------------------------------
    def create_execution(self, session: Session, pipeline: str | PipelineDefinition, **fields: Any) -> PipelineExecution:
        """In the caller's transaction: the execution and its static steps, nothing queued yet.
        After the commit, call `await enqueue_ready(execution.id)`."""
        definition = pipeline if isinstance(pipeline, PipelineDefinition) else get_pipeline(pipeline)
        execution = PipelineExecution(pipeline=definition.name, state=ExecutionState.PENDING.value, **fields)
        session.add(execution)
        session.flush()
        scheduler.create_steps(session, execution.id, definition.topological())
        return execution

    async def enqueue_ready(self, execution_id: int) -> int:
        """Queue every step of the execution whose dependencies are done; returns how many."""
        report = Report()

        def queue(session: Session) -> None:
            scheduler.queue_ready(session, execution_id, None, report)
            scheduler.settle_execution(session, execution_id, report)

        await self.db.run(queue)
        await self._announce(report)
        return len(report.queued)

    async def wake(self, execution_id: int, step_name: str | None = None, key: str | None = None) -> int:
        """Queue the execution's waiting steps (all, or those with that name/key) again.
        A matching step that is running right now runs once more after it returns `wait`."""
        report = Report()
        count = await self.db.run(lambda s: scheduler.wake(s, execution_id, step_name, key, report))
        await self._announce(report)
        return count

    async def retry(self, execution_id: int, step_id: int) -> list[int]:
        """Re-run a failed step and everything downstream of it (succeeded upstream steps are
        kept). Raises RetryRefused, with the reason, when the step is not failed."""
        report = Report()
        reset = await self.db.run(lambda s: scheduler.retry(s, execution_id, step_id, report))
        await self._announce(report)
        return reset

    async def retry_failed(self, execution_id: int) -> list[int]:
        """Re-run every failed step of the execution and what is downstream of them, in one
        transaction (all or none). Raises NotFound, or RetryRefused when no step failed."""
        report = Report()
        reset = await self.db.run(lambda s: scheduler.retry_failed(s, execution_id, report))
        await self._announce(report)
        return reset

    async def cancel(self, execution_id: int) -> int:
        """Cancel every unfinished step; a running one is stopped if it runs here, and its
        result is discarded wherever it runs."""
        for attempt in range(1, CANCEL_ATTEMPTS + 1):
            report = Report()
            try:
                count = await self.db.run(partial(scheduler.cancel, execution_id=execution_id, report=report))
                break
            except Exception as exc:
                # A cancel updates every step of the import at once; a step finishing at that
                # moment can deadlock with it on Postgres, which aborts one of the two: run it again.
                if attempt == CANCEL_ATTEMPTS or not lost_a_conflict(exc):
                    raise
                log.warning("cancelling execution %d lost a conflict with a running step; trying again", execution_id)
        if self.pool is not None:
            self.pool.cancel_execution(execution_id)
        await self._announce(report)
        return count

    async def list_executions(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest executions with their steps: the `pipeline:list` answer."""
        return await self.db.read(lambda s: list_executions(s, limit))


__all__ = ["NotFound", "PipelineEngine", "RetryRefused", "list_executions"]
