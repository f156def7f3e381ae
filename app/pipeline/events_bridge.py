"""Events of workers on other machines reach the station's bus through Redis pub/sub.

A standalone worker publishes every event on `{prefix}:events` (tagged with its origin); the
station subscribes and re-emits them on its own bus. The station's embedded workers emit
straight on the bus and never publish, and the bridge drops anything tagged with the
station's own origin, so no event is seen twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import redis
import redis.asyncio as aioredis

from app.core_events import CoreEvent, from_wire
from app.events import EventBus

log = logging.getLogger(__name__)

MAX_QUEUED = 10_000


def channel(prefix: str) -> str:
    return f"{prefix}:events"


class EventPublisher:
    """`publisher(event)`: queue an event for Redis (its wire form); sent in order by one task."""

    def __init__(self, client: aioredis.Redis, prefix: str, origin: str) -> None:
        self.redis = client
        self.channel = channel(prefix)
        self.origin = origin
        self._queue: asyncio.Queue[str] = asyncio.Queue(MAX_QUEUED)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._send_loop(), name="event-publisher")

    def __call__(self, event: CoreEvent) -> None:
        message = json.dumps({"origin": self.origin, **event.to_message()}, default=str)
        if self._queue.full():
            self._queue.get_nowait()  # a Redis outage must not grow memory without bound
        self._queue.put_nowait(message)

    async def _send_loop(self) -> None:
        while True:
            message = await self._queue.get()
            try:
                await self.redis.publish(self.channel, message)
            except (redis.RedisError, OSError) as exc:
                log.warning("cannot publish an event to Redis: %s", exc)
                await asyncio.sleep(1.0)

    async def stop(self, flush_s: float = 2.0) -> None:
        deadline = asyncio.get_running_loop().time() + flush_s
        while not self._queue.empty() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


class EventBridge:
    """In the station: events published by remote workers → the local bus."""

    def __init__(self, client: aioredis.Redis, prefix: str, bus: EventBus, origin: str) -> None:
        self.redis = client
        self.channel = channel(prefix)
        self.bus = bus
        self.origin = origin
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen_forever(), name="event-bridge")
        try:
            await asyncio.wait_for(self._subscribed.wait(), 5.0)
        except TimeoutError:
            log.warning("event bridge: not subscribed yet; remote workers' events will arrive once it is")

    async def _listen_forever(self) -> None:
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except (redis.RedisError, OSError) as exc:
                log.warning("event bridge lost Redis (%s); reconnecting", exc)
                await asyncio.sleep(1.0)

    async def _listen(self) -> None:
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self.channel)
            self._subscribed.set()
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message is not None:
                    self._deliver(message.get("data"))
        finally:
            await pubsub.aclose()

    def _deliver(self, raw: Any) -> None:
        try:
            message = json.loads(raw)
            type_, data, origin = message["type"], message["data"], message.get("origin")
            if not isinstance(type_, str) or not isinstance(data, dict):
                raise ValueError("type must be a string and data an object")
            if origin == self.origin:
                return
            event = from_wire(type_, data)  # keeps the worker's `ts`
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("event bridge: ignoring a malformed message (%s)", exc)
            return
        self.bus.publish(event)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
