"""The status line: where Detectors connect, the pairing token (with a copy button), the
database, Redis and how busy the workers are."""

from __future__ import annotations

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLabel, QStatusBar, QToolButton, QWidget

from app.gui.resources import icon


class StationStatusBar(QStatusBar):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizeGripEnabled(False)
        self.address = QLabel()
        self.token = QLabel()
        self.copy_token = QToolButton()
        self.copy_token.setIcon(icon("copy"))
        self.copy_token.setToolTip("Copy the pairing token")
        self.copy_token.clicked.connect(self._copy_token)
        self.database = QLabel()
        self.redis = QLabel()
        self.workers = QLabel()
        self.lag = QLabel()
        for widget in (self.address, self.token, self.copy_token, self.database, self.redis, self.workers):
            self.addPermanentWidget(widget)
        self._token = ""

    def show_station(self, address: str, token: str, database: str, redis: str) -> None:
        self.address.setText(f"Listening on <b>{address}</b>")
        self.set_token(token)
        self.database.setText(f"Database: {_shorten(database)}")
        self.database.setToolTip(database)
        self.redis.setText(f"Redis: {_shorten(redis)}")
        self.redis.setToolTip(redis)

    def set_token(self, token: str) -> None:
        self._token = token
        self.token.setText(f"Token: <code>{token}</code>")

    def set_workers(self, busy: int, total: int) -> None:
        self.workers.setText(f"Workers: {busy}/{total} busy")

    def _copy_token(self) -> None:
        QGuiApplication.clipboard().setText(self._token)
        self.showMessage("Pairing token copied", 3000)


def _shorten(text: str, limit: int = 42) -> str:
    return text if len(text) <= limit else "…" + text[-(limit - 1):]
