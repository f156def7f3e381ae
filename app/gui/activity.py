"""Telling the crew without them looking: a tray message when a passenger's video is ready,
and the window title showing what runs while the window is minimised."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QSystemTrayIcon, QWidget

from app.events import Event
from app.gui.imports_model import ImportsModel
from app.gui.resources import icon

APP_TITLE = "Ingest Station"


def passenger_name(jump: dict[str, Any]) -> str:
    passenger = jump.get("passenger")
    if isinstance(passenger, dict):
        return str(passenger.get("passenger_name") or passenger.get("booking_id") or "A passenger")
    if isinstance(passenger, str) and passenger:
        return passenger
    return str(jump.get("passenger_name") or "A passenger")


def card_message(event: Event) -> str | None:
    """`card:status`: a line when the card may go back into its camera (or must not be formatted)."""
    data = event.data
    if event.type != "card:status":
        return None
    card = str(data.get("card_id") or "The card")
    if data.get("safe_to_format"):
        return f"Card {card} is safe to format: all {data.get('files_total', 0)} files verified in the library"
    if data.get("state") == "incomplete":
        return f"Card {card} is incomplete: do not format it"
    return None


def ready_messages(event: Event) -> list[str]:
    """`pipeline:completed` -> one line per passenger whose video is ready."""
    jumps = event.data.get("jumps") or []
    return [f"{passenger_name(jump)}'s video is ready" for jump in jumps
            if isinstance(jump, dict) and jump.get("passenger")]


class ActivityNotifier(QObject):
    def __init__(self, window: QWidget, model: ImportsModel, station_name: str) -> None:
        super().__init__(window)
        self.window = window
        self.model = model
        self.station_name = station_name
        self.sent: list[str] = []  # every notification, newest last (shown in the tray when there is one)
        self._ready_since_minimised = 0
        self.tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = QSystemTrayIcon(icon("app"), self)
            self.tray.setToolTip(APP_TITLE)
            self.tray.activated.connect(lambda _reason: (window.showNormal(), window.activateWindow()))
            self.tray.show()
        model.activity_changed.connect(self.refresh_title)

    def handle_event(self, event: Event) -> None:
        card_text = card_message(event)
        if card_text is not None:
            self.sent.append(card_text)
            if self.tray is not None:
                self.tray.showMessage(APP_TITLE, card_text, icon("app"), 8000)
            return
        if event.type != "pipeline:completed":
            return
        for text in ready_messages(event):
            self.sent.append(text)
            if self.window.isMinimized():
                self._ready_since_minimised += 1
            if self.tray is not None:
                self.tray.showMessage(APP_TITLE, text, icon("app"), 8000)
        self.refresh_title()

    def window_state_changed(self) -> None:
        if not self.window.isMinimized():
            self._ready_since_minimised = 0
        self.refresh_title()

    def title(self) -> str:
        base = f"{APP_TITLE} — {self.station_name}" if self.station_name else APP_TITLE
        if not self.window.isMinimized():
            return base
        running = self.model.running_steps()
        active = len(self.model.active_executions())
        parts = []
        if active:
            parts.append(f"▶ {active} importing" + (f", {running} running" if running else ""))
        if self._ready_since_minimised:
            parts.append(f"✓ {self._ready_since_minimised} ready")
        return f"({' · '.join(parts)}) {base}" if parts else base

    def refresh_title(self) -> None:
        title = self.title()
        if self.window.windowTitle() != title:
            self.window.setWindowTitle(title)

    def close(self) -> None:
        if self.tray is not None:
            self.tray.hide()
