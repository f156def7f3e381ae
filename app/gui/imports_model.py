"""The Imports tree: executions (cards) -> jumps (passengers) -> steps, plus the clips of a card
that no passenger claimed. A Qt item model changed row by row: events move states at once,
database snapshots add what events do not carry (new steps, jumps, thumbnails).

Why one module of ~620 lines: a QAbstractItemModel's index, parent and row bookkeeping must stay
consistent with every insert and move; splitting it would spread that invariant over files."""

from __future__ import annotations

import bisect
import dataclasses
import enum
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QPixmap

from app.events import Event
from app.gui.formatting import human_bytes, human_duration, local_time, parse_ts
from app.gui.resources import icon, state_icon
from app.gui.step_names import state_text, step_title
from app.pipeline.read_model import ClipRow, ExecutionRow, ExecutionSnapshot, JumpRow, StepRow, group_state

NOT_STARTED = frozenset({"pending", "queued", "upstream_failed"})
FINAL_STATES = frozenset({"succeeded", "failed", "upstream_failed", "cancelled", "skipped"})
DONE_STATES = frozenset({"succeeded", "skipped"})


class Kind(enum.Enum):
    ROOT = "root"
    EXECUTION = "execution"
    JUMP = "jump"
    STEP = "step"
    CLIP = "clip"


class Column(enum.IntEnum):
    NAME = 0
    STATE = 1
    INFO = 2
    CLIPS = 3
    PROGRESS = 4
    DURATION = 5
    TIME = 6


HEADERS = {
    Column.NAME: "Card · passenger · step",
    Column.STATE: "State",
    Column.INFO: "Detector · booking",
    Column.CLIPS: "Files",
    Column.PROGRESS: "Progress",
    Column.DURATION: "Duration",
    Column.TIME: "Started",
}

# Extra roles the views and tests read.
KIND_ROLE = Qt.ItemDataRole.UserRole + 1
ID_ROLE = Qt.ItemDataRole.UserRole + 2
STATE_ROLE = Qt.ItemDataRole.UserRole + 3
PROGRESS_ROLE = Qt.ItemDataRole.UserRole + 4  # float 0..1 or None
ROW_ROLE = Qt.ItemDataRole.UserRole + 5  # the node's frozen row (ExecutionRow, JumpRow, ...)

STATE_COLOURS = {
    "failed": QColor("#c43d3d"),
    "upstream_failed": QColor("#c77b7b"),
    "waiting": QColor("#a86a00"),
    "running": QColor("#1a68c0"),
    "cancelled": QColor("#7d8894"),
    "succeeded": QColor("#247a47"),
}

_uids = itertools.count(1)
_fonts: dict[tuple[bool, bool], QFont] = {}


def _font(bold: bool = False, italic: bool = False) -> QFont:
    if (bold, italic) not in _fonts:  # made on first use: a QFont wants the QApplication
        font = QFont()
        font.setBold(bold)
        font.setItalic(italic)
        _fonts[(bold, italic)] = font
    return _fonts[(bold, italic)]


@dataclass(eq=False)
class Node:
    kind: Kind
    id: int
    row: Any = None  # ExecutionRow | JumpRow | StepRow | ClipRow
    parent: Node | None = None
    children: list[Node] = field(default_factory=list)
    uid: int = field(default_factory=lambda: next(_uids))
    duration_ms: int | None = None  # from pipeline:step_completed, until the database says more
    # What data() answered, by (column, role): a repaint asks thousands of times, a change clears it.
    cache: dict[tuple[int, int], Any] = field(default_factory=dict)

    def sort_key(self) -> tuple:
        if self.kind is Kind.EXECUTION:
            return (-self.id,)  # newest card on top
        if self.kind is Kind.STEP:
            return (0, self.id)
        if self.kind is Kind.JUMP:
            return (1, 1 if self.row.unassigned else 0, self.id)  # unassigned clips last
        return (2, self.row.modified or datetime.min.replace(tzinfo=timezone.utc), self.id)


