"""Hand-off…: the passenger's link as a QR code to scan with their phone, and as text."""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QPixmap
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPushButton, QVBoxLayout, QWidget

QR_SIDE = 280


class HandoffDialog(QDialog):
    def __init__(self, passenger_name: str, url: str, expires: str, qr_png: bytes,
                 revoke: Callable[[], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Hand-off: {passenger_name}")
        self.url = url
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"<b>{escape(passenger_name)}</b>: scan with the phone's camera"))
        pixmap = QPixmap()
        pixmap.loadFromData(qr_png, "PNG")
        self.qr = QLabel()
        self.qr.setPixmap(pixmap.scaled(QR_SIDE, QR_SIDE, Qt.AspectRatioMode.KeepAspectRatio,
                                        Qt.TransformationMode.FastTransformation))  # crisp modules
        self.qr.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.qr)
        self.link = QLabel(f'<a href="{escape(url)}">{escape(url)}</a>')
        self.link.setOpenExternalLinks(True)  # opens the page on a second screen at the desk
        self.link.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        layout.addWidget(self.link)
        layout.addWidget(QLabel(f"Works on this network until {expires}."))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = QPushButton("Copy link")
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(url))
        self.revoke_button = QPushButton("Revoke link")
        self.revoke_button.clicked.connect(lambda: (revoke(), self.reject()))
        buttons.addButton(copy, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.revoke_button, QDialogButtonBox.ButtonRole.DestructiveRole)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
