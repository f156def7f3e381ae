"""The Passengers view's model: the day's passengers (QR frame, booking, cameras, clips, video
state, warnings) with their clips as children, and the day's unassigned clips last. Changed row
by row from `PassengerRow`s, so the crew's selection and folding survive every refresh."""

from __future__ import annotations

import dataclasses
import enum
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPixmap

from app.gui.formatting import human_bytes, human_duration
from app.gui.passengers_data import ClipRow, PassengerRow, RowWarning
from app.gui.resources import icon, state_icon


class Kind(enum.Enum):
    ROOT = "root"
    PASSENGER = "passenger"
    UNASSIGNED = "unassigned"  # the day's clips no passenger claims
    CLIP = "clip"


class Column(enum.IntEnum):
    NAME = 0
    BOOKING = 1
    CAMERAS = 2
    CLIPS = 3
    VIDEO = 4
    DURATION = 5
    WARNINGS = 6


HEADERS = {
    Column.NAME: "Passenger · clip",
    Column.BOOKING: "Booking",
    Column.CAMERAS: "Cameras",
    Column.CLIPS: "Clips",
    Column.VIDEO: "Video",
    Column.DURATION: "Duration",
    Column.WARNINGS: "Warnings · marks",
}

VIDEO_TEXT = {"waiting": "waiting for footage", "rendering": "rendering", "ready": "ready", "failed": "failed"}
VIDEO_ICON = {"waiting": "waiting", "rendering": "running", "ready": "succeeded", "failed": "failed"}
VIDEO_COLOURS = {"waiting": QColor("#a86a00"), "rendering": QColor("#1a68c0"), "ready": QColor("#247a47"),
                 "failed": QColor("#c43d3d")}
# A clip's own warnings in a word or two (its tooltip says them whole); the other kinds are marks.
WARNING_WORDS = {"long_after_code": "long after the code", "clock_reset": "clock reset"}
WARNING_COLOUR = QColor("#a86a00")
CONFLICT_COLOUR = QColor("#c43d3d")
# Clip marks that mean the clip is not (or may not be) in the passenger's video.
ALARMING_MARKS = frozenset({"unreadable", "never searched"})

ID_ROLE = Qt.ItemDataRole.UserRole + 1
VIDEO_STATE_ROLE = Qt.ItemDataRole.UserRole + 2
WARNINGS_ROLE = Qt.ItemDataRole.UserRole + 3  # tuple of RowWarning
CONFLICT_ROLE = Qt.ItemDataRole.UserRole + 4
MARKS_ROLE = Qt.ItemDataRole.UserRole + 5  # tuple of str (clips)

_uids = itertools.count(1)


@dataclass(eq=False)
class Node:
    kind: Kind
    id: int
    row: Any = None  # PassengerRow | ClipRow | None (root, unassigned group)
    parent: Node | None = None
    children: list[Node] = field(default_factory=list)
    uid: int = field(default_factory=lambda: next(_uids))


def _bold() -> QFont:
    font = QFont()
    font.setBold(True)
    return font


