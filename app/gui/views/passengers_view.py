"""The Passengers tab: the day's passengers and their clips, a day selector, the crew's buttons
and right-click menu (play, open folder, render again, move a clip). The controller does the
work; refusals are shown in a message box."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QModelIndex, QPoint, QSize, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QMessageBox,
    QPushButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from app.gui.passengers_controller import PassengersController
from app.gui.passengers_model import Column, Kind, Node, PassengersModel
from app.gui.resources import icon
from app.gui.views.move_clip_dialog import MoveClipDialog


class PassengersTree(QTreeView):
    def __init__(self, model: PassengersModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setModel(model)
        self.setAlternatingRowColors(True)
        self.setUniformRowHeights(False)
        self.setIconSize(QSize(18, 18))  # QR thumbnails come as pixmaps at their own size
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header = self.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(Column.NAME, QHeaderView.ResizeMode.Stretch)
        for column, width in ((Column.BOOKING, 112), (Column.CAMERAS, 96), (Column.CLIPS, 64), (Column.VIDEO, 136),
                              (Column.DURATION, 64), (Column.WARNINGS, 150)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
            # never narrower than its own title (the font decides, not a guess in pixels)
            self.setColumnWidth(column, max(width, header.sectionSizeHint(column)))

    @property
    def passengers(self) -> PassengersModel:
        return self.model()  # type: ignore[return-value]

    def current_node(self) -> Node | None:
        return self.passengers.node_at(self.currentIndex())


class PassengersPanel(QFrame):
    def __init__(self, model: PassengersModel, controller: PassengersController, parent: QWidget | None = None) -> None:
        super().__init__(parent, objectName="panel")
        self.model = model
        self.controller = controller
        self.move_dialog: MoveClipDialog | None = None
        self.problem_box: QMessageBox | None = None

        self.day = QComboBox()
        self.day.setMinimumContentsLength(10)
        self.play_button = QPushButton(icon("play"), "Play")
        self.folder_button = QPushButton(icon("folder"), "Open folder")
        self.rerender_button = QPushButton(icon("retry"), "Render again")
        self.move_button = QPushButton(icon("passenger"), "Move clip…")
        top = QHBoxLayout()
        top.addWidget(QLabel("Passengers", objectName="panelTitle"))
        top.addSpacing(12)
        top.addWidget(QLabel("Day"))
        top.addWidget(self.day)
        top.addStretch(1)
        for button in (self.play_button, self.folder_button, self.rerender_button, self.move_button):
            top.addWidget(button)
        self.tree = PassengersTree(model)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(top)
        layout.addWidget(self.tree)

        self.play_button.clicked.connect(lambda: self._on_passenger(self.controller.play))
        self.folder_button.clicked.connect(self._open_folder)
        self.rerender_button.clicked.connect(lambda: self._on_passenger(self.controller.rerender))
        self.move_button.clicked.connect(self._move_current)
        self.day.activated.connect(lambda _i: self.controller.choose_day(self.day.currentText()))
        self.tree.customContextMenuRequested.connect(self._popup)
        self.tree.doubleClicked.connect(self._double_clicked)
        self.tree.selectionModel().currentChanged.connect(lambda *_: self._update_buttons())
        model.dataChanged.connect(lambda *_: self._update_buttons())
        model.rowsInserted.connect(self._expand_new)
        controller.days_changed.connect(self._show_days)
        controller.problem.connect(self.show_problem)
        self._update_buttons()

    # -- what is shown ------------------------------------------------------------------------
    def _show_days(self, days: list[str], shown: str) -> None:
        self.day.blockSignals(True)
        self.day.clear()
        self.day.addItems(days if shown in days else [shown, *days])
        self.day.setCurrentText(shown)
        self.day.blockSignals(False)

    def _expand_new(self, parent: QModelIndex, first: int, last: int) -> None:
        """A passenger with a clip to check opens up, so the crew sees which; the others stay
        folded (a day has dozens)."""
        if parent.isValid():
            return
        for row in range(first, last + 1):
            index = self.model.index(row, 0, parent)
            node = self.model.node_at(index)
            if node is not None and node.kind is Kind.PASSENGER and any(w.file_id for w in node.row.warnings):
                self.tree.expand(index)

    def _update_buttons(self) -> None:
        node = self.tree.current_node()
        passenger = node if node is not None and node.kind is Kind.PASSENGER else None
        self.play_button.setEnabled(passenger is not None and _playable(passenger))
        self.folder_button.setEnabled(node is not None and node.kind is not Kind.UNASSIGNED)
        self.rerender_button.setEnabled(passenger is not None and bool(passenger.row.clips))
        self.move_button.setEnabled(node is not None and node.kind is Kind.CLIP)

    def show_problem(self, text: str) -> None:
        """A refusal in words, in a box that does not stop the event loop."""
        if self.problem_box is not None:
            self.problem_box.close()
        box = QMessageBox(QMessageBox.Icon.Warning, "Passengers", text, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.destroyed.connect(lambda: setattr(self, "problem_box", None))
        self.problem_box = box
        box.open()

    # -- what the crew does -------------------------------------------------------------------
    def _on_passenger(self, action: Callable[[int], object]) -> None:
        node = self.tree.current_node()
        if node is not None and node.kind is Kind.PASSENGER:
            action(node.id)

    def _open_folder(self) -> None:
        node = self.tree.current_node()
        if node is None:
            return
        if node.kind is Kind.PASSENGER:
            self.controller.open_folder(node.id)
        elif node.kind is Kind.CLIP:
            self.controller.open_clip_folder(node.id)

    def _move_current(self) -> None:
        node = self.tree.current_node()
        if node is not None and node.kind is Kind.CLIP:
            self.ask_move(node.id)

    def _double_clicked(self, index: QModelIndex) -> None:
        node = self.model.node_at(index)
        if node is not None and node.kind is Kind.PASSENGER:
            if _playable(node):
                self.controller.play(node.id)
            else:
                self.controller.open_folder(node.id)

    def ask_move(self, file_id: int) -> MoveClipDialog | None:
        node = self.model.clip(file_id)
        if node is None or node.parent is None:
            return None
        current = node.parent.id if node.parent.kind is Kind.PASSENGER else None
        dialog = MoveClipDialog(node.row.name, self.model.passengers(), current, self.window())
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.controller.move_clip(file_id, dialog.chosen()))
        dialog.destroyed.connect(lambda: setattr(self, "move_dialog", None))
        self.move_dialog = dialog
        dialog.open()  # not exec(): the event loop keeps serving Detectors meanwhile
        return dialog

    def _popup(self, position: QPoint) -> None:
        menu = self.menu_for(self.tree.indexAt(position))
        if menu is not None:
            menu.popup(self.tree.viewport().mapToGlobal(position))  # popup, not exec: the loop keeps running

    def menu_for(self, index: QModelIndex) -> QMenu | None:
        """The right-click menu of a row (None when there is nothing to do there)."""
        node = self.model.node_at(index)
        if node is None or node.kind is Kind.UNASSIGNED:
            return None
        menu = QMenu(self)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        if node.kind is Kind.PASSENGER:
            passenger_id = node.id
            play = menu.addAction(icon("play"), "Play", lambda: self.controller.play(passenger_id))
            play.setEnabled(_playable(node))
            menu.addAction(icon("folder"), "Open folder", lambda: self.controller.open_folder(passenger_id))
            again = menu.addAction(icon("retry"), "Render again", lambda: self.controller.rerender(passenger_id))
            again.setEnabled(bool(node.row.clips))
        else:
            file_id = node.id
            menu.addAction(icon("passenger"), "Move clip…", lambda: self.ask_move(file_id))
            menu.addAction(icon("folder"), "Open folder", lambda: self.controller.open_clip_folder(file_id))
        return menu


def _playable(node: Node) -> bool:
    """Ready, and its file known: an event may say "ready" before the database read brings the path."""
    return node.row.video_state == "ready" and bool(node.row.video_path)