class ImportsModel(QAbstractItemModel):
    thumbnail_wanted = Signal(int, str)  # jump id, path of the QR frame image
    activity_changed = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._root = Node(Kind.ROOT, 0)
        self._by_uid: dict[int, Node] = {}
        self._nodes: dict[tuple[Kind, int], Node] = {}
        self._thumbnails: dict[int, QPixmap] = {}
        # Steps that started before a snapshot brought their row (spawned and run at once):
        # they are shown running first, so the crew sees what ran, not only how it ended.
        self._started_unseen: set[int] = set()

    # -- lookups ------------------------------------------------------------------------------
    def node(self, kind: Kind, node_id: int) -> Node | None:
        return self._nodes.get((kind, node_id))

    def index_of(self, kind: Kind, node_id: int, column: int = 0) -> QModelIndex:
        node = self.node(kind, node_id)
        return self._index(node, column) if node is not None else QModelIndex()

    def node_at(self, index: QModelIndex | QPersistentModelIndex) -> Node | None:
        if not index.isValid():
            return None
        return self._by_uid.get(index.internalId())

    def execution_of(self, node: Node) -> Node | None:
        while node is not None and node.kind is not Kind.EXECUTION:
            node = node.parent
        return node

    def executions(self) -> list[Node]:
        return list(self._root.children)

    def iter_nodes(self, kind: Kind) -> Iterator[Node]:
        return (node for (k, _), node in list(self._nodes.items()) if k is kind)

    @staticmethod
    def clips_of(node: Node) -> list[Node]:
        return [child for child in node.children if child.kind is Kind.CLIP]

    def running_steps(self) -> int:
        return sum(1 for node in self.iter_nodes(Kind.STEP) if node.row.state == "running")

    def active_executions(self) -> list[Node]:
        return [node for node in self._root.children if node.row.state not in FINAL_STATES]

    # -- Qt model API -------------------------------------------------------------------------
    def _index(self, node: Node, column: int = 0) -> QModelIndex:
        if node is self._root or node.parent is None:
            return QModelIndex()
        return self.createIndex(node.parent.children.index(node), column, node.uid)

    def index(self, row: int, column: int, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> QModelIndex:
        owner = self.node_at(parent) if parent.isValid() else self._root
        if owner is None or not (0 <= row < len(owner.children)) or not (0 <= column < len(Column)):
            return QModelIndex()
        return self.createIndex(row, column, owner.children[row].uid)

    def parent(self, index: QModelIndex | QPersistentModelIndex = QModelIndex()) -> QModelIndex:  # type: ignore[override]
        node = self.node_at(index)
        if node is None or node.parent is None or node.parent is self._root:
            return QModelIndex()
        return self._index(node.parent)

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
        key = (index.column(), role)
        try:
            return node.cache[key]
        except KeyError:
            value = node.cache[key] = self._data(node, Column(index.column()), role)
            return value

    def _data(self, node: Node, column: Column, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(node, column)
        if role == Qt.ItemDataRole.DecorationRole:
            return self._decoration(node, column)
        if role == Qt.ItemDataRole.ForegroundRole:
            state = self._state(node)
            # The state column always speaks in colour; a failed row's name turns red as well.
            if column == Column.STATE or (column == Column.NAME and state == "failed"):
                return STATE_COLOURS.get(state)
            return None
        if role == Qt.ItemDataRole.FontRole:
            return self._font(node)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(node)
        if role == KIND_ROLE:
            return node.kind.value
        if role == ID_ROLE:
            return node.id
        if role == STATE_ROLE:
            return self._state(node)
        if role == PROGRESS_ROLE and column == Column.PROGRESS:
            return self._progress(node)
        if role == ROW_ROLE:
            return node.row
        return None

    # -- what a row shows ---------------------------------------------------------------------
    def _state(self, node: Node) -> str:
        if node.kind is Kind.JUMP:
            return self._jump_state(node)
        if node.kind is Kind.CLIP:
            return "succeeded" if node.row.state == "stored" else node.row.state
        return node.row.state

    def _jump_state(self, node: Node) -> str:
        states = [child.row.state for child in node.children if child.kind is Kind.STEP]
        if node.row.unassigned:
            return "waiting" if self.clips_of(node) else "succeeded"
        return group_state(states)  # as the core derives an execution's state from its steps

    def _display(self, node: Node, column: Column) -> str:
        row = node.row
        if node.kind is Kind.EXECUTION:
            return {
                Column.NAME: row.card_label or row.card_id or f"Import {row.id}",
                Column.STATE: state_text(row.state),
                Column.INFO: row.detector_id,
                Column.CLIPS: f"{row.files_new}/{row.files_total} new",
                Column.PROGRESS: self._progress_text(node),
                Column.DURATION: human_duration(self._elapsed(row.created_at, row.finished_at)),
                Column.TIME: local_time(row.created_at),
            }[column]
        if node.kind is Kind.JUMP:
            if row.unassigned:
                name = "Unassigned clips"
            else:
                name = row.passenger_name or "Passenger (reading QR code…)"
            return {
                Column.NAME: name,
                Column.STATE: state_text(self._jump_state(node)) if not row.unassigned else (
                    "assign by hand" if self.clips_of(node) else "all assigned"),
                Column.INFO: row.booking_id,
                Column.CLIPS: f"{row.clip_count} clip{'s' if row.clip_count != 1 else ''}",
                Column.PROGRESS: self._progress_text(node),
                Column.DURATION: human_duration(row.total_duration_s),
                Column.TIME: "",
            }[column]
        if node.kind is Kind.STEP:
            return {
                Column.NAME: step_title(row.name, row.key),
                Column.STATE: state_text(row.state),
                Column.INFO: f"attempt {row.attempt}" if row.attempt and row.state not in NOT_STARTED else "",
                Column.CLIPS: "",
                Column.PROGRESS: self._progress_text(node),
                Column.DURATION: human_duration(self._step_seconds(node)),
                Column.TIME: local_time(row.started_at),
            }[column]
        return {  # a clip
            Column.NAME: row.name,
            Column.STATE: "stored" if row.state == "stored" else row.state,
            Column.INFO: human_bytes(row.size),
            Column.CLIPS: "",
            Column.PROGRESS: "",
            Column.DURATION: human_duration(row.duration_s),
            Column.TIME: local_time(row.modified),
        }[column]

    def _decoration(self, node: Node, column: Column) -> Any:
        if column == Column.STATE and node.kind is not Kind.CLIP:
            return state_icon(self._state(node))
        if column != Column.NAME:
            return None
        if node.kind is Kind.EXECUTION:
            return icon("card")
        if node.kind is Kind.JUMP:
            if node.row.unassigned:
                return icon("unassigned")
            thumbnail = self._thumbnails.get(node.id)
            return QIcon(thumbnail) if thumbnail is not None else icon("passenger")  # scaled to the view's icon size
        if node.kind is Kind.CLIP:
            return icon("clip")
        return None

    def _font(self, node: Node) -> QFont | None:
        if node.kind is Kind.EXECUTION or (node.kind is Kind.JUMP and not node.row.unassigned):
            return _font(bold=True)
        if node.kind is Kind.JUMP and node.row.unassigned:
            return _font(italic=True)
        return None

    def _tooltip(self, node: Node) -> str | None:
        if node.kind is Kind.STEP and node.row.error:
            return node.row.error
        if node.kind is Kind.EXECUTION and node.row.error:
            return node.row.error
        if node.kind is Kind.JUMP and node.row.output_dir:
            return node.row.output_dir
        if node.kind is Kind.CLIP:
            return node.row.stored_path or node.row.path
        return None

    def _progress(self, node: Node) -> float | None:
        if node.kind is Kind.STEP:
            row = node.row
            if row.progress_total > 0:
                return min(1.0, row.progress_done / row.progress_total)
            if row.state in DONE_STATES:
                return 1.0
            return None
        if node.kind in (Kind.EXECUTION, Kind.JUMP):
            steps = list(self._steps_under(node))
            if not steps:
                return None
            return sum(1 for step in steps if step.row.state in FINAL_STATES) / len(steps)
        return None

    def _progress_text(self, node: Node) -> str:
        if node.kind is Kind.STEP:
            row = node.row
            return f"{row.progress_done}/{row.progress_total}" if row.progress_total > 0 else ""
        steps = list(self._steps_under(node))
        if not steps:
            return ""
        done = sum(1 for step in steps if step.row.state in FINAL_STATES)
        return f"{done}/{len(steps)} steps"

    def _steps_under(self, node: Node) -> Iterator[Node]:
        for child in node.children:
            if child.kind is Kind.STEP:
                yield child
            elif child.kind is Kind.JUMP:
                yield from self._steps_under(child)

    @staticmethod
    def _elapsed(start: datetime | None, end: datetime | None) -> float | None:
        if start is None:
            return None
        return max(0.0, ((end or datetime.now(timezone.utc)) - start).total_seconds())

    def _step_seconds(self, node: Node) -> float | None:
        row = node.row
        if row.state in ("pending", "queued", "upstream_failed"):
            return None
        if node.duration_ms is not None and row.state in FINAL_STATES:
            return node.duration_ms / 1000  # the engine's own measure, until the database has both times
        if row.started_at is not None and (row.finished_at is not None or row.state in ("running", "waiting")):
            return self._elapsed(row.started_at, row.finished_at)
        return None

    # -- changing rows ------------------------------------------------------------------------
    def _insert(self, parent: Node, node: Node) -> None:
        keys = [child.sort_key() for child in parent.children]
        position = bisect.bisect(keys, node.sort_key())
        self.beginInsertRows(self._index(parent), position, position)
        node.parent = parent
        parent.children.insert(position, node)
        self._register(node)
        self.endInsertRows()
        self._changed_with_ancestors(parent)  # counts and states above it changed

    def _register(self, node: Node) -> None:
        self._by_uid[node.uid] = node
        self._nodes[(node.kind, node.id)] = node
        for child in node.children:
            self._register(child)

    def _unregister(self, node: Node) -> None:
        self._by_uid.pop(node.uid, None)
        if self._nodes.get((node.kind, node.id)) is node:
            del self._nodes[(node.kind, node.id)]
        for child in node.children:
            self._unregister(child)

    def _remove(self, node: Node) -> None:
        parent = node.parent
        assert parent is not None
        row = parent.children.index(node)
        self.beginRemoveRows(self._index(parent), row, row)
        parent.children.pop(row)
        self._unregister(node)
        node.parent = None
        self.endRemoveRows()
        self._changed_with_ancestors(parent)

    def _move(self, node: Node, new_parent: Node) -> None:
        """Give a row a new parent (a step learns which passenger it works for)."""
        old_parent = node.parent
        assert old_parent is not None
        source_row = old_parent.children.index(node)
        keys = [child.sort_key() for child in new_parent.children if child is not node]
        target_row = bisect.bisect(keys, node.sort_key())
        same = old_parent is new_parent
        if same and target_row == source_row:
            return
        destination = target_row + 1 if same and target_row > source_row else target_row
        if not self.beginMoveRows(self._index(old_parent), source_row, source_row,
                                  self._index(new_parent), destination):
            return
        old_parent.children.pop(source_row)
        new_parent.children.insert(target_row, node)
        node.parent = new_parent
        self.endMoveRows()
        self._changed_with_ancestors(old_parent)
        self._changed_with_ancestors(new_parent)

    def _changed(self, node: Node, first: Column = Column.NAME, last: Column = Column.TIME) -> None:
        node.cache.clear()
        self.dataChanged.emit(self._index(node, first), self._index(node, last))

    def _changed_with_ancestors(self, node: Node) -> None:
        while node is not None and node is not self._root:
            self._changed(node)
            node = node.parent

    def _set_row(self, node: Node, row: Any) -> None:
        if node.row != row:
            node.row = row
            self._changed_with_ancestors(node)

    # -- database snapshots -------------------------------------------------------------------
    def merge_snapshot(self, snapshot: ExecutionSnapshot) -> None:
        """Bring one execution's rows in line with the database: insert, update, move or remove
        only the rows that differ."""
        execution = self._upsert_execution(snapshot.execution)
        wanted_jumps = {jump.id for jump in snapshot.jumps}
        for jump in snapshot.jumps:
            self._upsert_jump(execution, jump)
        wanted_steps = {step.id for step in snapshot.steps}
        for step in snapshot.steps:
            parent = self.node(Kind.JUMP, step.jump_id) if step.jump_id is not None else execution
            self._upsert_step(parent or execution, step)
        wanted_clips = {clip.id for clip in snapshot.clips}
        for clip in snapshot.clips:
            jump = self.node(Kind.JUMP, clip.jump_id) if clip.jump_id is not None else None
            if jump is not None:
                self._upsert_clip(jump, clip)
        for node in list(self._steps_under(execution)):
            if node.id not in wanted_steps:
                self._remove(node)
        for jump in [child for child in execution.children if child.kind is Kind.JUMP]:
            for clip in [child for child in jump.children if child.kind is Kind.CLIP]:
                if clip.id not in wanted_clips:
                    self._remove(clip)
            if jump.id not in wanted_jumps and not jump.children:  # gone from the database
                self._remove(jump)
        self.activity_changed.emit()

    def _upsert_execution(self, row: ExecutionRow) -> Node:
        node = self.node(Kind.EXECUTION, row.id)
        if node is None:
            node = Node(Kind.EXECUTION, row.id, row)
            self._insert(self._root, node)
        else:
            self._set_row(node, row)
        return node

    def _upsert_jump(self, execution: Node, row: JumpRow) -> Node:
        node = self.node(Kind.JUMP, row.id)
        if node is None:
            node = Node(Kind.JUMP, row.id, row)
            self._insert(execution, node)
        else:
            wanted_frame = row.qr_frame_path != node.row.qr_frame_path
            self._set_row(node, row)
            if not wanted_frame:
                return node
        if row.qr_frame_path and row.id not in self._thumbnails:
            self.thumbnail_wanted.emit(row.id, row.qr_frame_path)
        return node

    def _upsert_step(self, parent: Node, row: StepRow) -> Node:
        node = self.node(Kind.STEP, row.id)
        if node is None:
            started = row.id in self._started_unseen and row.state != "running"
            self._started_unseen.discard(row.id)
            node = Node(Kind.STEP, row.id, dataclasses.replace(row, state="running") if started else row)
            self._insert(parent, node)
            if started:
                self._set_row(node, row)
            return node
        if node.parent is not parent:
            self._move(node, parent)
        if node.duration_ms is not None and (row.finished_at is not None or row.state not in FINAL_STATES):
            node.duration_ms = None  # the database's times are the better answer now
            self._changed(node)
        self._set_row(node, row)
        return node

    def _upsert_clip(self, jump: Node, row: ClipRow) -> Node:
        node = self.node(Kind.CLIP, row.id)
        if node is None:
            node = Node(Kind.CLIP, row.id, row)
            self._insert(jump, node)
        else:
            if node.parent is not jump:
                self._move(node, jump)
            self._set_row(node, row)
        return node

    def set_thumbnail(self, jump_id: int, pixmap: QPixmap) -> None:
        self._thumbnails[jump_id] = pixmap
        node = self.node(Kind.JUMP, jump_id)
        if node is not None:
            self._changed(node, Column.NAME, Column.NAME)

    def thumbnail(self, jump_id: int) -> QPixmap | None:
        return self._thumbnails.get(jump_id)

    # -- events -------------------------------------------------------------------------------
    def apply_event(self, event: Event) -> int | None:
        """Show what an event says at once; returns the execution whose rows should be re-read."""
        data = event.data
        kind = event.type
        execution_id = data.get("execution_id")
        if not kind.startswith("pipeline:") or not isinstance(execution_id, int):
            return None
        execution = self.node(Kind.EXECUTION, execution_id)
        when = parse_ts(data.get("ts"))
        if kind == "pipeline:started" and execution is None:
            self._upsert_execution(ExecutionRow(
                id=execution_id, card_id=str(data.get("card_id") or ""), card_label="",
                detector_id=str(data.get("detector_id") or ""), state="running",
                files_total=int(data.get("files_total") or 0), files_new=int(data.get("files_new") or 0),
                created_at=when, finished_at=None,
            ))
        elif kind == "pipeline:step_started":
            started: dict[str, Any] = {"state": "running", "started_at": when, "finished_at": None, "error": None}
            if isinstance(data.get("attempt"), int):
                started["attempt"] = data["attempt"]  # the core's count: 1 on a first run
            self._update_step(data.get("step_id"), **started)
            self._update_execution(execution, state="running", finished_at=None)
        elif kind == "pipeline:step_completed":
            progress = data.get("progress") or {}
            changes: dict[str, Any] = {"state": str(data.get("status") or "succeeded"), "finished_at": when}
            if isinstance(progress, dict) and isinstance(progress.get("total"), int) and progress["total"] > 0:
                changes.update(progress_done=int(progress.get("done") or 0), progress_total=progress["total"])
            duration = data.get("duration_ms")
            duration_ms = duration if isinstance(duration, int) else None
            self._update_step(data.get("step_id"), duration_ms=duration_ms, **changes)
        elif kind == "pipeline:cancelled":
            self._update_execution(execution, state="cancelled", finished_at=when)
        elif kind == "pipeline:failed":
            self._update_step(data.get("step_id"), state="failed", error=str(data.get("error") or ""), finished_at=when)
            self._update_execution(execution, state="failed", error=str(data.get("error") or ""), finished_at=when)
        elif kind == "pipeline:completed":
            self._update_execution(execution, state="succeeded", finished_at=when)
        elif kind == "pipeline:qr_decoded" and execution is not None:
            self._qr_decoded(execution, data)
        self.activity_changed.emit()
        return execution_id

    def _update_step(self, step_id: Any, duration_ms: int | None = None, **changes: Any) -> Node | None:
        node = self.node(Kind.STEP, step_id) if isinstance(step_id, int) else None
        if node is None:  # a step the tree has not seen yet: the snapshot brings it
            if changes.get("state") == "running" and isinstance(step_id, int):
                self._started_unseen.add(step_id)
            return None
        if duration_ms is not None:
            node.duration_ms = duration_ms  # before the row changes: the repaint reads it
        if changes.get("state") == "running" and node.row.state != "running":
            node.duration_ms = None
        self._set_row(node, dataclasses.replace(node.row, **changes))
        return node

    def _update_execution(self, node: Node | None, **changes: Any) -> None:
        if node is None:
            return
        if node.row.state == "cancelled" and changes.get("state") == "running":
            return
        self._set_row(node, dataclasses.replace(node.row, **changes))

    def _qr_decoded(self, execution: Node, data: dict[str, Any]) -> None:
        passenger = data.get("passenger") if isinstance(data.get("passenger"), dict) else {}
        jump_id = data.get("jump_id")
        if not isinstance(jump_id, int):
            return
        node = self.node(Kind.JUMP, jump_id)
        name = str(passenger.get("passenger_name") or "")
        booking = str(passenger.get("booking_id") or "")
        if node is None:
            self._upsert_jump(execution, JumpRow(
                id=jump_id, execution_id=execution.id, unassigned=False, passenger_name=name, booking_id=booking,
                qr_frame_path=None, output_dir=None, video_path=None, clip_count=0, total_duration_s=None,
            ))
        else:
            self._set_row(node, dataclasses.replace(node.row, passenger_name=name or node.row.passenger_name,
                                                    booking_id=booking or node.row.booking_id))

    def tick(self) -> None:
        """Once a second: running steps' and imports' durations move on."""
        for node in self.iter_nodes(Kind.STEP):
            if node.row.state in ("running", "waiting"):
                self._changed(node, Column.DURATION, Column.DURATION)
        for node in self._root.children:
            if node.row.state not in FINAL_STATES:
                self._changed(node, Column.DURATION, Column.DURATION)
