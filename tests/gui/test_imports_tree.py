"""The Imports tree follows the station's events and database live, row by row."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from app.gui.imports_model import Column, Kind
from app.core_events import PipelineFailed, PipelineStarted, StepCompleted, StepStarted
from tests.gui.helpers import add_card_import, add_log, open_window, set_step, wait_until

pytestmark = pytest.mark.gui


def _text(window, kind: Kind, node_id: int, column: Column) -> str:
    return window.model.index_of(kind, node_id, column).data(Qt.ItemDataRole.DisplayRole)


def _names_under(window, kind: Kind, node_id: int) -> list[str]:
    parent = window.model.index_of(kind, node_id)
    return [window.model.index(row, 0, parent).data() for row in range(window.model.rowCount(parent))]


def test_card_passengers_and_step_states_follow_events(run_async, station_settings):
    async def scenario() -> None:
        async with open_window(station_settings) as window:
            station = window.station
            ids = await station.db.run(lambda s: add_card_import(s, passengers=(("Ana Silva", "BK-1042"),
                                                                                 ("Bruno Keller", "BK-1043"))))
            execution_id = ids["execution"]
            station.bus.publish(PipelineStarted(execution_id=execution_id, card_id="3A1F-77C2",
                                                detector_id="desk-left", files_total=10, files_new=6))
            # The card appears at once from the event; its label arrives from the database.
            assert window.model.node(Kind.EXECUTION, execution_id) is not None
            await wait_until(lambda: _text(window, Kind.EXECUTION, execution_id, Column.NAME) == "GOPRO-ANA",
                             what="card label")
            passengers = _names_under(window, Kind.EXECUTION, execution_id)
            assert "Ana Silva" in passengers and "Bruno Keller" in passengers
            ana = ids["jumps"]["Ana Silva"]
            assert _text(window, Kind.JUMP, ana, Column.INFO) == "BK-1042"
            assert _text(window, Kind.JUMP, ana, Column.CLIPS) == "1 clip"
            assert _text(window, Kind.JUMP, ana, Column.DURATION) == "1:02"
            # Ana's steps sit under Ana; card-wide ones under the card.
            assert "Render passenger video" in _names_under(window, Kind.JUMP, ana)
            assert "Read QR code · GX010000.MP4" in _names_under(window, Kind.JUMP, ana)
            assert "Find new files" in _names_under(window, Kind.EXECUTION, execution_id)

            render = ids["steps"][("render_final", "Ana Silva")]
            station.bus.publish(StepStarted(execution_id=execution_id, step_id=render,
                                            step="render_final", key=str(ana), attempt=1))
            assert _text(window, Kind.STEP, render, Column.STATE) == "running"
            assert _text(window, Kind.STEP, render, Column.INFO) == "attempt 1"

            station.bus.publish(StepCompleted(execution_id=execution_id, step_id=render,
                                              step="render_final", key=str(ana), status="succeeded", duration_ms=4200,
                                              progress={"done": 3, "total": 3}))
            assert _text(window, Kind.STEP, render, Column.STATE) == "done"
            assert _text(window, Kind.STEP, render, Column.PROGRESS) == "3/3"
            assert _text(window, Kind.STEP, render, Column.DURATION) == "4.2 s"
    run_async(scenario())


def test_failed_step_turns_red_and_shows_its_error_and_log(run_async, station_settings):
    async def scenario() -> None:
        async with open_window(station_settings) as window:
            station = window.station
            ids = await station.db.run(add_card_import)
            execution_id = ids["execution"]
            decode = ids["steps"][("decode_qr", "Ana Silva")]
            station.bus.publish(PipelineStarted(execution_id=execution_id, card_id="3A1F-77C2",
                                                detector_id="desk-left", files_total=10, files_new=6))
            await wait_until(lambda: window.model.node(Kind.STEP, decode), what="decode step row")

            def fail(session) -> None:
                set_step(session, decode, state="failed", attempt=1, error="cannot read GX010000.MP4: moov atom not found",
                         started_at=datetime.now(timezone.utc), finished_at=datetime.now(timezone.utc))
                add_log(session, decode, "opening GX010000.MP4")
                add_log(session, decode, "moov atom not found", level="ERROR")
            await station.db.run(fail)
            station.bus.publish(PipelineFailed(execution_id=execution_id, step_id=decode, step="decode_qr",
                                               error="cannot read GX010000.MP4: moov atom not found"))

            state = window.model.index_of(Kind.STEP, decode, Column.STATE)
            assert state.data() == "failed"
            assert QColor(state.data(Qt.ItemDataRole.ForegroundRole)).red() > 150  # red text
            assert _text(window, Kind.EXECUTION, execution_id, Column.STATE) == "failed"

            window.imports.setCurrentIndex(window.model.index_of(Kind.STEP, decode))
            await wait_until(lambda: "moov atom not found" in window.details.text(), what="step details")
            shown = window.details.text()
            assert "opening GX010000.MP4" in shown and "ERROR" in shown
            assert '"path": "DCIM/100GOPRO/GX010000.MP4"' in shown  # its parameters

            menu = window.imports.menu_for(window.model.index_of(Kind.STEP, decode))
            assert [action.text() for action in menu.actions()] == ["Retry from here"]
    run_async(scenario())


def test_rows_change_in_place_instead_of_a_rebuild(run_async, station_settings):
    async def scenario() -> None:
        async with open_window(station_settings) as window:
            station = window.station
            ids = await station.db.run(add_card_import)
            execution_id = ids["execution"]
            station.bus.publish(PipelineStarted(execution_id=execution_id, card_id="3A1F-77C2",
                                                detector_id="desk-left", files_total=10, files_new=6))
            await wait_until(lambda: window.model.node(Kind.STEP, ids["steps"][("decode_qr", "Ana Silva")]),
                             what="rows")
            await window.controller.idle()
            resets, inserts, changes = [], [], []
            window.model.modelReset.connect(lambda: resets.append(1))
            window.model.rowsInserted.connect(lambda *args: inserts.append(args))
            window.model.dataChanged.connect(lambda first, last, roles=(): changes.append(first))
            selected = window.model.index_of(Kind.JUMP, ids["jumps"]["Ana Silva"])
            window.imports.setCurrentIndex(selected)
            for name in ("receive_file_list", "filter_new_files", "request_qr_videos"):
                station.bus.publish(StepCompleted(execution_id=execution_id, step_id=ids["steps"][name],
                                                  step=name, key="", status="succeeded", duration_ms=10, progress={}))
            await window.controller.idle()
            assert resets == [] and inserts == []
            assert changes, "the finished steps' rows were repainted"
            assert window.imports.currentIndex() == selected  # the crew's selection survives

            # A step spawned later is inserted as one new row under its passenger.
            def spawn(session):
                from app.db.models import PipelineStep
                step = PipelineStep(execution_id=execution_id, name="extract_metadata", key="DCIM/100GOPRO/GX010000.MP4",
                                    state="queued", params={"path": "DCIM/100GOPRO/GX010000.MP4"})
                session.add(step)
                session.flush()
                return step.id
            new_step = await station.db.run(spawn)
            station.bus.publish(StepStarted(execution_id=execution_id, step_id=new_step,
                                            step="extract_metadata", key="DCIM/100GOPRO/GX010000.MP4", attempt=1))
            await wait_until(lambda: window.model.node(Kind.STEP, new_step), what="spawned step")
            assert len(inserts) == 1 and resets == []
            assert window.model.node(Kind.STEP, new_step).parent.id == ids["jumps"]["Ana Silva"]
    run_async(scenario())
