"""The card's end, station side (PROTOCOL.md additions `status` and `wipe`).

After each change of a card's state (and each time the card is listed) the station tells the
Detector that holds it (`sd:card_status`, when it announced `status`) and the window and the
console (`card:status` on the bus). With `wipe_after_import` on, a card that became `complete`
is followed by one `sd:wipe_request` listing exactly its verified files (Detectors that
announced `wipe`); the answer, `sd:wipe_done`, is recorded, logged and announced (`card:wiped`).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import OrderedDict
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.core_events import (
    CardStatusChanged,
    CardWiped,
    CoreEvent,
    PipelineCancelled,
    PipelineCompleted,
    PipelineFailed,
    StepStarted,
)
from app.db.engine import Database
from app.db.models import CardWipe
from app.db.types import utcnow
from app.events import EventBus
from app.pipeline.card_state import COMPLETE, IMPORTING, CardStatus, card_status, wipe_entries
from app.pipeline.orchestrator import UnknownRequest

log = logging.getLogger(__name__)

MAX_REMEMBERED = 10_000  # executions whose last state is kept (to send only changes)


class AdditionSender(Protocol):
    def has_capability(self, detector_id: str, capability: str) -> bool: ...

    def send_addition(self, detector_id: str, capability: str, message: dict[str, Any]) -> bool: ...


class CardEnd:
    def __init__(self, *, settings: Settings, db: Database, bus: EventBus, link: AdditionSender) -> None:
        self.settings = settings
        self.db = db
        self.bus = bus
        self.link = link
        self._last: OrderedDict[int, CardStatus] = OrderedDict()
        self._locks: dict[int, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._unsubscribe = bus.subscribe(self._on_event)

    def close(self) -> None:
        self._unsubscribe()
        for task in self._tasks:
            task.cancel()

    # -- triggers -----------------------------------------------------------------------------
    def card_listed(self, execution_id: int) -> None:
        """A Detector listed the card: it hears where the card stands, changed or not."""
        self._schedule(execution_id, listed=True)

    def _on_event(self, event: CoreEvent) -> None:
        if isinstance(event, (PipelineCompleted, PipelineFailed, PipelineCancelled)):
            self._schedule(event.execution_id)
        elif isinstance(event, StepStarted):
            last = self._last.get(event.execution_id)
            if last is not None and last.state != IMPORTING:  # a step retried after the import ended
                self._schedule(event.execution_id)

    def _schedule(self, execution_id: int, *, listed: bool = False) -> None:
        task = asyncio.get_running_loop().create_task(self.refresh(execution_id, listed=listed))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("card status failed: %r", task.exception(), exc_info=task.exception())

    # -- the card's state ---------------------------------------------------------------------
    async def refresh(self, execution_id: int, *, listed: bool = False) -> CardStatus | None:
        """Compute the card's state; announce it when it changed, tell the Detector when it
        changed or the card was listed; ask for the wipe when it became complete."""
        lock = self._locks.setdefault(execution_id, asyncio.Lock())
        async with lock:  # one card's messages leave in the order of its changes
            status = await self.db.read(lambda s: card_status(s, execution_id, self.settings))
            if status is None:
                return None
            changed = self._last.get(execution_id) != status
            self._remember(execution_id, status)
            if changed:
                log.info("card %s (execution %d): %s, %d of %d files verified%s", status.card_id, execution_id,
                         status.state, status.files_verified, status.files_total,
                         "; safe to format" if status.safe_to_format else "")
                self.bus.publish(CardStatusChanged(**status.event_data()))
            if (changed or listed) and status.detector_id:
                self.link.send_addition(status.detector_id, "status",
                                        {"type": "sd:card_status", "data": status.message_data()})
            if changed and status.state == COMPLETE:
                await self._wipe(status)
        return status

    def _remember(self, execution_id: int, status: CardStatus) -> None:
        self._last[execution_id] = status
        self._last.move_to_end(execution_id)
        while len(self._last) > MAX_REMEMBERED:
            old, _ = self._last.popitem(last=False)
            self._locks.pop(old, None)

    # -- wipe ---------------------------------------------------------------------------------
    async def _wipe(self, status: CardStatus) -> None:
        if not self.settings.wipe_after_import or not status.detector_id:
            return
        if not self.link.has_capability(status.detector_id, "wipe"):
            log.info("card %s stays as it is: detector %s cannot wipe cards", status.card_id, status.detector_id)
            return

        def make(session: Session) -> tuple[str, list[dict[str, Any]]] | None:
            if session.scalar(select(CardWipe.request_id).where(CardWipe.execution_id == status.execution_id)):
                return None  # asked once per import
            entries = wipe_entries(session, status.execution_id, self.settings)  # complete, checked again here
            if not entries:
                return None
            request_id = f"w-{status.execution_id}-{secrets.token_hex(4)}"
            session.add(CardWipe(request_id=request_id, execution_id=status.execution_id, card_id=status.card_id,
                                 detector_id=status.detector_id, files=entries))
            return request_id, entries

        made = await self.db.run(make)
        if made is None:
            return
        request_id, entries = made
        sent = self.link.send_addition(status.detector_id, "wipe", {"type": "sd:wipe_request", "data": {
            "request_id": request_id, "card_id": status.card_id, "files": entries}})
        log.info("card %s: %s wipe of %d verified files (request %s)", status.card_id,
                 "asked for the" if sent else "detector gone; no", len(entries), request_id)

    async def wipe_done(self, detector_id: str, data: dict[str, Any]) -> None:
        """The Detector's answer to a `sd:wipe_request` this station sent it."""

        def record(session: Session) -> tuple[int, list[str]]:
            row = session.get(CardWipe, data["request_id"])
            if row is None or row.detector_id != detector_id or row.card_id != data["card_id"]:
                raise UnknownRequest(f"wipe request {data['request_id']!r} for card {data['card_id']!r} "
                                     "was never sent to this Detector")
            listed = {entry["path"] for entry in row.files}
            row.done_at, row.deleted, row.kept = utcnow(), list(data["deleted"]), list(data["kept"])
            return row.execution_id, sorted(set(data["deleted"]) - listed)

        execution_id, strays = await self.db.run(record)
        kept = data["kept"]
        log.info("card %s wiped by detector %s: %d files deleted, %d kept%s", data["card_id"], detector_id,
                 len(data["deleted"]), len(kept),
                 "".join(f"; kept {k['path']}: {k['reason']}" for k in kept[:20]))
        if strays:
            log.error("detector %s reports deleting files the station did not list: %s", detector_id, strays[:20])
        self.bus.publish(CardWiped(execution_id=execution_id, card_id=data["card_id"], detector_id=detector_id,
                                   request_id=data["request_id"], deleted=len(data["deleted"]), kept=kept))
