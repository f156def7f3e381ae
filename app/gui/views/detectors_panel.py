"""The Detectors panel: one card per connected reader, its SD card and live transfers."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.gui.detectors_state import DetectorInfo, DetectorsState, Transfer
from app.gui.formatting import human_bytes, human_duration, human_speed
from app.gui.resources import icon
from app.gui.views.elided_label import ElidedLabel


class TransferRow(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 2)
        layout.setSpacing(1)
        top = QHBoxLayout()
        self.name = QLabel(objectName="transferName")
        # A long file name is cut, never widens the panel.
        self.name.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.figures = QLabel(objectName="transferFigures")
        top.addWidget(self.name, 1)
        top.addWidget(self.figures)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(True)
        layout.addLayout(top)
        layout.addWidget(self.bar)

    def show_transfer(self, transfer: Transfer) -> None:
        self.name.setText(transfer.name)
        self.bar.setValue(int(1000 * transfer.fraction))
        self.bar.setFormat(f"{human_bytes(transfer.bytes)} / {human_bytes(transfer.total)}")
        if transfer.finished is not None:
            self.figures.setText("received ✓")
        else:
            left = transfer.seconds_left
            speed = human_speed(transfer.speed) if transfer.speed > 0 else "—"
            self.figures.setText(f"{speed}  ·  {human_duration(left) + ' left' if left is not None else 'starting'}")


class DetectorCard(QFrame):
    def __init__(self, detector_id: str, parent: QWidget | None = None) -> None:
        super().__init__(parent, objectName="detectorCard")
        self.detector_id = detector_id
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.setSpacing(4)
        header = QHBoxLayout()
        self.icon = QLabel()
        self.icon.setPixmap(icon("detector").pixmap(22, 22))
        self.name = ElidedLabel(objectName="detectorName")
        self.state_dot = QLabel()
        self.state = QLabel(objectName="muted")
        header.addWidget(self.icon)
        header.addWidget(self.name, 1)
        header.addWidget(self.state_dot)
        header.addWidget(self.state)
        layout.addLayout(header)
        self.card = QLabel(objectName="cardLine")
        self.card.setWordWrap(True)
        self.card.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.card.setMinimumHeight(self.card.fontMetrics().height() * 2 + 4)
        layout.addWidget(self.card)
        self.transfers_box = QVBoxLayout()
        self.transfers_box.setSpacing(2)
        layout.addLayout(self.transfers_box)
        self._rows: dict[tuple[str, str], TransferRow] = {}

    def show_detector(self, info: DetectorInfo) -> None:
        shown = info.name or info.detector_id
        self.name.set_full_text(shown)
        self.name.setToolTip(shown if shown == info.detector_id else f"{shown} ({info.detector_id})")
        self.state.setText("connected" if info.connected else "disconnected")
        self.state_dot.setPixmap(icon("connected" if info.connected else "disconnected").pixmap(10, 10))
        connected = "true" if info.connected else "false"
        if self.property("connected") != connected:  # re-polishing is costly: only on a change
            self.setProperty("connected", connected)
            self.style().unpolish(self)
            self.style().polish(self)
        card = info.card
        if card is None:
            self.card.setText("No card")
        else:
            label = card.label or card.card_id
            state = {"done": " · imported ✓", "failed": " · needs attention: do not format",
                     "cancelled": " · cancelled: do not format",
                     "safe": " · <b>safe to format</b> ✓", "incomplete": " · incomplete: do not format",
                     "wiped": " · wiped ✓"}.get(card.state, "")
            self.card.setText(
                f"<b>{label}</b> &nbsp;·&nbsp; {card.files_new} new of {card.files_total} files"
                f" &nbsp;·&nbsp; {card.files_received} received{state}"
            )
        for key in [key for key in self._rows if key not in info.transfers]:
            row = self._rows.pop(key)
            self.transfers_box.removeWidget(row)
            row.deleteLater()
        for key, transfer in info.transfers.items():
            row = self._rows.get(key)
            if row is None:
                row = self._rows[key] = TransferRow(self)
                self.transfers_box.addWidget(row)
            row.show_transfer(transfer)

    def transfer_rows(self) -> dict[tuple[str, str], TransferRow]:
        return dict(self._rows)


class DetectorsPanel(QFrame):
    def __init__(self, state: DetectorsState, parent: QWidget | None = None) -> None:
        super().__init__(parent, objectName="panel")
        self.state = state
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        title = QLabel("Detectors", objectName="panelTitle")
        layout.addWidget(title)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        self._inner = QWidget()
        self._list = QVBoxLayout(self._inner)
        self._list.setContentsMargins(0, 0, 0, 0)
        self._list.setSpacing(8)
        self.empty = QLabel("No Detector connected yet.\nReaders on the LAN connect with the pairing token below.",
                            objectName="emptyHint")
        self.empty.setWordWrap(True)
        self._list.addWidget(self.empty)
        self._list.addStretch(1)
        scroll.setWidget(self._inner)
        layout.addWidget(scroll)
        self.cards: dict[str, DetectorCard] = {}
        state.changed.connect(self._refresh)
        # Finished transfers fade out; speeds of stalled ones settle.
        self._prune = QTimer(self, interval=1000)
        self._prune.timeout.connect(state.prune)
        self._prune.start()

    def _refresh(self, detector_id: str) -> None:
        info = self.state.get(detector_id)
        if info is None:
            return
        card = self.cards.get(detector_id)
        if card is None:
            card = self.cards[detector_id] = DetectorCard(detector_id, self._inner)
            self._list.insertWidget(self._list.count() - 1, card)
        card.show_detector(info)
        self.empty.setVisible(not self.cards)
