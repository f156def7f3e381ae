"""A started station with its window, and database rows shaped like a card import."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

from PySide6.QtCore import QUrl

from app.config import Settings
from app.db.models import ExecutionFile, Jump, PipelineExecution, PipelineStep, PipelineStepLog
from app.gui.main_window import MainWindow
from app.station import Station


async def wait_until(predicate: Callable[[], Any], timeout: float = 10, what: str = "condition") -> Any:
    """Poll on the running loop (never a nested Qt loop) until `predicate()` is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


@asynccontextmanager
async def open_window(settings: Settings) -> AsyncIterator[MainWindow]:
    station = Station(settings)
    await station.start()
    opened: list[QUrl] = []
    window = MainWindow(station, open_url=opened.append)
    window.opened_urls = opened  # what "Open folder" / "Play video" asked the desktop to open
    try:
        await window.start()
        window.show()
        yield window
    finally:
        window.close()
        await window.shutdown()
        await station.stop()
        window.deleteLater()


def add_card_import(session, *, label: str = "GOPRO-ANA", card_id: str = "3A1F-77C2",
                    detector_id: str = "desk-left", passengers: tuple[tuple[str, str], ...] = (("Ana Silva", "BK-1042"),),
                    unassigned_clips: int = 0, library: str = "/tmp/library") -> dict[str, Any]:
    """An execution with card-wide steps, one jump per passenger (with its steps) and, if asked,
    an unassigned group of clips. Returns the ids."""
    now = datetime.now(timezone.utc)
    execution = PipelineExecution(pipeline="card_import", state="running", detector_id=detector_id, card_id=card_id,
                                  card_label=label, files_total=10, files_new=6)
    session.add(execution)
    session.flush()
    ids: dict[str, Any] = {"execution": execution.id, "jumps": {}, "steps": {}, "clips": []}
    for name in ("receive_file_list", "filter_new_files", "request_qr_videos"):
        step = PipelineStep(execution_id=execution.id, name=name, state="succeeded", attempt=1,
                            started_at=now - timedelta(seconds=30), finished_at=now - timedelta(seconds=29))
        session.add(step)
        session.flush()
        ids["steps"][name] = step.id
    for index, (passenger, booking) in enumerate(passengers):
        jump = Jump(execution_id=execution.id, card_id=card_id, booking_id=booking, passenger_name=passenger,
                    passenger={"booking_id": booking, "passenger_name": passenger},
                    output_dir=f"{library}/2026-11-23/{booking} {passenger}")
        session.add(jump)
        session.flush()
        ids["jumps"][passenger] = jump.id
        clip = f"DCIM/100GOPRO/GX01{index:04d}.MP4"
        session.add(ExecutionFile(execution_id=execution.id, path=clip, size=1000, modified=now, fingerprint=f"f{index}",
                                  kind="video", state="stored", jump_id=jump.id, media={"duration_s": 61.5}))
        for name, key in (("decode_qr", clip), ("render_final", str(jump.id))):
            step = PipelineStep(execution_id=execution.id, name=name, key=key, state="pending",
                                params={"jump_id": jump.id} if name == "render_final" else {"path": clip})
            session.add(step)
            session.flush()
            ids["steps"][(name, passenger)] = step.id
    cleanup = PipelineStep(execution_id=execution.id, name="cleanup", state="pending")
    session.add(cleanup)
    session.flush()
    ids["steps"]["cleanup"] = cleanup.id
    if unassigned_clips:
        group = Jump(execution_id=execution.id, card_id=card_id, unassigned=True,
                     output_dir=f"{library}/2026-11-23/_unassigned/{card_id}")
        session.add(group)
        session.flush()
        ids["jumps"]["unassigned"] = group.id
        for index in range(unassigned_clips):
            file = ExecutionFile(execution_id=execution.id, path=f"DCIM/100GOPRO/GX99{index:04d}.MP4", size=2000,
                                 modified=now - timedelta(hours=1, minutes=index), fingerprint=f"u{index}",
                                 kind="video", state="stored", jump_id=group.id)
            session.add(file)
            session.flush()
            ids["clips"].append(file.id)
    return ids


def add_log(session, step_id: int, message: str, level: str = "INFO", attempt: int = 1) -> None:
    session.add(PipelineStepLog(step_id=step_id, attempt=attempt, level=level, message=message))


def set_step(session, step_id: int, **fields: Any) -> None:
    step = session.get(PipelineStep, step_id)
    for key, value in fields.items():
        setattr(step, key, value)
