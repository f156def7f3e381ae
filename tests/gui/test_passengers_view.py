"""The crew's view of the day (issue 13), driven as the crew does on the real window over a real
station core that imported a generated card: the passengers by name with their videos ready,
Play opens the passenger's video (Open folder their folder), a clip moved to the other passenger renders both again, Render
again renders again, a refused command is said in a message box."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex, Qt, QUrl
from PySide6.QtWidgets import QApplication, QMenu
from sqlalchemy import func, select

from app.db.models import ExecutionFile, PipelineExecution
from app.gui.imports_model import Kind as ImportsKind
from app.gui.passengers_model import Column, Kind
from app.media.sample_card import write_sample_card
from tests.gui.helpers import open_window, wait_until
from tests.importer.loopback import LoopbackDetector, wait_execution

pytestmark = [pytest.mark.gui, pytest.mark.slow]

DAY = "2026-11-23"  # the sample card's codes say so (no clock involved)


def _right_click(window, index: QModelIndex, action_text: str) -> None:
    """Right-click the row as the crew does and choose `action_text` from the menu that pops up."""
    tree = window.passengers.tree
    tree.scrollTo(index)
    tree.setCurrentIndex(index)
    tree.customContextMenuRequested.emit(tree.visualRect(index).center())
    menus = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMenu) and w.isVisible()]
    assert menus, "a context menu opened"
    actions = {action.text(): action for action in menus[-1].actions()}
    assert action_text in actions, f"{action_text!r} not in {list(actions)}"
    actions[action_text].trigger()
    menus[-1].close()


async def _renders_done(station, more_than: int) -> None:
    """Every `passenger_render` execution finished well, once there are more than `more_than`."""
    def ids(session) -> list[int]:
        return list(session.scalars(select(PipelineExecution.id).where(PipelineExecution.pipeline == "passenger_render")))
    renders: list[int] = []

    async def queued() -> bool:
        renders[:] = await station.db.read(ids)
        return len(renders) > more_than
    deadline = asyncio.get_running_loop().time() + 60
    while not await queued():
        assert asyncio.get_running_loop().time() < deadline, "a render was queued"
        await asyncio.sleep(0.05)
    for execution_id in renders:
        assert await wait_execution(station, execution_id, "succeeded", "failed", timeout=90) == "succeeded"


async def _render_count(station) -> int:
    return await station.db.read(lambda s: s.scalar(select(func.count()).select_from(PipelineExecution).where(
        PipelineExecution.pipeline == "passenger_render")))


def test_the_crews_view_of_the_day(run_async, station_settings, tmp_path, qtbot):
    card = write_sample_card(tmp_path / "card")
    ana_card, ben_card = card.passengers
    station_settings.small_file_bytes = (card.largest_qr_clip + card.smallest_jump_clip) // 2

    async def scenario() -> None:
        async with open_window(station_settings) as window:
            station = window.station
            view, model = window.passengers, window.passengers_model
            assert window.tabs.currentWidget() is view, "the window opens on the Passengers"
            states: dict[int, list[str]] = {}

            def record(first: QModelIndex, _last: QModelIndex, _roles=()) -> None:
                node = model.node_at(first)
                if node is not None and node.kind is Kind.PASSENGER:
                    seen = states.setdefault(node.id, [])
                    if not seen or seen[-1] != node.row.video_state:
                        seen.append(node.row.video_state)
            model.dataChanged.connect(record)

            station.orchestrator.link = LoopbackDetector(card.root, station)
            ack = await station.orchestrator.file_list("desk-left", "3A1F-77C2", "GOPRO-ANA", "1", card.file_list())
            assert await wait_execution(station, ack.execution_id, "succeeded", "failed", timeout=120) == "succeeded"

            # Both passengers appear by name, on their day, with their videos ready (live, no reload).
            def shown(name: str):
                return next((n for n in model.iter_nodes() if n.kind is Kind.PASSENGER
                             and n.row.passenger_name == name and n.row.video_state == "ready"
                             and n.row.video_path), None)
            ana = await wait_until(lambda: shown(ana_card.passenger_name), timeout=60, what="Ana ready")
            ben = await wait_until(lambda: shown(ben_card.passenger_name), timeout=60, what="Benoît ready")
            assert view.day.currentText() == DAY
            assert model.index_of(ana, Column.BOOKING).data() == ana_card.booking_id
            assert model.index_of(ana, Column.VIDEO).data() == "ready"
            assert model.index_of(ana, Column.CAMERAS).data() == "GOPRO-ANA"
            assert sorted(c.row.name for c in ana.children) == sorted(Path(p).name for p in ana_card.clips + ana_card.photos)
            await wait_until(lambda: model.thumbnail(ana.id) is not None, what="Ana's QR frame")

            # Play: the desktop is asked to open Ana's video.
            view.tree.setCurrentIndex(model.index_of(ana))
            assert view.play_button.isEnabled()
            qtbot.mouseClick(view.play_button, Qt.MouseButton.LeftButton)
            assert window.opened_urls[-1] == QUrl.fromLocalFile(ana.row.video_path)
            assert Path(ana.row.video_path).is_file() and Path(ana.row.video_path).parent == Path(ana.row.folder)
            qtbot.mouseClick(view.folder_button, Qt.MouseButton.LeftButton)
            assert window.opened_urls[-1] == QUrl.fromLocalFile(ana.row.folder)

            # The details panel beside the view shows the passenger selected; the Imports tab's
            # selection when that tab is in front; the passenger again on coming back.
            details = window.details
            assert details.title.text() == ana_card.passenger_name
            assert ana_card.booking_id in details.text() and ana.row.folder in details.text()
            assert "Video ready" in details.text().replace("\n", " ") and "QR code frame" in details.text()
            assert f"Instructor {ana_card.payload['instructor']}" in " ".join(details.text().split())
            window.tabs.setCurrentIndex(window.tabs.indexOf(window.imports.parentWidget()))
            window.imports.setCurrentIndex(window.model.index_of(ImportsKind.EXECUTION, ack.execution_id))
            assert details.title.text() == "GOPRO-ANA" and "import #" in details.text()
            window.tabs.setCurrentWidget(view)
            assert details.title.text() == ana_card.passenger_name
            first_clip = ana.children[0]
            view.tree.setCurrentIndex(model.index_of(first_clip))
            assert details.title.text() == ana_card.passenger_name and f"Clip {first_clip.row.name}" in details.text()

            # Move Ana's last clip to Benoît: both are rendered again.
            moved_name = Path(ana_card.clips[-1]).name
            moved = next(c for c in ana.children if c.row.name == moved_name)
            moved_id, ben_before = moved.id, ben.row.video_duration_s
            renders_before = await _render_count(station)
            states.clear()
            _right_click(window, model.index_of(moved), "Move clip…")
            dialog = await wait_until(lambda: view.move_dialog, what="the move dialog")
            assert dialog.offered() == [ben.id, None]  # the other passenger, or unassigned
            dialog.choose(ben.id)
            qtbot.mouseClick(dialog.ok, Qt.MouseButton.LeftButton)
            await wait_until(lambda: (model.clip(moved_id) is not None and model.clip(moved_id).parent is ben),
                             timeout=30, what="the clip under Benoît")
            await _renders_done(station, renders_before + 1)  # one render each
            await wait_until(lambda: ana.row.video_state == ben.row.video_state == "ready"
                             and ben.row.video_duration_s != ben_before, timeout=30, what="both ready again")
            assert "rendering" in states[ana.id] and "rendering" in states[ben.id], states
            assert ben.row.video_duration_s > ben_before
            assert model.index_of(model.clip(moved_id), Column.WARNINGS).data() == "placed by hand"
            document = json.loads((Path(ben.row.folder) / "passenger.json").read_text())
            assert ana_card.clips[-1] in [c["card_path"] for c in document["clips"]]
            owner = await station.db.read(lambda s: s.get(ExecutionFile, moved_id).jump.passenger_id)
            assert owner == ben.id

            # Render again: a new render of Ana, seen rendering then ready, the video written again.
            video = Path(ana.row.video_path)
            written = video.stat().st_mtime_ns
            renders_before = await _render_count(station)
            states.clear()
            _right_click(window, model.index_of(ana), "Render again")
            await _renders_done(station, renders_before)
            await wait_until(lambda: states.get(ana.id, [])[-1:] == ["ready"], timeout=30, what="Ana ready again")
            assert "rendering" in states[ana.id], states
            assert video.stat().st_mtime_ns != written

            # A refused command is said in a message box, not a traceback.
            task = window.passengers_controller.move_clip(moved_id, ben.id)
            await wait_until(task.done, what="the refused move")
            box = await wait_until(lambda: view.problem_box, what="the message box")
            assert box.isVisible() and "already" in box.text() and "Traceback" not in box.text()
            assert model.clip(moved_id).parent is ben  # nothing changed
    run_async(scenario(), timeout=300)
