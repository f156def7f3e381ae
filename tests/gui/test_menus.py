"""Right-click menus on a card and a passenger: cancel, open folder, play video."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QUrl

from app.db.models import Jump, PipelineExecution
from app.gui.imports_model import Column, Kind
from app.core_events import DetectorConnected, PipelineStarted
from tests.gui.helpers import add_card_import, open_window, set_step, wait_until

pytestmark = pytest.mark.gui


def _actions(window, kind: Kind, node_id: int) -> dict:
    menu = window.imports.menu_for(window.model.index_of(kind, node_id))
    return {action.text(): action for action in menu.actions() if action.text()}


def test_cancel_an_import_from_its_menu(run_async, station_settings):
    async def scenario() -> None:
        async with open_window(station_settings) as window:
            station = window.station
            ids = await station.db.run(add_card_import)
            execution_id = ids["execution"]
            await window.controller.load_recent()
            actions = _actions(window, Kind.EXECUTION, execution_id)
            assert list(actions) == ["Retry failed steps", "Cancel", "Open folder", "Open report"]
            assert not actions["Retry failed steps"].isEnabled()  # nothing failed
            station.bus.publish(DetectorConnected(detector_id="desk-left", name="Desk left reader"))
            station.bus.publish(PipelineStarted(execution_id=execution_id, card_id="3A1F-77C2",
                                                detector_id="desk-left", files_total=10, files_new=6))
            actions["Cancel"].trigger()
            await wait_until(lambda: window.model.index_of(Kind.EXECUTION, execution_id, Column.STATE).data()
                             == "cancelled", what="the import cancelled in the tree")
            await wait_until(lambda: "cancelled" in window.detectors_panel.cards["desk-left"].card.text(),
                             what="the card cancelled in the Detectors panel")
            state = await station.db.run(lambda s: s.get(PipelineExecution, execution_id).state)
            assert state == "cancelled"
            render = ids["steps"][("render_final", "Ana Silva")]
            await wait_until(lambda: window.model.index_of(Kind.STEP, render, Column.STATE).data() == "cancelled",
                             what="its unfinished steps cancelled")
            assert not _actions(window, Kind.EXECUTION, execution_id)["Cancel"].isEnabled()
    run_async(scenario())


def test_open_folder_and_play_video_hand_the_files_to_the_desktop(run_async, station_settings, tmp_path):
    async def scenario() -> None:
        async with open_window(station_settings) as window:
            station = window.station
            library = station.settings.library
            ids = await station.db.run(lambda s: add_card_import(
                s, library=str(library), passengers=(("Ana Silva", "BK-1042"), ("Bruno Keller", "BK-1043"))))
            ana = ids["jumps"]["Ana Silva"]
            await window.controller.load_recent()
            folder = Path(window.model.node(Kind.JUMP, ana).row.output_dir)
            folder.mkdir(parents=True)
            actions = _actions(window, Kind.JUMP, ana)
            assert not actions["Play video"].isEnabled(), "no video rendered yet"
            actions["Open folder"].trigger()
            assert window.opened_urls == [QUrl.fromLocalFile(str(folder))]

            video = folder / "BK-1042 Ana Silva.mp4"
            video.write_bytes(b"\x00" * 64)

            def rendered(session) -> None:
                session.get(Jump, ana).video_path = str(video)
            await station.db.run(rendered)
            window.controller.mark_dirty(ids["execution"])
            await wait_until(lambda: window.model.node(Kind.JUMP, ana).row.video_path, what="the video in the tree")
            _actions(window, Kind.JUMP, ana)["Play video"].trigger()
            assert window.opened_urls[-1] == QUrl.fromLocalFile(str(video))

            _actions(window, Kind.EXECUTION, ids["execution"])["Open folder"].trigger()
            await window.controller.idle()
            # The folder holding all of the card's passengers (here the day's folder).
            assert window.opened_urls[-1] == QUrl.fromLocalFile(str(folder.parent))
    run_async(scenario())


def test_retry_failed_steps_of_an_import_reruns_them_on_the_workers(run_async, station_settings):
    async def scenario() -> None:
        async with open_window(station_settings) as window:
            station = window.station

            def with_failed_cleanup(session):
                ids = add_card_import(session)
                set_step(session, ids["steps"]["cleanup"], state="failed", attempt=1, error="staging folder busy")
                session.get(PipelineExecution, ids["execution"]).state = "failed"
                return ids
            ids = await station.db.run(with_failed_cleanup)
            cleanup = ids["steps"]["cleanup"]
            await window.controller.load_recent()
            state = window.model.index_of(Kind.STEP, cleanup, Column.STATE)
            assert state.data() == "failed"
            actions = _actions(window, Kind.EXECUTION, ids["execution"])
            assert actions["Retry failed steps"].isEnabled()
            actions["Retry failed steps"].trigger()
            # The station's own worker runs the real cleanup step again; the row follows live.
            await wait_until(lambda: window.model.index_of(Kind.STEP, cleanup, Column.STATE).data() == "done",
                             timeout=20, what="the retried step done")
            assert window.model.index_of(Kind.STEP, cleanup, Column.INFO).data() == "attempt 2"
    run_async(scenario())


def test_finished_imports_load_folded_running_ones_open(run_async, station_settings):
    async def scenario() -> None:
        async with open_window(station_settings) as window:
            station = window.station

            def two_cards(session):
                done = add_card_import(session, label="GOPRO-OLD", card_id="OLD")
                session.get(PipelineExecution, done["execution"]).state = "succeeded"
                running = add_card_import(session, label="GOPRO-NEW", card_id="NEW")
                return done["execution"], running["execution"]
            done, running = await station.db.run(two_cards)
            await window.controller.load_recent()
            assert not window.imports.isExpanded(window.model.index_of(Kind.EXECUTION, done))
            assert window.imports.isExpanded(window.model.index_of(Kind.EXECUTION, running))
    run_async(scenario())
