"""The start-up card: what the station is bringing up while the window is not there yet."""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent, QPixmap
from PySide6.QtWidgets import QWidget

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


class Splash(QWidget):
    """Not a QSplashScreen: its showMessage() repaints through QCoreApplication.processEvents(),
    a nested event pass that, under qasync, steps asyncio tasks created during the station's
    start from inside the start-up task ("Cannot enter into task ..."): they died, and closing
    the window then waited on them for ever. This one only asks for a paint."""

    def __init__(self) -> None:
        super().__init__(None, Qt.WindowType.SplashScreen | Qt.WindowType.FramelessWindowHint
                         | Qt.WindowType.WindowStaysOnTopHint)
        self._card = _card()
        self._message = ""
        self.setFixedSize(self._card.size())

    def say(self, text: str) -> None:
        self._message = text
        self.update()

    def message(self) -> str:
        return self._message

    def finish(self, window: QWidget) -> None:
        self.close()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.drawPixmap(0, 0, self._card)
        painter.setPen(QColor("#ffffff"))
        painter.drawText(QRect(12, 0, self.width() - 24, self.height() - 10),
                         int(Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignLeft), self._message)
        painter.end()
