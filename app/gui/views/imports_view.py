"""The Imports tree and its right-click menus. The menus only name what the crew can do;
the controller does it."""

from __future__ import annotations

from typing import Protocol

from PySide6.QtCore import QModelIndex, QPoint, QSize, Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QMenu, QTreeView, QWidget

from app.gui.imports_model import FINAL_STATES, Column, ImportsModel, Kind, Node
from app.gui.resources import icon
from app.gui.views.progress_delegate import ProgressDelegate

RETRYABLE = ("failed", "upstream_failed", "cancelled")


class ImportActions(Protocol):
    def retry_step(self, execution_id: int, step_id: int) -> None: ...
    def retry_failed(self, execution_id: int) -> None: ...
    def cancel(self, execution_id: int) -> None: ...
    def open_execution_folder(self, execution_id: int) -> None: ...
    def open_jump_folder(self, jump_id: int) -> None: ...
    def play_jump(self, jump_id: int) -> None: ...
    def ask_assign(self, execution_id: int, clip_ids: list[int]) -> None: ...


class ImportsView(QTreeView):
    def __init__(self, model: ImportsModel, actions: ImportActions, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.actions = actions
        self.setModel(model)
        self.setAlternatingRowColors(True)
        self.setUniformRowHeights(False)
        self.setIconSize(QSize(34, 20))
        self.setAnimated(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._popup)
        self.setItemDelegateForColumn(Column.PROGRESS, ProgressDelegate(self))
        header = self.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(Column.NAME, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(40)
        for column, width in ((Column.STATE, 96), (Column.INFO, 130), (Column.CLIPS, 80),
                              (Column.PROGRESS, 96), (Column.DURATION, 74), (Column.TIME, 80)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
            # never narrower than its own title (the font decides, not a guess in pixels)
            self.setColumnWidth(column, max(width, header.sectionSizeHint(column)))
        # New cards and passengers of running imports open up so the crew sees them without
        # clicking; finished imports loaded at start stay folded.
        model.rowsInserted.connect(self._expand_new)
        self.doubleClicked.connect(self._open)

    @property
    def imports(self) -> ImportsModel:
        return self.model()  # type: ignore[return-value]

    def _expand_new(self, parent: QModelIndex, first: int, last: int) -> None:
        for row in range(first, last + 1):
            index = self.imports.index(row, 0, parent)
            node = self.imports.node_at(index)
            execution = self.imports.execution_of(node) if node is not None else None
            if node is not None and node.kind in (Kind.EXECUTION, Kind.JUMP) and execution is not None \
                    and execution.row.state not in FINAL_STATES:
                self.expand(index)

    def _open(self, index: QModelIndex) -> None:
        """Double-click a passenger: their video when it is rendered, else their folder."""
        node = self.imports.node_at(index)
        if node is not None and node.kind is Kind.JUMP and not node.row.unassigned:
            if node.row.video_path:
                self.actions.play_jump(node.id)
            else:
                self.actions.open_jump_folder(node.id)

    def selected_nodes(self) -> list[Node]:
        rows = self.selectionModel().selectedRows(0) if self.selectionModel() else []
        return [node for node in (self.imports.node_at(index) for index in rows) if node is not None]

    def _popup(self, position: QPoint) -> None:
        menu = self.menu_for(self.indexAt(position))
        if menu is not None:
            menu.popup(self.viewport().mapToGlobal(position))  # popup, not exec: the loop keeps running

    def menu_for(self, index: QModelIndex) -> QMenu | None:
        """The right-click menu of a row (None when there is nothing to do there)."""
        node = self.imports.node_at(index)
        if node is None:
            return None
        menu = QMenu(self)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        execution = self.imports.execution_of(node)
        if node.kind is Kind.STEP and node.row.state in RETRYABLE:
            step_id, execution_id = node.id, node.row.execution_id
            menu.addAction(icon("retry"), "Retry from here", lambda: self.actions.retry_step(execution_id, step_id))
        elif node.kind is Kind.EXECUTION:
            execution_id = node.id
            retry = menu.addAction(icon("retry"), "Retry failed steps", lambda: self.actions.retry_failed(execution_id))
            retry.setEnabled(any(step.row.state == "failed" for step in self.imports.iter_nodes(Kind.STEP)
                                 if step.row.execution_id == execution_id))
            cancel = menu.addAction(icon("cancel"), "Cancel", lambda: self.actions.cancel(execution_id))
            cancel.setEnabled(node.row.state not in ("succeeded", "cancelled"))
            menu.addSeparator()
            menu.addAction(icon("folder"), "Open folder", lambda: self.actions.open_execution_folder(execution_id))
            report = menu.addAction(icon("folder"), "Open report", lambda: self.actions.open_report(execution_id))
            report.setEnabled(node.row.state == "succeeded")
        elif node.kind is Kind.JUMP and not node.row.unassigned:
            jump_id = node.id
            menu.addAction(icon("folder"), "Open folder", lambda: self.actions.open_jump_folder(jump_id))
            play = menu.addAction(icon("play"), "Play video", lambda: self.actions.play_jump(jump_id))
            play.setEnabled(bool(node.row.video_path))
            menu.addSeparator()
            handoff = menu.addAction(icon("play"), "Hand-off…", lambda: self.actions.hand_off(jump_id))
            handoff.setEnabled(bool(node.row.video_path))
            menu.addAction(icon("folder"), "Export…", lambda: self.actions.ask_export(jump_id))
        elif node.kind is Kind.CLIP or (node.kind is Kind.JUMP and node.row.unassigned and self.imports.clips_of(node)):
            clip_ids = self._clips_to_assign(node)
            execution_id = execution.id if execution else 0
            label = "Assign to passenger…" if len(clip_ids) == 1 else f"Assign {len(clip_ids)} clips to passenger…"
            menu.addAction(icon("passenger"), label, lambda: self.actions.ask_assign(execution_id, clip_ids))
        if menu.isEmpty():
            menu.deleteLater()
            return None
        return menu

    def _clips_to_assign(self, clicked: Node) -> list[int]:
        """The selected unassigned clips of the clicked one's card (or all of them for the group)."""
        if clicked.kind is Kind.JUMP:
            return [child.id for child in self.imports.clips_of(clicked)]
        selected = [node for node in self.selected_nodes() if node.kind is Kind.CLIP and node.parent is clicked.parent]
        ids = [node.id for node in selected]
        return ids if clicked.id in ids else [clicked.id]
