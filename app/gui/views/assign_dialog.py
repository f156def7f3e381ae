"""Assign unassigned clips to a passenger of the same card, or to a new passenger typed in."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from app.pipeline.read_model import JumpRow
from app.gui.resources import icon


class AssignDialog(QDialog):
    def __init__(self, clip_names: list[str], jumps: list[JumpRow], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Assign to passenger")
        self.setMinimumWidth(420)
        layout = QVBoxLayout(self)
        shown = ", ".join(clip_names[:4]) + (f" and {len(clip_names) - 4} more" if len(clip_names) > 4 else "")
        layout.addWidget(QLabel(f"File <b>{shown}</b> with:"))

        self.existing = QRadioButton("A passenger of this card")
        self.new = QRadioButton("A new passenger")
        group = QButtonGroup(self)
        group.addButton(self.existing)
        group.addButton(self.new)
        self.jumps = QListWidget()
        for jump in jumps:
            item = QListWidgetItem(icon("passenger"), f"{jump.passenger_name}  ({jump.booking_id})")
            item.setData(Qt.ItemDataRole.UserRole, jump.id)
            self.jumps.addItem(item)
        self.name = QLineEdit()
        self.name.setPlaceholderText("Ana Silva")
        self.booking = QLineEdit()
        self.booking.setPlaceholderText("BK-2026-1042")
        new_form = QFormLayout()
        new_form.addRow("Passenger name", self.name)
        new_form.addRow("Booking id", self.booking)

        layout.addWidget(self.existing)
        layout.addWidget(self.jumps)
        layout.addWidget(self.new)
        layout.addLayout(new_form)
        self.problem = QLabel(objectName="errorText")
        layout.addWidget(self.problem)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Assign")
        buttons.accepted.connect(self._accept_if_complete)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

        self.jumps.itemSelectionChanged.connect(lambda: self.existing.setChecked(True))
        self.name.textEdited.connect(lambda _text: self.new.setChecked(True))
        if jumps:
            self.existing.setChecked(True)
            self.jumps.setCurrentRow(0)
        else:
            self.existing.setEnabled(False)
            self.new.setChecked(True)

    def choose_jump(self, jump_id: int) -> None:
        for row in range(self.jumps.count()):
            if self.jumps.item(row).data(Qt.ItemDataRole.UserRole) == jump_id:
                self.jumps.setCurrentRow(row)
                self.existing.setChecked(True)
                return
        raise LookupError(f"jump {jump_id} is not offered")

    def chosen_jump(self) -> int | None:
        item = self.jumps.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if self.existing.isChecked() and item is not None else None

    def new_passenger(self) -> dict[str, str] | None:
        if not self.new.isChecked():
            return None
        return {"passenger_name": self.name.text().strip(), "booking_id": self.booking.text().strip()}

    def _accept_if_complete(self) -> None:
        if self.existing.isChecked() and self.chosen_jump() is None:
            self.problem.setText("Choose a passenger from the list.")
            return
        passenger = self.new_passenger()
        if passenger is not None and not (passenger["passenger_name"] and passenger["booking_id"]):
            self.problem.setText("Type the passenger's name and booking id.")
            return
        self.accept()
