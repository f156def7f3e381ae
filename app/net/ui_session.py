"""One UI client on `/ui`: every bus event out, `pipeline:list|retry|cancel` and the passenger
requests (`passengers:list`, `passenger:move_clip`, `passenger:rerender`) in."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from websockets.asyncio.server import ServerConnection

from app.core_events import CoreEvent
from app.net.connection import Connection
from app.net.context import NetContext
from app.net.protocol import (
    BAD_MESSAGE,
    DEFAULT_LIST_LIMIT,
    Message,
    ProtocolError,
    Role,
    envelope,
)

log = logging.getLogger(__name__)

# A UI client that stops reading loses events beyond this many (or this many bytes) queued,
# never blocks the station; its own answers still fit under the connection's byte cap.
MAX_QUEUED_EVENTS = 10_000
MAX_QUEUED_EVENT_BYTES = 8 * 1024 * 1024


class UiSession(Connection):
    role = Role.UI

    def __init__(self, service: NetContext, ws: ServerConnection) -> None:
        super().__init__(service, ws)
        self._unsubscribe: Callable[[], None] | None = None
        self._dropped = 0

    async def on_hello(self, hello: Message) -> None:
        # Subscribed synchronously right after the welcome was queued: no event falls between them.
        self._unsubscribe = self.service.bus.subscribe(self._event)
        log.info("ui client %s connected", self.peer)

    def _event(self, event: CoreEvent) -> None:
        if self.outbox_size() >= MAX_QUEUED_EVENTS or self.outbox_bytes() >= MAX_QUEUED_EVENT_BYTES:
            self._dropped += 1
            if self._dropped in (1, 1000):
                log.warning("ui client %s is not reading; dropping events", self.peer)
            return
        for wire in event.ui_messages():
            self.send(wire)

    async def on_closed(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    async def on_message(self, message: Message) -> None:
        data = message.data
        result: dict[str, Any]
        if message.type == "pipeline:list":
            result = {"executions": await self.service.list_executions(data["limit"] or DEFAULT_LIST_LIMIT)}
        elif message.type == "pipeline:retry":
            reset = await self.service.call_engine("retry", lambda e: e.retry(data["execution_id"], data["step_id"]))
            result = {"execution_id": data["execution_id"], "step_id": data["step_id"], "reset_step_ids": list(reset)}
        elif message.type == "pipeline:retry_failed":
            reset = await self.service.call_engine("retry_failed", lambda e: e.retry_failed(data["execution_id"]))
            result = {"execution_id": data["execution_id"], "reset_step_ids": list(reset)}
        elif message.type == "pipeline:cancel":
            cancelled = await self.service.call_engine("cancel", lambda e: e.cancel(data["execution_id"]))
            result = {"execution_id": data["execution_id"], "cancelled_steps": cancelled}
        elif message.type == "passengers:list":
            result = await self.service.call_orchestrator("passengers", lambda o: o.passengers(data["day"]))
        elif message.type == "passenger:move_clip":
            result = await self.service.call_orchestrator(
                "move_clip", lambda o: o.move_clip(data["file_id"], data["passenger_id"]))
        elif message.type == "passenger:rerender":
            execution_id = await self.service.call_orchestrator(
                "rerender", lambda o: o.rerender(data["passenger_id"]))
            result = {"passenger_id": data["passenger_id"], "execution_id": execution_id}
        else:  # pragma: no cover - the machine admits only the types above
            raise ProtocolError(BAD_MESSAGE, f"unexpected {message.type}")
        # Refusals (app/net/errors.py) and failures are answered by Connection with this id as `ref`.
        self.send(envelope(f"{message.type}_result", result, message.id))

