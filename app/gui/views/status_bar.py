"""The status line: where Detectors connect, the pairing token (with a copy button), with TLS
on the certificate's fingerprint Detectors pin (with its own copy button), the database, Redis,
the room left on the library's disk and how busy the workers are."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLabel, QStatusBar, QToolButton, QWidget

from app.gui.formatting import human_bytes
from app.gui.resources import icon
from app.gui.views.elided_label import ElidedLabel
from app.pipeline.free_space import LibraryRoom


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
        self.fingerprint = QLabel()
        self.copy_fingerprint = QToolButton()
        self.copy_fingerprint.setIcon(icon("copy"))
        self.copy_fingerprint.setToolTip("Copy the certificate's SHA-256 fingerprint (a Detector's --fingerprint)")
        self.copy_fingerprint.clicked.connect(self._copy_fingerprint)
        # Paths and URLs give way first when the window is narrow (a laptop's 1366 or 1440 px).
        self.database = ElidedLabel(mode=Qt.TextElideMode.ElideMiddle, min_width=140)
        self.redis = ElidedLabel(mode=Qt.TextElideMode.ElideMiddle, min_width=140)
        self.workers = QLabel()
        self.library = QLabel()
        self.lag = QLabel()
        for widget in (self.address, self.token, self.copy_token, self.fingerprint, self.copy_fingerprint,
                       self.database, self.redis, self.library, self.workers):
            self.addPermanentWidget(widget)
        self._token = ""
        self._fingerprint = ""
        self.set_fingerprint("")

    def show_station(self, address: str, token: str, database: str, redis: str, fingerprint: str = "") -> None:
        self.address.setText(f"Listening on <b>{address}</b>")
        self.set_token(token)
        self.set_fingerprint(fingerprint)
        self.database.set_full_text(f"Database: {database}")
        self.redis.set_full_text(f"Redis: {redis}")

    def set_token(self, token: str) -> None:
        self._token = token
        self.token.setText(f"Token: <code>{token}</code>")

    def set_fingerprint(self, fingerprint: str) -> None:
        """Shown only with TLS on; the full value is in the tooltip and the copy button."""
        self._fingerprint = fingerprint
        self.fingerprint.setText(f"TLS: <code>{fingerprint[:16]}…</code>" if fingerprint else "")
        self.fingerprint.setToolTip(f"Certificate SHA-256 fingerprint: {fingerprint}" if fingerprint else "")
        self.fingerprint.setVisible(bool(fingerprint))
        self.copy_fingerprint.setVisible(bool(fingerprint))

    def set_workers(self, busy: int, total: int) -> None:
        self.workers.setText(f"Workers: {busy}/{total} busy")

    def set_library_room(self, room: LibraryRoom, folder: str) -> None:
        """Room left for the day's cards; in the warning colour once imports would stop (the
        reserve) is near."""
        if room.free is None:
            self.library.setText('<span style="color:#c43d3d">Library: unreachable</span>')
        elif room.state == "low":
            self.library.setText(f'<span style="color:#c43d3d"><b>Library: {human_bytes(room.free)} free</b></span>')
        else:
            self.library.setText(f"Library: {human_bytes(room.free)} free")
        self.library.setToolTip(f"{folder}\nImports stop with a message when a card's files would leave less than "
                                f"{human_bytes(room.reserve)} free (library_reserve_bytes).")

    def _copy_token(self) -> None:
        QGuiApplication.clipboard().setText(self._token)
        self.showMessage("Pairing token copied", 3000)

    def _copy_fingerprint(self) -> None:
        QGuiApplication.clipboard().setText(self._fingerprint)
        self.showMessage("Certificate fingerprint copied", 3000)

