"""The Redis side of the step queue (every key under one prefix; SQL stays the truth).

- `{prefix}:steps`: the stream of (step id, attempt) and its consumer group `workers`;
- `{prefix}:steps:sent`: the steps sent and not yet claimed, so the reconciler can tell which
  queued steps Redis lost;
- `{prefix}:steps:delayed`: a sorted set of automatic retries by due time;
- `{prefix}:steps:dead`: the dead-letter stream;
- `{prefix}:workers` and `{prefix}:worker:<id>`: worker heartbeats.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import redis
import redis.asyncio as aioredis

from app.core_events import CoreEvent
from app.pipeline.scheduler import Report

log = logging.getLogger(__name__)

GROUP = "workers"
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
        due = cast(list[bytes], await self.redis.zrangebyscore(self.delayed, "-inf", time.time(), start=0, num=500))
        moved: list[tuple[int, int]] = []
        for member in due:
            if await self.redis.zrem(self.delayed, member):
                step, _, attempt = member.decode().partition(":")
                moved.append((int(step), int(attempt)))
        await self.send(moved)
        return len(moved)

    async def read(self, consumer: str, count: int, block_ms: int) -> list[Delivery]:
        try:
            reply: Any = await self.redis.xreadgroup(GROUP, consumer, {self.stream: ">"}, count=count, block=block_ms)
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
        known = cast(dict[bytes, bytes], await self.redis.hgetall(self.workers))
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


__all__ = ["GROUP", "Delivery", "Emit", "StepQueue"]
