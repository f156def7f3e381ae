"""Keeps the Passengers view in step with the station (the day's passengers read through
the read model, refreshed on `passenger:updated` and pipeline events) and carries out what the
crew asks: play, open folder, render again, move a clip (the orchestrator's commands)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QImage, QPixmap

from app.events import Event
from app.gui.background import Background
from app.gui.passengers_data import day_view, passenger_of
from app.gui.passengers_model import PassengersModel
from app.pipeline.read_model import ReadModel

# Events come in bursts (a card's steps): one read per burst.
SYNC_DELAY_S = 0.3
THUMBNAIL_SIZE = (48, 27)
# Pipeline events after which the day's list (new passengers, unassigned clips) is read again.
DAY_EVENTS = frozenset({"pipeline:completed", "pipeline:failed", "pipeline:cancelled", "pipeline:clips_assigned"})
# Steps whose end changes what a passenger's clips are (filed in the library).
CLIP_STEPS = frozenset({"request_session_videos", "assign_jumps"})


def _load_thumbnail(path: str) -> QImage | None:
    """On a worker thread: QImage (unlike QPixmap) may be made off the GUI thread."""
    image = QImage(path)
    if image.isNull():
        return None
    return image.scaled(*THUMBNAIL_SIZE, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)


class PassengersController(QObject):
    message = Signal(str)  # for the status line
    problem = Signal(str)  # a command the station refused, in words
    days_changed = Signal(list, str)  # every day with passengers (newest first), the day shown

    def __init__(self, station: Any, model: PassengersModel,
                 open_url: Callable[[QUrl], Any] = QDesktopServices.openUrl,
                 today: Callable[[], date] = date.today, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.station = station
        self.model = model
        self.open_url = open_url
        self.today = today  # the day shown when no day has passengers yet
        self.days: list[str] = []
        self.follow_newest = True  # until the crew picks a day, a newer day's first passenger shows it
        self.background = Background(self.problem.emit)
        self._dirty_passengers: set[int] = set()
        self._day_dirty = False
        self._flush_handle: asyncio.TimerHandle | None = None
        self._closed = False
        model.thumbnail_wanted.connect(self._want_thumbnail)

    def _db(self) -> Any:
        if self.station.db is None:
            raise RuntimeError("the database is not open")
        return self.station.db

    def _reads(self) -> ReadModel:
        return ReadModel(self._db())

    def _orchestrator(self) -> Any:
        orchestrator = self.station.orchestrator
        if orchestrator is None:
            raise RuntimeError("the station's pipeline is not running")
        return orchestrator

    async def idle(self) -> None:
        """Until every scheduled read and command has finished (tests, screenshots). A read
        waiting out its pause starts at once: nothing here hangs on that timer."""
        while self.background.busy or self._flush_handle is not None:
            if self._flush_handle is not None and not self.background.busy:
                self._flush_handle.cancel()
                self._start_flush()  # the flush clears the handle when it ends
            await self.background.idle()

    async def close(self) -> None:
        self._closed = True
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        await self.background.close()

    # -- reading the day ----------------------------------------------------------------------
    async def load(self, day: str | None = None) -> None:
        """Show `day`'s passengers; with None, the newest day that has passengers."""
        view = day_view(await self._reads().passengers_day(day, self.today().isoformat()))
        if day is None and not self.follow_newest:
            return  # the crew picked a day while this read ran: theirs wins
        self.model.show_day(view.day, view.passengers, view.unassigned)
        self.days = list(view.days)
        self.days_changed.emit(self.days, view.day)

    def choose_day(self, day: str) -> asyncio.Task[Any]:
        self.follow_newest = not self.days or day == self.days[0]
        return self.background.spawn(self.load(day), "Reading the day's passengers")

    # -- events -------------------------------------------------------------------------------
    def handle_event(self, event: Event) -> None:
        data = event.data
        passenger_id = data.get("passenger_id")
        if event.type == "passenger:updated" and isinstance(passenger_id, int):
            state = data.get("video_state")
            if isinstance(state, str):
                self.model.set_video_state(passenger_id, state)  # at once; the read follows
            self._mark(passenger_id)
        elif event.type == "pipeline:qr_decoded" and isinstance(passenger_id, int):
            self._mark(passenger_id)
        elif event.type in DAY_EVENTS or (event.type == "pipeline:step_completed" and data.get("step") in CLIP_STEPS):
            self._mark(None)

    def _mark(self, passenger_id: int | None) -> None:
        """Read this passenger (None: the whole day) again, after a short pause."""
        if passenger_id is None:
            self._day_dirty = True
        else:
            self._dirty_passengers.add(passenger_id)
        if self._flush_handle is None and not self._closed:
            self._flush_handle = asyncio.get_running_loop().call_later(SYNC_DELAY_S, self._start_flush)

    def _start_flush(self) -> None:
        self.background.spawn(self._flush(), "Reading the passengers")

    async def _flush(self) -> None:
        try:
            day_dirty, self._day_dirty = self._day_dirty, False
            passenger_ids, self._dirty_passengers = sorted(self._dirty_passengers), set()
            if day_dirty:
                await self.load(self._day_to_show())
                return
            for passenger_id in passenger_ids:
                row = passenger_of(await self._reads().passenger(passenger_id))
                if row is None:
                    continue
                if row.day not in self.days:  # the first passenger of a new day
                    await self.load(self._day_to_show())
                else:
                    self.model.upsert_passenger(row)
        finally:
            self._flush_handle = None
            if (self._day_dirty or self._dirty_passengers) and not self._closed:
                self._flush_handle = asyncio.get_running_loop().call_later(SYNC_DELAY_S, self._start_flush)

    def _day_to_show(self) -> str | None:
        """The day shown after a refresh: the newest (None) unless the crew chose another."""
        return None if self.follow_newest else self.model.day

    def _want_thumbnail(self, passenger_id: int, path: str) -> None:
        self.background.spawn(self._load_thumbnail(passenger_id, path), "Loading a QR frame")

    async def _load_thumbnail(self, passenger_id: int, path: str) -> None:
        image = await asyncio.get_running_loop().run_in_executor(None, _load_thumbnail, path)
        if image is not None:
            self.model.set_thumbnail(passenger_id, QPixmap.fromImage(image))

    # -- what the crew asks -------------------------------------------------------------------
    def _open(self, path: str | Path) -> None:
        if not Path(path).exists():
            self.problem.emit(f"{path} does not exist (yet)")
            return
        self.open_url(QUrl.fromLocalFile(str(path)))

    def play(self, passenger_id: int) -> None:
        node = self.model.passenger(passenger_id)
        if node is None:
            return
        row = node.row
        if row.video_state != "ready" or not row.video_path:
            self.problem.emit(f"{row.passenger_name}'s video is not ready ({row.video_state})")
            return
        self._open(row.video_path)

    def open_folder(self, passenger_id: int) -> None:
        node = self.model.passenger(passenger_id)
        if node is not None:
            self._open(node.row.folder)

    def open_clip_folder(self, file_id: int) -> None:
        node = self.model.clip(file_id)
        if node is not None and node.row.stored_path:
            self._open(Path(node.row.stored_path).parent)
        else:
            self.problem.emit("This clip is not in the library yet")

    def rerender(self, passenger_id: int) -> asyncio.Task[Any]:
        async def rerender() -> None:
            execution_id = await self._orchestrator().rerender(passenger_id)
            node = self.model.passenger(passenger_id)
            who = node.row.passenger_name if node is not None else f"passenger {passenger_id}"
            self.message.emit(f"Rendering {who}'s video again (import {execution_id})")

        return self.background.spawn(rerender(), "Render again")

    def move_clip(self, file_id: int, passenger_id: int | None) -> asyncio.Task[Any]:
        async def move() -> None:
            clip = self.model.clip(file_id)
            await self._orchestrator().move_clip(file_id, passenger_id)
            target = self.model.passenger(passenger_id) if passenger_id is not None else None
            where = target.row.passenger_name if target is not None else "the unassigned clips"
            self.message.emit(f"{clip.row.name if clip else 'The clip'} moved to {where}: rendering again")
            self._mark(None)

        return self.background.spawn(move(), "Move clip")
