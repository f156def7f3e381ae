"""`WorkerPool`: one consumer of the step stream (the worker id) running up to `concurrency`
steps at once. Redis delivers step ids, SQL decides who runs what.

Claims and results are written in batches (one transaction for everything that is ready),
which keeps SQLite's single writer busy with useful work. The Redis side is `step_queue`,
running one step is `step_runner`, the housekeeping loops (heartbeat, reaper, reconciler,
delayed retries) are `janitor`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from app.config import Settings
from app.core_events import CoreEvent
from app.db.engine import Database
from app.pipeline import scheduler
from app.pipeline.janitor import Janitor, WorkerOptions, keep_running
from app.pipeline.scheduler import Claimed, Outcome, Report
from app.pipeline.step_queue import Delivery, Emit, StepQueue
from app.pipeline.step_runner import StepRunner

log = logging.getLogger(__name__)

# How long entries read ahead may wait for a slot here before going back to the stream.
READ_AHEAD_HOLD_S = 0.05
# While stopping, how often the pool looks whether the last results were written.
DRAIN_POLL_S = 0.01


@dataclass
class _Running:
    claimed: Claimed
    task: asyncio.Task[None] | None = None


class WorkerPool:
    """Runs steps delivered through the stream, `options.concurrency` at a time."""

    def __init__(self, *, db: Database, queue: StepQueue, settings: Settings, worker_id: str, emit: Emit,
                 options: WorkerOptions | None = None, role: str = "worker") -> None:
        self.db = db
        self.queue = queue
        self.worker_id = worker_id
        self.emit = emit
        self.options = options or WorkerOptions()
        self._running: dict[int, _Running] = {}
        self._free = asyncio.Event()
        self._free.set()
        self._finished: list[Outcome] = []
        self._inbox: list[Delivery] = []
        self._tick = asyncio.Event()
        self._cancelled: deque[int] = deque(maxlen=100)
        self._ticking = False
        self._tasks: list[asyncio.Task[None]] = []
        self._ticker: asyncio.Task[None] | None = None
        self._stopping = False
        self._threads: Executor = ThreadPoolExecutor(max_workers=max(2, self.options.concurrency),
                                                     thread_name_prefix="step")
        self._processes: ProcessPoolExecutor | None = None
        self.runner = StepRunner(db=db, settings=settings, worker_id=worker_id, emit=self._emit_from_step,
                                 threads=self._threads, processes=self._process_pool)
        self.janitor = Janitor(db=db, queue=queue, worker_id=worker_id, role=role, options=self.options,
                               running=lambda: len(self._running), take_over=self._take_over,
                               announce=self._announce)

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.queue.ensure_group()
        await self.janitor.beat()
        self._ticker = self._spawn(self._tick_loop)
        self._tasks = [self._spawn(loop) for loop in [self._read_loop, *self.janitor.loops()]]
        log.info("worker %s started (%d at a time)", self.worker_id, self.options.concurrency)

    def _spawn(self, loop: Any) -> asyncio.Task[None]:
        return asyncio.create_task(keep_running(loop, self.worker_id), name=f"{self.worker_id}:{loop.__name__}")

    async def stop(self) -> None:
        """Stop reading; give running steps `stop_grace_s` to finish, then cancel them; write the
        results and hand the steps still held back to the queue within `stop_drain_s`. Never
        longer: when the database or Redis is gone, what could not be written stays `running`
        under this worker's id, and the other workers' reapers take it back once its heartbeat
        has expired."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        running = [r.task for r in self._running.values() if r.task is not None]
        if running:
            _, pending = await asyncio.wait(running, timeout=self.options.stop_grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.stop_drain_s
        self._inbox.clear()
        await self._drain(deadline)
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        # Runs a tick claimed while the pool was stopping: handed back below with the rest.
        late = [r.task for r in self._running.values() if r.task is not None and not r.task.done()]
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        await self._hand_back_mine(deadline)
        self._threads.shutdown(wait=False, cancel_futures=True)
        if self._processes is not None:
            self._processes.shutdown(wait=False, cancel_futures=True)
        log.info("worker %s stopped", self.worker_id)

    async def _drain(self, deadline: float) -> None:
        """Let the ticker write the results that came in, until the deadline."""
        loop = asyncio.get_running_loop()
        while self._finished or self._ticking:
            if loop.time() >= deadline:
                log.warning("worker %s: %d result(s) not written before stopping (database unreachable?); "
                            "their steps are taken back by the other workers", self.worker_id, len(self._finished))
                return
            self._tick.set()
            await asyncio.sleep(DRAIN_POLL_S)

    async def _hand_back_mine(self, deadline: float) -> None:
        """Steps still `running` here go back to the queue; this worker's heartbeat is removed."""
        remaining = max(0.5, deadline - asyncio.get_running_loop().time())
        try:
            report = Report()
            await asyncio.wait_for(self.db.run(lambda s: _requeue_mine(s, self.worker_id, report)), remaining)
            await asyncio.wait_for(self.queue.send(report.queued), remaining)
        except Exception:  # stopping must finish even when Redis or the DB is gone
            log.exception("worker %s: could not hand its steps back", self.worker_id)
        try:
            await asyncio.wait_for(self.queue.forget_worker(self.worker_id), remaining)
        except Exception:
            log.exception("worker %s: could not remove its heartbeat", self.worker_id)

    # -- receiving and claiming ------------------------------------------------------------------
    async def _read_loop(self) -> None:
        """Read as many entries as there are free slots and hand them to the ticker."""
        while not self._stopping:
            # Read ahead by one pool's worth, so a tick can claim the next steps in the same
            # transaction that records the last ones.
            free = 2 * self.options.concurrency - len(self._running) - len(self._inbox)
            if free <= 0:
                self._free.clear()
                try:
                    await asyncio.wait_for(self._free.wait(), READ_AHEAD_HOLD_S)
                except TimeoutError:
                    await self._hand_back()
                continue
            deliveries = await self.queue.read(self.worker_id, free, self.options.read_block_ms)
            if deliveries:
                self._inbox.extend(deliveries)
                self._tick.set()

    async def _hand_back(self) -> None:
        """Read-ahead entries that could not start soon (every slot busy with long steps) go
        back to the stream for idle workers elsewhere."""
        if not self._inbox or len(self._running) < self.options.concurrency:
            return
        entries, self._inbox = self._inbox, []
        pairs = list(dict.fromkeys((d.step_id, d.attempt) for d in entries))
        await self.queue.send(pairs)
        await self.queue.ack([d.entry_id for d in entries])

    def _take_over(self, deliveries: Sequence[Delivery]) -> None:
        """Entries taken over from dead consumers join the next tick."""
        self._inbox.extend(deliveries)
        self._tick.set()

    async def _tick_loop(self) -> None:
        """One transaction per tick: record what finished, claim what arrived, and claim the
        steps those results made ready straight into the slots they freed (the in-process fast
        path: no round trip through Redis). Whatever does not fit here is sent to the stream."""
        while True:
            await self._tick.wait()
            self._tick.clear()
            outcomes, self._finished = self._finished, []
            room = self.options.concurrency - (len(self._running) - len(outcomes))
            deliveries, self._inbox = self._inbox[:max(0, room)], self._inbox[max(0, room):]
            if not outcomes and not deliveries:
                continue
            self._ticking = True
            try:
                await self._run_tick(outcomes, deliveries)
            finally:
                self._ticking = False

    async def _run_tick(self, outcomes: list[Outcome], deliveries: list[Delivery]) -> None:
        wanted = list(dict.fromkeys((d.step_id, d.attempt) for d in deliveries))
        room = self.options.concurrency - (len(self._running) - len(outcomes))
        fast_path = not self._stopping
        report = Report()

        def tick(session: Session) -> list[Claimed]:
            scheduler.finish(session, outcomes, report)
            direct: list[tuple[int, int]] = []
            spare = room - len(wanted)
            if fast_path and spare > 0 and report.queued:
                direct, report.queued = report.queued[:spare], report.queued[spare:]
            return scheduler.claim(session, wanted + direct, self.worker_id, self.options.max_deliveries, report)

        try:
            claimed = await self.db.run(tick)
        except Exception:
            # Nothing was written: the results wait for the next tick, the entries stay pending
            # (another worker's reaper takes them if this one never recovers).
            log.exception("worker %s: a tick failed (%d results, %d deliveries); trying again",
                          self.worker_id, len(outcomes), len(deliveries))
            self._finished = outcomes + self._finished
            self._inbox = deliveries + self._inbox
            await asyncio.sleep(1.0)
            self._tick.set()
            return
        for outcome in outcomes:
            self._running.pop(outcome.step_id, None)
        # Register the new runs before awaiting anything, so a cancel never misses one.
        for c in claimed:
            running = _Running(c)
            self._running[c.step_id] = running
            running.task = asyncio.create_task(self._run(c), name=f"step-{c.step_id}")
        if deliveries:
            await self.queue.ack([d.entry_id for d in deliveries], wanted)
        self._free.set()
        await self._announce(report)

    # -- running ---------------------------------------------------------------------------------
    async def _run(self, c: Claimed) -> None:
        try:
            if c.execution_id in self._cancelled:
                raise asyncio.CancelledError
            outcome = await self.runner.run(c)
        except asyncio.CancelledError:
            self._running.pop(c.step_id, None)
            self._free.set()
            raise
        self._finished.append(outcome)
        self._tick.set()

    def _emit_from_step(self, event: CoreEvent) -> None:
        self.emit(event)

    def _process_pool(self) -> Executor:
        if self._processes is None:
            self._processes = ProcessPoolExecutor(max_workers=max(1, self.options.concurrency))
        return self._processes

    async def _announce(self, report: Report) -> None:
        """After a commit: send what became ready, schedule retries, dead letters, events."""
        await self.queue.announce(report, self.emit)

    def cancel_execution(self, execution_id: int) -> None:
        """Stop this pool's running steps of a cancelled execution (their results would be discarded anyway)."""
        self._cancelled.append(execution_id)  # a claim committed before the cancel may still be on its way
        for running in list(self._running.values()):
            if running.claimed.execution_id == execution_id and running.task is not None:
                running.task.cancel()

    @property
    def running_count(self) -> int:
        return len(self._running)

    @property
    def live_workers(self) -> int:
        """Steps the live workers (this one and the others) can run at once."""
        return self.janitor.live_workers


def _requeue_mine(session: Session, worker_id: str, report: Report) -> int:
    return scheduler.requeue_dead_workers(session, [worker_id], report,
                                          reason=f"worker {worker_id} stopped; back in the queue")


__all__ = ["WorkerOptions", "WorkerPool"]
