"""Move a clip to another passenger of the day, or to the unassigned clips."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from app.gui.passengers_data import PassengerRow
from app.gui.resources import icon

UNASSIGNED = -1  # the list item that stands for "no passenger"


class MoveClipDialog(QDialog):
    def __init__(self, clip_name: str, passengers: list[PassengerRow], current: int | None,
                 parent: QWidget | None = None) -> None:
        """`current`: the passenger the clip is with now (None: unassigned), not offered."""
        super().__init__(parent)
        self.setWindowTitle("Move clip")
        self.setMinimumWidth(400)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Move <b>{clip_name}</b> to:"))
        self.targets = QListWidget()
        for passenger in passengers:
            if passenger.id == current:
                continue
            item = QListWidgetItem(icon("passenger"), f"{passenger.passenger_name}  ({passenger.booking_id})")
            item.setData(Qt.ItemDataRole.UserRole, passenger.id)
            self.targets.addItem(item)
        if current is not None:
            item = QListWidgetItem(icon("unassigned"), "Unassigned clips (no passenger)")
            item.setData(Qt.ItemDataRole.UserRole, UNASSIGNED)
            self.targets.addItem(item)
        layout.addWidget(self.targets)
        layout.addWidget(QLabel("Both passengers' videos are rendered again.", objectName="hint"))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setText("Move")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.targets.currentItemChanged.connect(lambda *_: self.ok.setEnabled(self.targets.currentItem() is not None))
        self.ok.setEnabled(False)
        if self.targets.count():
            self.targets.setCurrentRow(0)

    def offered(self) -> list[int | None]:
        """The passenger ids offered, None for unassigned."""
        return [self._target(self.targets.item(row)) for row in range(self.targets.count())]

    def choose(self, passenger_id: int | None) -> None:
        for row in range(self.targets.count()):
            if self._target(self.targets.item(row)) == passenger_id:
                self.targets.setCurrentRow(row)
                return
        raise LookupError(f"passenger {passenger_id} is not offered")

    def chosen(self) -> int | None:
        item = self.targets.currentItem()
        if item is None:
            raise LookupError("nothing chosen")
        return self._target(item)

    @staticmethod
    def _target(item: QListWidgetItem) -> int | None:
        value = int(item.data(Qt.ItemDataRole.UserRole))
        return None if value == UNASSIGNED else value
