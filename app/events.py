"""The in-process event bus: the window, the headless console and the WebSocket UI channel
are all subscribers of the same stream (event names and fields: docs/protocol.md)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    type: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_message(self) -> dict[str, Any]:
        return {"type": self.type, "data": self.data}


Subscriber = Callable[[Event], None]


def utc_timestamp() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class EventBus:
    """Synchronous fan-out on the event loop's thread; subscribers must not block."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber) if subscriber in self._subscribers else None

    def emit(self, type_: str, **data: Any) -> Event:
        data.setdefault("ts", utc_timestamp())
        return self.publish(Event(type_, data))

    def publish(self, event: Event) -> Event:
        for subscriber in list(self._subscribers):
            try:
                subscriber(event)
            except Exception:  # one broken view must not silence the others
                log.exception("event subscriber %r failed on %s", subscriber, event.type)
        return event
