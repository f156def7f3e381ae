"""The start-up card: what the station is bringing up while the window is not there yet."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPixmap
from PySide6.QtWidgets import QSplashScreen

from app.gui.resources import icon
from app.version import __version__


def _card() -> QPixmap:
    pixmap = QPixmap(460, 220)
    pixmap.fill(QColor("#1456a8"))
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.drawPixmap(28, 40, icon("app").pixmap(84, 84))
    painter.setPen(QColor("#ffffff"))
    title = QFont()
    title.setPointSize(20)
    title.setBold(True)
    painter.setFont(title)
    painter.drawText(130, 78, "Ingest Station")
    small = QFont()
    small.setPointSize(10)
    painter.setFont(small)
    painter.setPen(QColor("#cfe2fb"))
    painter.drawText(132, 104, f"version {__version__}")
    painter.end()
    return pixmap


class Splash(QSplashScreen):
    def __init__(self) -> None:
        super().__init__(_card())

    def say(self, text: str) -> None:
        self.showMessage(text, Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignLeft, QColor("#ffffff"))
