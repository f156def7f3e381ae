"""Keeps the Imports tree, the Detectors panel and the details panel in step with the station,
and carries out what the crew asks from the menus (through the station's facades only)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QImage, QPixmap
from PySide6.QtWidgets import QFileDialog

from app.events import Event
from app.gui.background import Background
from app.gui.detectors_state import DetectorsState
from app.gui.imports_model import ImportsModel, Kind, Node
from app.gui.views.assign_dialog import AssignDialog
from app.gui.views.handoff_dialog import HandoffDialog
from app.gui.views.step_details import StepDetailsPanel
from app.pipeline.export import export_passenger
from app.pipeline.read_model import ReadModel

log = logging.getLogger(__name__)

# Events arrive in bursts (a card with 200 files); one database read per execution per burst.
SYNC_DELAY_S = 0.3
THUMBNAIL_SIZE = (144, 88)


def _load_thumbnail(path: str) -> QImage | None:
    """On a worker thread: QImage (unlike QPixmap) may be made off the GUI thread."""
    image = QImage(path)
    if image.isNull():
        return None
    return image.scaled(*THUMBNAIL_SIZE, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)


class ImportsController(QObject):
    message = Signal(str)  # for the status line
    problem = Signal(str)  # an action the station refused, in words

    def __init__(
        self,
        station: Any,
        model: ImportsModel,
        detectors: DetectorsState,
        details: StepDetailsPanel,
        open_url: Callable[[QUrl], Any] = QDesktopServices.openUrl,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.station = station
        self.model = model
        self.detectors = detectors
        self.details = details
        self.open_url = open_url
        self.assign_dialog: AssignDialog | None = None
        self.handoff_dialog: HandoffDialog | None = None
        self.export_dialog: QFileDialog | None = None
        self._dirty: set[int] = set()
        self._flush_handle: asyncio.TimerHandle | None = None
        self._background = Background(self.problem.emit)
        self._selected: Node | None = None
        self._closed = False
        model.thumbnail_wanted.connect(self._want_thumbnail)

    # -- plumbing ----------------------------------------------------------------------------
    def spawn(self, coro: Awaitable[Any], what: str) -> asyncio.Task[Any]:
        return self._background.spawn(coro, what)

    async def close(self) -> None:
        self._closed = True
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        await self._background.close()

    async def idle(self) -> None:
        """Wait until every scheduled read and action has finished (tests, screenshots). A read
        waiting out its pause starts at once: nothing here hangs on that timer."""
        while self._background.busy or self._flush_handle is not None:
            if self._flush_handle is not None and not self._background.busy:
                self._flush_handle.cancel()
                self._start_flush()  # the flush clears the handle when it ends
            await self._background.idle()

    def _db(self) -> Any:
        if self.station.db is None:
            raise RuntimeError("the database is not open")
        return self.station.db

    def _reads(self) -> ReadModel:
        return ReadModel(self._db())

    # -- events and database reads ------------------------------------------------------------
    def handle_event(self, event: Event) -> None:
        self.detectors.apply_event(event)
        execution_id = self.model.apply_event(event)
        if execution_id is not None:
            self.mark_dirty(execution_id)

    def mark_dirty(self, execution_id: int) -> None:
        self._dirty.add(execution_id)
        if self._flush_handle is None:
            loop = asyncio.get_running_loop()
            self._flush_handle = loop.call_later(SYNC_DELAY_S, self._start_flush)

    def _start_flush(self) -> None:
        self.spawn(self._flush(), "Reading the import from the database")

    async def _flush(self) -> None:
        try:
            execution_ids, self._dirty = sorted(self._dirty), set()
            for execution_id in execution_ids:
                snapshot = await self._reads().execution(execution_id)
                if snapshot is not None:
                    self.model.merge_snapshot(snapshot)
                    self.detectors.set_card_label(execution_id, snapshot.execution.card_label)
            await self._refresh_details(execution_ids)
        finally:
            self._flush_handle = None
            if self._dirty and not self._closed:  # more happened meanwhile: read again after a pause
                self._flush_handle = asyncio.get_running_loop().call_later(SYNC_DELAY_S, self._start_flush)

    async def load_recent(self, limit: int = 50) -> None:
        snapshots = await self._reads().recent(limit)
        for snapshot in reversed(snapshots):
            self.model.merge_snapshot(snapshot)

    def _want_thumbnail(self, jump_id: int, path: str) -> None:
        self.spawn(self._load_thumbnail(jump_id, path), "Loading a QR frame")

    async def _load_thumbnail(self, jump_id: int, path: str) -> None:
        image = await asyncio.get_running_loop().run_in_executor(None, _load_thumbnail, path)
        if image is not None:
            self.model.set_thumbnail(jump_id, QPixmap.fromImage(image))
            if self._selected is not None and self._selected.kind is Kind.JUMP and self._selected.id == jump_id:
                self.select(self._selected)

    # -- the details panel --------------------------------------------------------------------
    def select(self, node: Node | None) -> None:
        self._selected = node
        if node is None:
            self.details.show_nothing()
        elif node.kind is Kind.STEP:
            self.spawn(self._show_step(node.id), "Reading the step's log")
        elif node.kind is Kind.JUMP:
            self.details.show_jump(node.row, self.model.thumbnail(node.id))
        elif node.kind is Kind.EXECUTION:
            self.details.show_execution(node.row)
        elif node.kind is Kind.CLIP and node.parent is not None:
            self.details.show_jump(node.parent.row, None)

    async def _show_step(self, step_id: int) -> None:
        details = await self._reads().step_details(step_id)
        selected = self._selected
        if details is not None and selected is not None and selected.kind is Kind.STEP and selected.id == step_id:
            self.details.show_step(details)

    async def _refresh_details(self, execution_ids: list[int]) -> None:
        node = self._selected
        if node is None or node.parent is None:
            return  # nothing shown, or the row is gone
        execution = self.model.execution_of(node)
        if execution is not None and execution.id in execution_ids:
            if node.kind is Kind.STEP:
                await self._show_step(node.id)
            else:
                self.select(node)

    # -- what the menus do --------------------------------------------------------------------
    def _engine(self) -> Any:
        if self.station.engine is None:
            raise RuntimeError("the station has no pipeline engine running")
        return self.station.engine

    def _orchestrator(self) -> Any:
        if self.station.orchestrator is None:
            raise RuntimeError("the station has no orchestrator running")
        return self.station.orchestrator

    def _handoff(self) -> Any:
        if self.station.handoff is None:
            raise RuntimeError("the station has no hand-off server running")
        return self.station.handoff

    def retry_step(self, execution_id: int, step_id: int) -> None:
        async def retry() -> None:
            await self._engine().retry(execution_id, step_id)
            self.message.emit(f"Retrying 1 step of import {execution_id}")
            self.mark_dirty(execution_id)

        self.spawn(retry(), "Retry")

    def retry_failed(self, execution_id: int) -> None:
        async def retry_failed() -> None:
            reset = await self._engine().retry_failed(execution_id)  # all of them or none
            self.message.emit(f"Retrying {len(reset)} step{'s' if len(reset) != 1 else ''} of import {execution_id}")
            self.mark_dirty(execution_id)

        self.spawn(retry_failed(), "Retry")

    def cancel(self, execution_id: int) -> None:
        async def cancel() -> None:
            await self._engine().cancel(execution_id)
            self.message.emit(f"Import {execution_id} cancelled")
            self.mark_dirty(execution_id)

        self.spawn(cancel(), "Cancel")

    def open_path(self, path: str | os.PathLike[str]) -> None:
        if not Path(path).exists():
            self.problem.emit(f"{path} does not exist (yet)")
            return
        self.open_url(QUrl.fromLocalFile(str(path)))

    def open_execution_folder(self, execution_id: int) -> None:
        async def find_and_open() -> None:
            folders = await self._reads().output_folders(execution_id)
            if folders:
                common = Path(os.path.commonpath(folders))
                self.open_path(common if common.is_dir() else common.parent)
            else:
                self.open_path(self.station.settings.library)

        self.spawn(find_and_open(), "Open folder")

    def open_jump_folder(self, jump_id: int) -> None:
        node = self.model.node(Kind.JUMP, jump_id)
        if node is not None and node.row.output_dir:
            self.open_path(node.row.output_dir)
        else:
            self.problem.emit("This passenger has no folder yet")

    def play_jump(self, jump_id: int) -> None:
        node = self.model.node(Kind.JUMP, jump_id)
        if node is not None and node.row.video_path:
            self.open_path(node.row.video_path)
        else:
            self.problem.emit("This passenger's video is not rendered yet")

    def ask_assign(self, execution_id: int, clip_ids: list[int]) -> None:
        async def open_dialog() -> None:
            jumps = await self._reads().jumps_of_card(execution_id)
            names = [self.model.node(Kind.CLIP, clip_id).row.name for clip_id in clip_ids
                     if self.model.node(Kind.CLIP, clip_id) is not None]
            dialog = AssignDialog(names, jumps, self.details.window())
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dialog.accepted.connect(lambda: self.assign_clips(
                execution_id, clip_ids, jump_id=dialog.chosen_jump(), passenger=dialog.new_passenger()))
            dialog.destroyed.connect(lambda: setattr(self, "assign_dialog", None))
            self.assign_dialog = dialog
            dialog.open()  # not exec(): the event loop keeps serving Detectors meanwhile

        self.spawn(open_dialog(), "Assign")

    def assign_clips(self, execution_id: int, clip_ids: list[int], *, jump_id: int | None = None,
                     passenger: dict[str, str] | None = None) -> asyncio.Task[Any]:
        async def assign() -> None:
            await self._orchestrator().assign_clips(execution_id, clip_ids, jump_id=jump_id, passenger=passenger)
            who = passenger["passenger_name"] if passenger else (
                self.model.node(Kind.JUMP, jump_id).row.passenger_name if self.model.node(Kind.JUMP, jump_id) else "")
            self.message.emit(f"{len(clip_ids)} clip{'s' if len(clip_ids) != 1 else ''} assigned to {who}")
            self.mark_dirty(execution_id)

        return self.spawn(assign(), "Assign")

    # -- the passenger's product and the card's report ----------------------------------------
    def hand_off(self, jump_id: int) -> asyncio.Task[Any]:
        async def show_link() -> None:
            handoff = self._handoff()
            link = await handoff.create_link(jump_id)
            expires = link.expires_at.astimezone().strftime("%d %b %Y %H:%M")
            dialog = HandoffDialog(link.passenger_name, link.url, expires, handoff.qr_png(link.url),
                                   lambda: self.spawn(handoff.revoke_link(link.id), "Revoke"), self.details.window())
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dialog.destroyed.connect(lambda: setattr(self, "handoff_dialog", None))
            self.handoff_dialog = dialog
            dialog.open()

        return self.spawn(show_link(), "Hand-off")

    def ask_export(self, jump_id: int) -> None:
        dialog = QFileDialog(self.details.window(), "Export the passenger's folder to…")
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(lambda folder: self.export(jump_id, Path(folder)))
        dialog.destroyed.connect(lambda: setattr(self, "export_dialog", None))
        self.export_dialog = dialog
        dialog.open()

    def export(self, jump_id: int, dest: Path) -> asyncio.Task[Any]:
        async def export() -> None:
            self.message.emit(f"Exporting to {dest}…")
            report = await export_passenger(self._db(), self.station.settings.library, jump_id, dest)
            if report.verified:
                self.message.emit(f"Exported {len(report.files)} files to {report.dest}: every file verified")
            else:
                names = ", ".join(f.name for f in report.problems)
                self.problem.emit(f"Export to {report.dest}: {names} changed on the way; do not hand this copy over")

        return self.spawn(export(), "Export")

    def open_report(self, execution_id: int) -> None:
        async def find_and_open() -> None:
            report = await self._reads().offload_report(execution_id)
            if report is None:
                self.problem.emit(f"Import {execution_id} has no offload report yet (written when it completes)")
            else:
                self.open_path(report)

        self.spawn(find_and_open(), "Open report")
