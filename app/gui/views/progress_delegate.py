"""Draws the Progress column as a thin bar with its text, coloured by the row's state."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from app.gui.imports_model import PROGRESS_ROLE, STATE_ROLE

BAR_COLOURS = {
    "failed": QColor("#d64545"),
    "succeeded": QColor("#2e9d5b"),
    "waiting": QColor("#e39b1b"),
}
ACCENT = QColor("#1f7ae0")
TRACK = QColor("#e6ebf1")


class ProgressDelegate(QStyledItemDelegate):
    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        fraction = index.data(PROGRESS_ROLE)
        if fraction is None:
            super().paint(painter, option, index)
            return
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(option.rect, option.palette.highlight())
        rect: QRect = option.rect.adjusted(4, 0, -4, 0)
        bar = QRect(rect.left(), rect.center().y() + 3, rect.width(), 4)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(TRACK)
        painter.drawRoundedRect(bar, 2, 2)
        painter.setBrush(BAR_COLOURS.get(index.data(STATE_ROLE), ACCENT))
        filled = QRect(bar.left(), bar.top(), max(2, int(bar.width() * float(fraction))), bar.height())
        painter.drawRoundedRect(filled, 2, 2)
        text = index.data(Qt.ItemDataRole.DisplayRole) or f"{100 * float(fraction):.0f} %"
        painter.setPen(QColor("#4a5866"))
        font = painter.font()
        font.setPointSizeF(max(7.0, font.pointSizeF() - 1.5))
        painter.setFont(font)
        painter.drawText(QRect(rect.left(), rect.top(), rect.width(), rect.height() // 2 + 3),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom, text)
        painter.restore()
