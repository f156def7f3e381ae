"""What keeps the shared queue healthy, run by every process that runs a worker pool:

- heartbeat: this worker's key with a TTL, and the count of steps the live workers can run;
- reaper: entries read by consumers that never claimed them (XAUTOCLAIM) join this pool, and
  steps left `running` by workers whose heartbeat stopped go back to the queue;
- reconciler: queued steps Redis has no record of sending (it restarted and lost its last
  writes) are sent again;
- retries: delayed automatic retries whose time has come move into the stream.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from app.db.engine import Database
from app.db.types import utcnow
from app.pipeline import scheduler
from app.pipeline.scheduler import Report
from app.pipeline.step_queue import Delivery, StepQueue

log = logging.getLogger(__name__)

MOVE_DUE_EVERY_S = 0.2


@dataclass
class WorkerOptions:
    concurrency: int = 2
    heartbeat_s: float = 2.0
    heartbeat_ttl_s: float = 10.0
    reap_every_s: float = 2.0
    reconcile_every_s: float = 5.0
    reconcile_after_s: float = 5.0
    autoclaim_idle_s: float = 15.0
    max_deliveries: int = 5
    read_block_ms: int = 1000
    stop_grace_s: float = 5.0  # running steps may finish within this when the pool stops
    stop_drain_s: float = 5.0  # then results are written and the rest handed back within this


async def keep_running(loop: Callable[[], Coroutine[Any, Any, None]], owner: str) -> None:
    """Keep a loop alive through Redis/DB hiccups; it only ends when cancelled (or returns)."""
    while True:
        try:
            await loop()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("worker %s: %s failed; restarting it in 1 s", owner, loop.__name__)
            await asyncio.sleep(1.0)


class Janitor:
    """The pool's housekeeping loops. `free_slots()` says how many steps the pool could start
    now; `take_over(deliveries)` hands it entries of dead consumers; `announce(report)` acts
    on a committed report."""

    def __init__(self, *, db: Database, queue: StepQueue, worker_id: str, role: str, options: WorkerOptions,
                 running: Callable[[], int], take_over: Callable[[Sequence[Delivery]], None],
                 announce: Callable[[Report], Awaitable[None]]) -> None:
        self.db = db
        self.queue = queue
        self.worker_id = worker_id
        self.role = role
        self.options = options
        self.running = running
        self.take_over = take_over
        self.announce = announce
        self.live_workers = 0  # steps the live workers can run at once (their concurrency summed)
        self._suspects: dict[str, float] = {}  # worker id -> when its heartbeat was first missed

    def loops(self) -> list[Callable[[], Coroutine[Any, Any, None]]]:
        return [self._heartbeat_loop, self._reap_loop, self._reconcile_loop, self._delayed_loop]

    async def beat(self) -> None:
        await self.queue.heartbeat(self.worker_id, {"role": self.role, "concurrency": self.options.concurrency,
                                                    "running": self.running()}, self.options.heartbeat_ttl_s)

    async def _heartbeat_loop(self) -> None:
        while True:
            await self.beat()
            live = await self.queue.live_workers()
            self.live_workers = sum(int(info.get("concurrency", 1)) for info in live.values())
            await asyncio.sleep(self.options.heartbeat_s)

    async def _reap_loop(self) -> None:
        while True:
            await asyncio.sleep(self.options.reap_every_s)
            await self.reap_once()

    async def reap_once(self) -> int:
        """Take over steps of dead workers: entries read and never claimed (XAUTOCLAIM) and steps
        left `running` by a worker whose heartbeat stopped. A worker counts as dead only when it
        was missing at two checks a heartbeat apart (a Redis restart must not look like a death)."""
        free = self.options.concurrency - self.running()
        if free > 0:
            orphans = await self.queue.autoclaim(self.worker_id, int(self.options.autoclaim_idle_s * 1000), free)
            if orphans:
                self.take_over(orphans)
        dead = await self._dead_workers()
        if not dead:
            return 0
        report = Report()
        count = await self.db.run(lambda s: scheduler.requeue_dead_workers(s, dead, report))
        for worker in dead:
            self._suspects.pop(worker, None)
        if count:
            log.warning("worker %s took back %d step(s) of dead worker(s) %s", self.worker_id, count, ", ".join(dead))
        await self.announce(report)
        return count

    async def _dead_workers(self) -> list[str]:
        owners = [w for w in await self.db.run(scheduler.running_workers) if w != self.worker_id]
        alive = await self.queue.is_alive(owners)
        now = time.monotonic()
        dead = []
        for worker, is_alive in alive.items():
            if is_alive:
                self._suspects.pop(worker, None)
                continue
            first_seen = self._suspects.setdefault(worker, now)
            if now - first_seen >= self.options.heartbeat_s:
                dead.append(worker)
        return dead

    async def _reconcile_loop(self) -> None:
        while True:
            await asyncio.sleep(self.options.reconcile_every_s)
            await self.reconcile_once()

    async def reconcile_once(self) -> int:
        """Queued steps that Redis has no record of (it restarted and lost its last writes) are sent again."""
        await self.queue.ensure_group()
        cutoff = utcnow() - timedelta(seconds=self.options.reconcile_after_s)
        stale = await self.db.run(lambda s: scheduler.stale_queued(s, cutoff))
        lost = await self.queue.unsent(stale)
        if lost:
            log.warning("re-sending %d queued step(s) Redis lost", len(lost))
            await self.queue.send(lost)
        return len(lost)

    async def _delayed_loop(self) -> None:
        while True:
            await self.queue.move_due()
            await asyncio.sleep(MOVE_DUE_EVERY_S)


__all__ = ["Janitor", "WorkerOptions", "keep_running"]
