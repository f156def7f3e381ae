"""Workers: Redis Streams deliver step ids, SQL decides who runs what.

- `StepQueue`: the `{prefix}:steps` stream and its consumer group, a hash of the steps sent
  and not yet claimed (so the reconciler can tell which queued steps Redis lost), a sorted
  set of delayed retries, the dead-letter stream and worker heartbeats.
- `WorkerPool`: one consumer (the worker id) running up to `concurrency` steps at once.
  Claims and results are written in batches (one transaction for everything that is ready),
  which keeps SQLite's single writer busy with useful work. Every process that runs a pool
  also reaps (steps of workers whose heartbeat stopped are queued again), reconciles (queued
  steps Redis lost are sent again) and moves due retries into the stream.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import traceback
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis
import redis.asyncio as aioredis

from app.config import Settings
from app.core_events import CoreEvent
from app.db.engine import Database
from app.db.types import utcnow
from app.pipeline import scheduler
from app.pipeline.base import BaseStep, StepContext, StepLog, StepResult, StepStatus
from app.pipeline.registry import PipelineDefinitionError, UnknownStep, check_new_steps, get_step
from app.pipeline.scheduler import Claimed, Outcome, Report

log = logging.getLogger(__name__)

GROUP = "workers"
# How long entries read ahead may wait for a slot here before going back to the stream.
READ_AHEAD_HOLD_S = 0.05
Emit = Callable[[CoreEvent], None]

# Deletes a "sent, not claimed" mark only when it is for the same attempt (a newer attempt's
# mark must survive a stale duplicate being dropped).
_UNMARK = """
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then redis.call('HDEL', KEYS[1], ARGV[i]) end
end
return 1
"""


@dataclass(frozen=True)
class Delivery:
    entry_id: bytes
    step_id: int
    attempt: int


class StepQueue:
    """The Redis side of the queue (keys under `prefix`)."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self.redis = client
        self.prefix = prefix
        self.stream = f"{prefix}:steps"
        self.dead = f"{prefix}:steps:dead"
        self.marks = f"{prefix}:steps:sent"
        self.delayed = f"{prefix}:steps:delayed"
        self.workers = f"{prefix}:workers"

    def heartbeat_key(self, worker_id: str) -> str:
        return f"{self.prefix}:worker:{worker_id}"

    async def announce(self, report: Report, emit: Emit) -> None:
        """After a commit: send what became ready, schedule retries, dead letters, events."""
        await self.send(report.queued)
        await self.send_later(report.delayed)
        await self.dead_letter(report.dead)
        for event in report.events:
            emit(event)

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def send(self, pairs: Sequence[tuple[int, int]]) -> None:
        """Enqueue (step_id, attempt) pairs; call only after the transaction that queued them committed."""
        if not pairs:
            return
        pipe = self.redis.pipeline(transaction=False)
        for step_id, attempt in pairs:
            pipe.xadd(self.stream, {"step": step_id, "attempt": attempt}, maxlen=200_000, approximate=True)
        pipe.hset(self.marks, mapping={str(s): str(a) for s, a in pairs})
        await pipe.execute()

    async def send_later(self, items: Sequence[tuple[int, int, datetime]]) -> None:
        if items:
            await self.redis.zadd(self.delayed, {f"{s}:{a}": due.timestamp() for s, a, due in items})

    async def move_due(self) -> int:
        """Send delayed retries whose time has come (each by exactly one mover: ZREM decides)."""
        due = await self.redis.zrangebyscore(self.delayed, "-inf", time.time(), start=0, num=500)
        moved: list[tuple[int, int]] = []
        for member in due:
            if await self.redis.zrem(self.delayed, member):
                step, _, attempt = member.decode().partition(":")
                moved.append((int(step), int(attempt)))
        await self.send(moved)
        return len(moved)

    async def read(self, consumer: str, count: int, block_ms: int) -> list[Delivery]:
        try:
            reply = await self.redis.xreadgroup(GROUP, consumer, {self.stream: ">"}, count=count, block=block_ms)
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self.ensure_group()  # Redis lost the stream (restart without its last writes)
            return []
        return await self._parse([entry for _, entries in reply or [] for entry in entries])

    async def autoclaim(self, consumer: str, min_idle_ms: int, count: int) -> list[Delivery]:
        """Entries read by consumers that never claimed them (died in between)."""
        try:
            reply = await self.redis.xautoclaim(self.stream, GROUP, consumer, min_idle_ms, "0-0", count=count)
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self.ensure_group()
            return []
        return await self._parse([entry for entry in reply[1] if entry and entry[1]])

    async def _parse(self, entries: list[Any]) -> list[Delivery]:
        out: list[Delivery] = []
        garbage: list[bytes] = []
        for entry_id, fields in entries:
            try:
                out.append(Delivery(entry_id, int(fields[b"step"]), int(fields[b"attempt"])))
            except (KeyError, ValueError, TypeError):
                log.warning("dropping a malformed entry %r on %s: %r", entry_id, self.stream, fields)
                garbage.append(entry_id)
        if garbage:
            await self.ack(garbage)
        return out

    async def ack(self, entry_ids: Sequence[bytes], done: Sequence[tuple[int, int]] = ()) -> None:
        pipe = self.redis.pipeline(transaction=False)
        if entry_ids:
            pipe.xack(self.stream, GROUP, *entry_ids)
        if done:
            pipe.eval(_UNMARK, 1, self.marks, *[str(v) for pair in done for v in pair])
        await pipe.execute()

    async def unsent(self, pairs: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
        """The queued steps Redis has no record of sending (lost, or sent for another attempt)."""
        if not pairs:
            return []
        marks = await self.redis.hmget(self.marks, [str(s) for s, _ in pairs])
        return [(s, a) for (s, a), mark in zip(pairs, marks, strict=True) if mark is None or int(mark) != a]

    async def dead_letter(self, items: Sequence[tuple[int, int, str]]) -> None:
        for step_id, attempt, reason in items:
            await self.redis.xadd(self.dead, {"step": step_id, "attempt": attempt, "reason": reason},
                                  maxlen=10_000, approximate=True)

    async def heartbeat(self, worker_id: str, info: Mapping[str, Any], ttl_s: float) -> None:
        payload = json.dumps({**info, "seen": time.time()})
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(self.heartbeat_key(worker_id), payload, px=int(ttl_s * 1000))
        pipe.hset(self.workers, worker_id, payload)
        await pipe.execute()

    async def forget_worker(self, worker_id: str) -> None:
        await self.redis.delete(self.heartbeat_key(worker_id))
        await self.redis.hdel(self.workers, worker_id)

    async def live_workers(self) -> dict[str, dict[str, Any]]:
        """Workers whose heartbeat has not expired (the stale ones are dropped from the list)."""
        known = await self.redis.hgetall(self.workers)
        if not known:
            return {}
        names = [name.decode() for name in known]
        alive = await self.redis.mget([self.heartbeat_key(name) for name in names])
        live: dict[str, dict[str, Any]] = {}
        for name, payload in zip(names, alive, strict=True):
            if payload is None:
                await self.redis.hdel(self.workers, name)
            else:
                live[name] = json.loads(payload)
        return live

    async def is_alive(self, worker_ids: Sequence[str]) -> dict[str, bool]:
        if not worker_ids:
            return {}
        alive = await self.redis.mget([self.heartbeat_key(w) for w in worker_ids])
        return {w: a is not None for w, a in zip(worker_ids, alive, strict=True)}


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
    stop_grace_s: float = 5.0


@dataclass
class _Running:
    claimed: Claimed
    task: asyncio.Task[None] | None = None


class WorkerPool:
    """Runs steps delivered through the stream, `options.concurrency` at a time."""

    def __init__(self, *, db: Database, queue: StepQueue, settings: Settings, worker_id: str, emit: Emit,
                 services: Mapping[str, Any] | None = None, options: WorkerOptions | None = None,
                 role: str = "worker") -> None:
        self.db = db
        self.queue = queue
        self.settings = settings
        self.worker_id = worker_id
        self.emit = emit
        self.services = services if services is not None else {}
        self.options = options or WorkerOptions()
        self.role = role
        self.live_workers = 0
        self._running: dict[int, _Running] = {}
        self._free = asyncio.Event()
        self._free.set()
        self._finished: list[Outcome] = []
        self._inbox: list[Delivery] = []
        self._tick = asyncio.Event()
        self._cancelled: deque[int] = deque(maxlen=100)
        self._ticking = False
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._threads: Executor = ThreadPoolExecutor(max_workers=max(2, self.options.concurrency),
                                                     thread_name_prefix="step")
        self._processes: ProcessPoolExecutor | None = None
        self._suspects: dict[str, float] = {}

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.queue.ensure_group()
        await self._beat()
        loops = [self._read_loop, self._tick_loop, self._heartbeat_loop, self._reap_loop, self._reconcile_loop,
                 self._delayed_loop]
        self._tasks = [asyncio.create_task(self._guard(loop), name=f"{self.worker_id}:{loop.__name__}")
                       for loop in loops]
        log.info("worker %s started (%d at a time)", self.worker_id, self.options.concurrency)

    async def stop(self) -> None:
        """Stop reading, give running steps a grace period, then put the rest back in the queue."""
        self._stopping = True
        for task in self._tasks:
            if not task.get_name().endswith("_tick_loop"):
                task.cancel()
        running = [r.task for r in self._running.values() if r.task is not None]
        if running:
            _, pending = await asyncio.wait(running, timeout=self.options.stop_grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        # Let the ticker write what finished, then stop it.
        self._inbox.clear()
        while self._finished or self._ticking:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            report = Report()
            await self.db.run(lambda s: _requeue_mine(s, self.worker_id, report))
            await self.queue.send(report.queued)
            await self.queue.forget_worker(self.worker_id)
        except Exception:  # stopping must finish even when Redis or the DB is gone
            log.exception("worker %s: could not hand its steps back", self.worker_id)
        self._threads.shutdown(wait=False, cancel_futures=True)
        if self._processes is not None:
            self._processes.shutdown(wait=False, cancel_futures=True)
        log.info("worker %s stopped", self.worker_id)

    async def _guard(self, loop: Callable[[], Any]) -> None:
        """Keep a loop alive through Redis/DB hiccups; it only ends when cancelled."""
        while True:
            try:
                await loop()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("worker %s: %s failed; restarting it in 1 s", self.worker_id, loop.__name__)
                await asyncio.sleep(1.0)

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

        def tick(session) -> list[Claimed]:
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

    async def _claim(self, deliveries: Sequence[Delivery]) -> None:
        """Entries taken over from dead consumers join the next tick."""
        self._inbox.extend(deliveries)
        self._tick.set()

    # -- running ---------------------------------------------------------------------------------
    async def _run(self, c: Claimed) -> None:
        try:
            if c.execution_id in self._cancelled:
                raise asyncio.CancelledError
            outcome = await self.execute(c)
        except asyncio.CancelledError:
            self._running.pop(c.step_id, None)
            self._free.set()
            raise
        self._finished.append(outcome)
        self._tick.set()

    async def execute(self, c: Claimed) -> Outcome:
        """Run one claimed step and turn whatever happens into an Outcome (never raises)."""
        step_log = StepLog(c.name)
        ctx: StepContext | None = None

        def failed(error: str, exc: BaseException | None = None) -> Outcome:
            step_log.error(error)
            if exc is not None:
                step_log.error("".join(traceback.format_exception(exc)).rstrip())
            progress = (ctx.progress_done, ctx.progress_total) if ctx else (0, 0)
            return Outcome(c.step_id, c.attempt, self.worker_id, StepStatus.FAILED, error=error,
                           logs=step_log.take(), progress=progress)

        try:
            step_class = get_step(c.name)
        except UnknownStep as exc:
            return failed(f"{exc}; is this worker's version the station's?")
        step: BaseStep = step_class()
        ctx = StepContext(
            execution_id=c.execution_id, step_id=c.step_id, name=c.name, key=c.key, attempt=c.attempt,
            params=c.params, inputs=c.inputs, db=self.db, settings=self.settings, log=step_log,
            services=self.services, _emit=self._emit_from_step, _thread_pool=self._threads,
            _process_pool=self._process_pool,
        )
        timeout = step_class.timeout_s
        try:
            result = await asyncio.wait_for(step.run(ctx), timeout=timeout)
        except asyncio.CancelledError:
            raise
        except TimeoutError as exc:
            error = f"timed out after {timeout:g} s"
            if step_class.retry.retryable(TimeoutError()):
                return self._retry(c, step_class, ctx, error, exc)
            return failed(error)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            if step_class.retry.retryable(exc):
                return self._retry(c, step_class, ctx, error, exc)
            return failed(error, exc)
        problem = _check_result(result)
        if problem:
            return failed(f"returned garbage: {problem}")
        return Outcome(c.step_id, c.attempt, self.worker_id, result.status, output=result.output,
                       error=result.error, reason=result.reason, spawn=result.spawn, logs=step_log.take(),
                       progress=(ctx.progress_done, ctx.progress_total))

    def _retry(self, c: Claimed, step_class: type[BaseStep], ctx: StepContext, error: str,
               exc: BaseException) -> Outcome:
        ctx.log.warning("%s (attempt %d)", error, c.attempt)
        return Outcome(c.step_id, c.attempt, self.worker_id, "retry", error=error, logs=ctx.log.take(),
                       progress=(ctx.progress_done, ctx.progress_total), retry_policy=step_class.retry)

    def _emit_from_step(self, event: CoreEvent) -> None:
        self.emit(event)

    def _process_pool(self) -> Executor:
        if self._processes is None:
            self._processes = ProcessPoolExecutor(max_workers=max(1, self.options.concurrency))
        return self._processes

    # -- after a commit ---------------------------------------------------------------------------
    async def _announce(self, report: Report) -> None:
        await self.queue.announce(report, self.emit)

    # -- keeping the pool healthy -----------------------------------------------------------------
    async def _beat(self) -> None:
        await self.queue.heartbeat(self.worker_id, {"role": self.role, "concurrency": self.options.concurrency,
                                                    "running": len(self._running)}, self.options.heartbeat_ttl_s)

    async def _heartbeat_loop(self) -> None:
        while True:
            await self._beat()
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
        free = self.options.concurrency - len(self._running)
        if free > 0:
            orphans = await self.queue.autoclaim(self.worker_id, int(self.options.autoclaim_idle_s * 1000), free)
            if orphans:
                await self._claim(orphans)
        owners = await self.db.run(scheduler.running_workers)
        owners = [w for w in owners if w != self.worker_id]
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
        if not dead:
            return 0
        report = Report()
        count = await self.db.run(lambda s: scheduler.requeue_dead_workers(s, dead, report))
        for worker in dead:
            self._suspects.pop(worker, None)
        if count:
            log.warning("worker %s took back %d step(s) of dead worker(s) %s", self.worker_id, count, ", ".join(dead))
        await self._announce(report)
        return count

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
            await asyncio.sleep(0.2)

    def cancel_execution(self, execution_id: int) -> None:
        """Stop this pool's running steps of a cancelled execution (their results would be discarded anyway)."""
        self._cancelled.append(execution_id)  # a claim committed before the cancel may still be on its way
        for running in list(self._running.values()):
            if running.claimed.execution_id == execution_id and running.task is not None:
                running.task.cancel()

    @property
    def running_count(self) -> int:
        return len(self._running)


def _requeue_mine(session, worker_id: str, report: Report) -> int:
    return scheduler.requeue_dead_workers(session, [worker_id], report,
                                          reason=f"worker {worker_id} stopped; back in the queue")


def _check_result(result: Any) -> str | None:
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


__all__ = ["Delivery", "StepQueue", "WorkerOptions", "WorkerPool", "GROUP"]
