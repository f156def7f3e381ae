"""The station's bus as a Qt signal: views connect to `received` and never hold the bus."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from app.events import EventBus


class EventBridge(QObject):
    # The bus fans out on the event loop's thread, which qasync makes the Qt main thread,
    # so the signal is delivered directly: no queueing, no copies.
    received = Signal(object)

    def __init__(self, bus: EventBus, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._unsubscribe: Callable[[], None] | None = bus.subscribe(self.received.emit)

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