class PassengersModel(QAbstractItemModel):
    thumbnail_wanted = Signal(int, str)  # passenger id, path of the QR frame image

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.day: str | None = None
        self._root = Node(Kind.ROOT, 0)
        self._by_uid: dict[int, Node] = {}
        self._thumbnails: dict[int, QPixmap] = {}
        self._frames_asked: dict[int, str] = {}
        self._unassigned: Node | None = None

    # -- lookups ------------------------------------------------------------------------------
    def passenger(self, passenger_id: int) -> Node | None:
        return next((n for n in self._root.children if n.kind is Kind.PASSENGER and n.id == passenger_id), None)

    def passengers(self) -> list[PassengerRow]:
        return [n.row for n in self._root.children if n.kind is Kind.PASSENGER]

    def clip(self, file_id: int) -> Node | None:
        return next((c for top in self._root.children for c in top.children if c.id == file_id), None)

    def unassigned_clips(self) -> list[ClipRow]:
        return [c.row for c in self._unassigned.children] if self._unassigned is not None else []

    def node_at(self, index: QModelIndex | QPersistentModelIndex) -> Node | None:
        return self._by_uid.get(index.internalId()) if index.isValid() else None

    def index_of(self, node: Node | None, column: int = 0) -> QModelIndex:
        if node is None or node.parent is None:
            return QModelIndex()
        return self.createIndex(node.parent.children.index(node), column, node.uid)

    def iter_nodes(self) -> Iterator[Node]:
        for top in list(self._root.children):
            yield top
            yield from list(top.children)

    def thumbnail(self, passenger_id: int) -> QPixmap | None:
        return self._thumbnails.get(passenger_id)

    # -- Qt model API -------------------------------------------------------------------------
    def index(self, row: int, column: int, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> QModelIndex:
        owner = self.node_at(parent) if parent.isValid() else self._root
        if owner is None or not (0 <= row < len(owner.children)) or not (0 <= column < len(Column)):
            return QModelIndex()
        return self.createIndex(row, column, owner.children[row].uid)

    def parent(self, index: QModelIndex | QPersistentModelIndex = QModelIndex()) -> QModelIndex:  # type: ignore[override]
        node = self.node_at(index)
        if node is None or node.parent is None or node.parent is self._root:
            return QModelIndex()
        return self.index_of(node.parent)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        if parent.isValid() and parent.column() != 0:
            return 0
        owner = self.node_at(parent) if parent.isValid() else self._root
        return len(owner.children) if owner is not None else 0

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return len(Column)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[Column(section)]
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        node = self.node_at(index)
        if node is None:
            return None
        column = Column(index.column())
        if node.kind is Kind.PASSENGER:
            return self._passenger_data(node.row, column, role)
        if node.kind is Kind.CLIP:
            return self._clip_data(node, column, role)
        return self._unassigned_data(node, column, role)

    # -- what a row shows ---------------------------------------------------------------------
    def _passenger_data(self, row: PassengerRow, column: Column, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return {
                Column.NAME: row.passenger_name,
                Column.BOOKING: row.booking_id,
                Column.CAMERAS: ", ".join(row.cameras),
                Column.CLIPS: f"{len(row.clips)} clip{'s' if len(row.clips) != 1 else ''}",
                Column.VIDEO: VIDEO_TEXT.get(row.video_state, row.video_state),
                Column.DURATION: human_duration(row.video_duration_s) if row.video_state == "ready" else "",
                Column.WARNINGS: _warnings_text(row.warnings),
            }[column]
        if role == Qt.ItemDataRole.DecorationRole:
            if column == Column.NAME:
                # A pixmap is drawn at its own size (the QR frame); icons at the view's icon size.
                thumbnail = self._thumbnails.get(row.id)
                return thumbnail if thumbnail is not None else icon("passenger")
            if column == Column.VIDEO:
                return state_icon(VIDEO_ICON.get(row.video_state, "pending"))
            if column == Column.WARNINGS and row.warnings:
                return icon("conflict" if row.conflict else "warning")
            return None
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == Column.VIDEO:
                return VIDEO_COLOURS.get(row.video_state)
            if column == Column.WARNINGS and row.warnings:
                return CONFLICT_COLOUR if row.conflict else WARNING_COLOUR
            if column == Column.NAME and row.conflict:
                return CONFLICT_COLOUR
            return None
        if role == Qt.ItemDataRole.FontRole and column == Column.NAME:
            return _bold()
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == Column.WARNINGS and row.warnings:
                return "\n".join(f"⚠ {w.message}" for w in row.warnings)
            if column == Column.VIDEO:
                return row.video_error or row.video_path or VIDEO_TEXT.get(row.video_state)
            return row.folder or None
        return self._roles(row.id, role, video_state=row.video_state, warnings=row.warnings, conflict=row.conflict)

    def _clip_data(self, node: Node, column: Column, role: int) -> Any:
        row: ClipRow = node.row
        own = self._clip_warnings(node)
        if role == Qt.ItemDataRole.DisplayRole:
            return {
                Column.NAME: row.name,
                Column.BOOKING: "",
                Column.CAMERAS: row.camera or "",
                Column.CLIPS: human_bytes(row.size),
                Column.VIDEO: "",
                Column.DURATION: human_duration(row.duration_s),
                Column.WARNINGS: " · ".join([*row.marks, *(WARNING_WORDS[w.kind] for w in own if w.kind in WARNING_WORDS)]),
            }[column]
        if role == Qt.ItemDataRole.DecorationRole:
            if column == Column.NAME:
                return icon("clip")
            if column == Column.WARNINGS and (own or ALARMING_MARKS & set(row.marks)):
                return icon("warning")
            return None
        if role == Qt.ItemDataRole.ForegroundRole and column == Column.WARNINGS and (own or ALARMING_MARKS & set(row.marks)):
            return WARNING_COLOUR
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == Column.WARNINGS and (own or row.marks):
                return "\n".join([f"⚠ {w.message}" for w in own] or list(row.marks))
            return row.stored_path
        return self._roles(row.id, role, warnings=own, marks=row.marks)

    def _unassigned_data(self, node: Node, column: Column, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            count = len(node.children)
            return {Column.NAME: "Unassigned clips", Column.CLIPS: f"{count} clip{'s' if count != 1 else ''}",
                    Column.VIDEO: "assign by hand"}.get(column, "")
        if role == Qt.ItemDataRole.DecorationRole and column == Column.NAME:
            return icon("unassigned")
        if role == Qt.ItemDataRole.FontRole and column == Column.NAME:
            font = QFont()
            font.setItalic(True)
            return font
        return self._roles(0, role)

    @staticmethod
    def _roles(node_id: int, role: int, *, video_state: str | None = None, warnings: tuple[RowWarning, ...] = (),
               conflict: bool = False, marks: tuple[str, ...] = ()) -> Any:
        return {ID_ROLE: node_id, VIDEO_STATE_ROLE: video_state, WARNINGS_ROLE: warnings, CONFLICT_ROLE: conflict,
                MARKS_ROLE: marks}.get(role)

    @staticmethod
    def _clip_warnings(node: Node) -> tuple[RowWarning, ...]:
        owner = node.parent
        if owner is None or owner.kind is not Kind.PASSENGER:
            return ()
        return tuple(w for w in owner.row.warnings if w.file_id == node.id)

    # -- changing rows ------------------------------------------------------------------------
    def show_day(self, day: str, passengers: list[PassengerRow] | tuple[PassengerRow, ...],
                 unassigned: list[ClipRow] | tuple[ClipRow, ...]) -> None:
        """The day's rows as the database has them: rows that differ change, others stay."""
        if day != self.day:
            self._clear()
            self.day = day
        wanted = {row.id for row in passengers}
        for node in [n for n in self._root.children if n.kind is Kind.PASSENGER and n.id not in wanted]:
            self._remove(node)
        for row in passengers:
            self.upsert_passenger(row)
        self._set_unassigned(list(unassigned))

    def upsert_passenger(self, row: PassengerRow) -> None:
        """One passenger read again; a passenger of another day leaves the view."""
        node = self.passenger(row.id)
        if row.day != self.day:
            if node is not None:
                self._remove(node)
            return
        if node is None:
            node = Node(Kind.PASSENGER, row.id, row)
            self._insert(self._root, node, self._passenger_position(row.id))
        elif node.row != row:
            node.row = row
            self._changed(node)
        self._sync_clips(node, list(row.clips))
        if row.qr_frame and self._frames_asked.get(row.id) != row.qr_frame:
            self._frames_asked[row.id] = row.qr_frame  # asked once per image, not on every read
            self.thumbnail_wanted.emit(row.id, row.qr_frame)

    def set_video_state(self, passenger_id: int, state: str) -> None:
        """What a `passenger:updated` event says, shown at once; the database read that follows
        has the last word."""
        node = self.passenger(passenger_id)
        if node is not None and state in VIDEO_TEXT and node.row.video_state != state:
            node.row = dataclasses.replace(node.row, video_state=state)
            self._changed(node)

    def set_thumbnail(self, passenger_id: int, pixmap: QPixmap) -> None:
        self._thumbnails[passenger_id] = pixmap
        node = self.passenger(passenger_id)
        if node is not None:
            self._changed(node, Column.NAME, Column.NAME)

    def _passenger_position(self, passenger_id: int) -> int:
        """In the order their first code was read (their id); the unassigned group last."""
        return sum(1 for n in self._root.children if n.kind is Kind.PASSENGER and n.id < passenger_id)

    def _set_unassigned(self, clips: list[ClipRow]) -> None:
        if not clips:
            if self._unassigned is not None:
                self._remove(self._unassigned)
                self._unassigned = None
            return
        if self._unassigned is None:
            self._unassigned = Node(Kind.UNASSIGNED, 0)
            self._insert(self._root, self._unassigned, len(self._root.children))
        self._sync_clips(self._unassigned, clips)
        self._changed(self._unassigned)

    def _sync_clips(self, owner: Node, rows: list[ClipRow]) -> None:
        wanted = [row.id for row in rows]
        if [c.id for c in owner.children] == wanted:
            for child, row in zip(owner.children, rows, strict=True):
                if child.row != row:
                    child.row = row
                    self._changed(child)
                elif owner.kind is Kind.PASSENGER:
                    self._changed(child, Column.WARNINGS, Column.WARNINGS)  # the passenger's warnings may name it
            return
        for child in [c for c in owner.children if c.id not in set(wanted)]:
            self._remove(child)
        for position, row in enumerate(rows):
            existing = next((c for c in owner.children if c.id == row.id), None)
            if existing is None:
                self._insert(owner, Node(Kind.CLIP, row.id, row), position)
            elif existing.row != row:
                existing.row = row
                self._changed(existing)

    def _insert(self, parent: Node, node: Node, position: int) -> None:
        self.beginInsertRows(self.index_of(parent), position, position)
        node.parent = parent
        parent.children.insert(position, node)
        self._register(node)
        self.endInsertRows()

    def _register(self, node: Node) -> None:
        self._by_uid[node.uid] = node
        for child in node.children:
            self._register(child)

    def _remove(self, node: Node) -> None:
        parent = node.parent
        assert parent is not None
        position = parent.children.index(node)
        self.beginRemoveRows(self.index_of(parent), position, position)
        parent.children.pop(position)
        self._unregister(node)
        node.parent = None
        self.endRemoveRows()
        if node is self._unassigned:
            self._unassigned = None

    def _unregister(self, node: Node) -> None:
        self._by_uid.pop(node.uid, None)
        for child in node.children:
            self._unregister(child)

    def _clear(self) -> None:
        self.beginResetModel()
        self._root.children.clear()
        self._by_uid.clear()
        self._unassigned = None
        self.endResetModel()

    def _changed(self, node: Node, first: Column = Column.NAME, last: Column = Column.WARNINGS) -> None:
        self.dataChanged.emit(self.index_of(node, first), self.index_of(node, last))


def _warnings_text(warnings: tuple[RowWarning, ...]) -> str:
    if not warnings:
        return ""
    conflict = any(w.kind == "conflict" for w in warnings)
    others = sum(1 for w in warnings if w.kind != "conflict")
    parts = (["conflict"] if conflict else []) + ([f"{others} warning{'s' if others != 1 else ''}"] if others else [])
    return " · ".join(parts)
