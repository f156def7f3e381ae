"""The in-process event bus: the window, the headless console and the WebSocket UI channel
are all subscribers of the same stream of typed events (app/core_events.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.core_events import CoreEvent, utc_timestamp

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """An event as plain wire data (a view's re-labelled copy, a test's input); the bus carries
    `CoreEvent`s, which read the same (`.type`, `.data`)."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_message(self) -> dict[str, Any]:
        return {"type": self.type, "data": self.data}


Subscriber = Callable[[CoreEvent], None]

__all__ = ["CoreEvent", "Event", "EventBus", "Subscriber", "utc_timestamp"]


class EventBus:
    """Synchronous fan-out on the event loop's thread; subscribers must not block."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber) if subscriber in self._subscribers else None

    def publish(self, event: CoreEvent) -> CoreEvent:
        for subscriber in list(self._subscribers):
            try:
                subscriber(event)
            except Exception:  # one broken view must not silence the others
                log.exception("event subscriber %r failed on %s", subscriber, event.type)
        return event
