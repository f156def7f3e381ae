"""The Imports tree's model fed with the read model's plain rows and the core's events (no
station, no database): the card with its passengers, steps and unassigned clips; states that
events move at once; a passenger's state as the core derives an execution's."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from PySide6.QtCore import Qt

from app.events import Event
from app.gui.imports_model import STATE_ROLE, Column, ImportsModel, Kind
from app.pipeline.read_model import ClipRow, ExecutionRow, ExecutionSnapshot, JumpRow, StepRow

pytestmark = pytest.mark.gui

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
EXECUTION = 7
ANA, LOOSE = 21, 22
STEPS = {"list_files": 100, "decode_qr": 101, "render_final": 102, "write_report": 103}


def step(name: str, state: str, *, jump_id: int | None = None, attempt: int = 0) -> StepRow:
    return StepRow(id=STEPS[name], execution_id=EXECUTION, name=name, key="", state=state, attempt=attempt,
                   progress_done=0, progress_total=0, started_at=T0 if attempt else None, finished_at=None,
                   error=None, jump_id=jump_id)


def snapshot(*steps: StepRow, execution_state: str = "running") -> ExecutionSnapshot:
    execution = ExecutionRow(id=EXECUTION, card_id="3A1F-77C2", card_label="GoPro Ana", detector_id="det-1",
                             state=execution_state, files_total=3, files_new=3, created_at=T0, finished_at=None)
    jumps = (
        JumpRow(id=ANA, execution_id=EXECUTION, unassigned=False, passenger_name="Ana Silva", booking_id="BK-1042",
                qr_frame_path=None, output_dir="/lib/2026-11-23/BK-1042 Ana Silva", video_path=None, clip_count=2,
                total_duration_s=75.0),
        JumpRow(id=LOOSE, execution_id=EXECUTION, unassigned=True, passenger_name="", booking_id="",
                qr_frame_path=None, output_dir=None, video_path=None, clip_count=1, total_duration_s=None),
    )
    clips = (ClipRow(id=300, execution_id=EXECUTION, jump_id=LOOSE, path="DCIM/100GOPRO/GX010001.MP4", size=1000,
                     state="stored", stored_path=None, modified=T0, duration_s=12.0),)
    return ExecutionSnapshot(execution, jumps, steps, clips)


def event(type_: str, **data) -> Event:
    return Event(type_, {"execution_id": EXECUTION, "ts": "2026-11-23T10:01:00.000Z", **data})


def text(model: ImportsModel, kind: Kind, node_id: int, column: Column) -> str:
    return model.index_of(kind, node_id, column).data(Qt.ItemDataRole.DisplayRole)


def state(model: ImportsModel, kind: Kind, node_id: int) -> str:
    return model.index_of(kind, node_id).data(STATE_ROLE)


def names_under(model: ImportsModel, kind: Kind, node_id: int) -> list[str]:
    parent = model.index_of(kind, node_id)
    return [model.index(row, 0, parent).data() for row in range(model.rowCount(parent))]


def test_a_snapshot_shows_the_card_its_passengers_steps_and_loose_clips(qapp):
    model = ImportsModel()
    model.merge_snapshot(snapshot(step("list_files", "succeeded", attempt=1),
                                  step("decode_qr", "succeeded", jump_id=ANA, attempt=1),
                                  step("render_final", "queued", jump_id=ANA)))
    assert text(model, Kind.EXECUTION, EXECUTION, Column.CLIPS) == "3/3 new"
    assert names_under(model, Kind.EXECUTION, EXECUTION) == ["List files", "Ana Silva", "Unassigned clips"]
    assert len(names_under(model, Kind.JUMP, ANA)) == 2  # her two steps, under her
    assert names_under(model, Kind.JUMP, LOOSE) == ["GX010001.MP4"]
    assert text(model, Kind.JUMP, LOOSE, Column.STATE) == "assign by hand"
    assert text(model, Kind.JUMP, ANA, Column.INFO) == "BK-1042"


def test_events_move_states_at_once_and_the_next_snapshot_has_the_last_word(qapp):
    model = ImportsModel()
    model.merge_snapshot(snapshot(step("list_files", "succeeded", attempt=1),
                                  step("decode_qr", "succeeded", jump_id=ANA, attempt=1),
                                  step("render_final", "queued", jump_id=ANA)))
    assert model.apply_event(event("pipeline:step_started", step_id=STEPS["render_final"], step="render_final", attempt=1)) \
        == EXECUTION  # the controller reads this execution again
    assert state(model, Kind.STEP, STEPS["render_final"]) == "running"
    assert text(model, Kind.STEP, STEPS["render_final"], Column.INFO) == "attempt 1"
    assert state(model, Kind.JUMP, ANA) == "running"

    model.apply_event(event("pipeline:failed", step_id=STEPS["render_final"], step="render_final", error="no frames"))
    assert state(model, Kind.STEP, STEPS["render_final"]) == "failed"
    assert state(model, Kind.EXECUTION, EXECUTION) == "failed"
    assert state(model, Kind.JUMP, ANA) == "failed"

    retried = step("render_final", "succeeded", jump_id=ANA, attempt=2)
    model.merge_snapshot(snapshot(step("list_files", "succeeded", attempt=1),
                                  step("decode_qr", "succeeded", jump_id=ANA, attempt=1), retried,
                                  execution_state="succeeded"))
    assert state(model, Kind.STEP, STEPS["render_final"]) == "succeeded"
    assert text(model, Kind.STEP, STEPS["render_final"], Column.INFO) == "attempt 2"
    assert state(model, Kind.JUMP, ANA) == "succeeded"
    assert state(model, Kind.EXECUTION, EXECUTION) == "succeeded"


def test_a_passenger_is_ranked_as_the_core_ranks_an_execution(qapp):
    """A passenger whose one step failed while another still runs is running, not failed: the
    core says so of an execution (`derive_state`), and the window says the same of a passenger."""
    model = ImportsModel()
    model.merge_snapshot(snapshot(step("decode_qr", "failed", jump_id=ANA, attempt=1),
                                  step("render_final", "running", jump_id=ANA, attempt=1)))
    assert state(model, Kind.JUMP, ANA) == "running"
    model.apply_event(event("pipeline:step_completed", step_id=STEPS["render_final"], step="render_final",
                            status="succeeded", duration_ms=900))
    assert state(model, Kind.JUMP, ANA) == "failed"


def test_a_cancelled_import_stays_cancelled_when_a_late_step_starts(qapp):
    model = ImportsModel()
    model.merge_snapshot(snapshot(step("render_final", "queued", jump_id=ANA)))
    model.apply_event(event("pipeline:cancelled", cancelled_steps=1))
    assert state(model, Kind.EXECUTION, EXECUTION) == "cancelled"
    model.apply_event(event("pipeline:step_started", step_id=STEPS["render_final"], step="render_final", attempt=1))
    assert state(model, Kind.EXECUTION, EXECUTION) == "cancelled"
