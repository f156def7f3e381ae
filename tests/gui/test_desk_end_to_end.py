"""Done-when of the desk window: the real window, a real station core, the reference Detector
(its own process) serving a generated card with a 500 MB clip. Passengers appear by name,
steps change live, a failed step turns red and a right-click retry turns it green, an
unassigned clip is assigned by hand into a passenger's folder, and the event loop is never
held long enough to freeze the window while the upload and the QR decodes run.

The loop's lag is printed (worst, p50/p95/p99; 46 ms worst on an idle 2-core machine, the goal
is 100 ms); the assertion only catches a frozen window (a second), because a test must not
depend on the machine being idle: under other load the scheduler, not the station, decides."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QMenu

from app.gui.imports_model import Column, Kind
from tests.gui.desk_scenario import make_card, start_detector, stop_process, video_path
from tests.gui.helpers import open_window, wait_until
from tests.gui.stall_watch import StallWatch

pytestmark = [pytest.mark.gui, pytest.mark.slow]

BIG_CLIP_BYTES = 500 * 1000 * 1000
LAG_LIMIT_MS = 1000  # a frozen window; the 100 ms goal is read from the printed figures
RED = QColor("#c43d3d")
GREEN = QColor("#247a47")


def _find(window, kind: Kind, predicate) -> QModelIndex | None:
    for node in window.model.iter_nodes(kind):
        if predicate(node):
            return window.model.index_of(kind, node.id)
    return None


def _right_click(window, index: QModelIndex, action_text: str) -> None:
    """Right-click the row as the crew does and choose `action_text` from the menu that pops up."""
    view = window.imports
    view.scrollTo(index)
    view.setCurrentIndex(index)
    view.customContextMenuRequested.emit(view.visualRect(index).center())
    menus = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMenu) and w.isVisible()]
    assert menus, "a context menu opened"
    actions = {action.text(): action for action in menus[-1].actions()}
    assert action_text in actions, f"{action_text!r} not in {list(actions)}"
    actions[action_text].trigger()
    menus[-1].close()


def test_the_desk_window_during_a_real_import(run_async, station_settings, tmp_path, capsys):
    desk_card = make_card(tmp_path / "card", "CARD-A", big_clip_bytes=BIG_CLIP_BYTES, extra_unassigned=True)
    ana, benoit = desk_card.card.passengers
    station_settings.small_file_bytes = desk_card.threshold
    unassigned_clip = Path(desk_card.card.unassigned[0]).name
    # Ana's video cannot be written at first: a folder squats on its file name (the crew's
    # "fix" later is to remove it), so her render fails and can be retried.
    blocked = video_path(station_settings.library, ana.booking_id, ana.passenger_name)
    blocked.mkdir(parents=True)

    async def scenario() -> dict[str, float]:
        async with open_window(station_settings) as window:
            station = window.station
            states_seen: dict[int, list[str]] = {}

            def record(first: QModelIndex, _last: QModelIndex, _roles=()) -> None:
                node = window.model.node_at(first)
                if node is not None and node.kind is Kind.STEP:
                    seen = states_seen.setdefault(node.id, [])
                    if not seen or seen[-1] != node.row.state:
                        seen.append(node.row.state)
            window.model.dataChanged.connect(record)
            # A step spawned and run between two reads of the database appears already running.
            window.model.rowsInserted.connect(lambda parent, first, last: [
                record(window.model.index(row, 0, parent), None) for row in range(first, last + 1)])

            detector = start_detector(station.port, station.settings.token, desk_card, "desk-left",
                                      "Desk left reader", tmp_path / "detector.log")
            # Measured from here: starting the Detector's process is the test's doing, not the station's.
            window.lag.reset()
            measured_from = time.monotonic()
            stalls = StallWatch()
            stalls.start()
            try:
                # Passengers appear with their names (from their QR codes).
                for passenger in (ana, benoit):
                    await wait_until(lambda p=passenger: _find(window, Kind.JUMP,
                                                               lambda n: n.row.passenger_name == p.passenger_name),
                                     timeout=60, what=f"{passenger.passenger_name} in the tree")
                card_widget = await wait_until(lambda: window.detectors_panel.cards.get("desk-left"),
                                               what="the Detector's card")
                assert card_widget.state.text() == "connected"

                # The 500 MB chapter streams in; the panel shows it.
                big_name = Path(desk_card.big_clip).name
                await wait_until(lambda: any(r.name.text() == big_name for r in card_widget.transfer_rows().values()),
                                 timeout=60, what="the big transfer in the Detectors panel")

                # Ana's render fails: red.
                render = await wait_until(lambda: _find(window, Kind.STEP, lambda n: n.row.name == "render_final"
                                                        and n.parent.row.passenger_name == ana.passenger_name
                                                        and n.row.state == "failed"),
                                          timeout=120, what="Ana's render to fail")
                lag_during_import = window.lag.max_ms
                stalls.stop()
                samples = len(window.lag.samples)
                spread = (window.lag.percentile_ms(0.5), window.lag.percentile_ms(0.95), window.lag.percentile_ms(0.99))
                measured_s = time.monotonic() - measured_from
                state_index = render.siblingAtColumn(Column.STATE)
                assert QColor(state_index.data(Qt.ItemDataRole.ForegroundRole)) == RED
                assert QColor(render.data(Qt.ItemDataRole.ForegroundRole)) == RED
                render_id = window.model.node_at(render).id
                assert "running" in states_seen.get(render_id, []), "the step was seen running, live"

                # Right-click, retry from here: green.
                shutil.rmtree(blocked)
                _right_click(window, render, "Retry from here")
                await wait_until(lambda: window.model.node(Kind.STEP, render_id).row.state == "succeeded",
                                 timeout=60, what="the retried render to succeed")
                assert QColor(state_index.data(Qt.ItemDataRole.ForegroundRole)) == GREEN
                history = states_seen[render_id]
                after_retry = history[len(history) - history[::-1].index("failed"):]
                assert after_retry[-2:] == ["running", "succeeded"], history  # live: failed -> ... -> running -> done
                assert blocked.is_file(), "Ana's video was rendered"

                # The clip filmed before any QR code: assign it to Benoît by hand.
                clip = await wait_until(lambda: _find(window, Kind.CLIP, lambda n: n.row.name == unassigned_clip),
                                        timeout=30, what="the unassigned clip")
                benoit_jump = _find(window, Kind.JUMP, lambda n: n.row.passenger_name == benoit.passenger_name)
                benoit_row = window.model.node_at(benoit_jump).row
                clip_id = window.model.node_at(clip).id
                _right_click(window, clip, "Assign to passenger…")
                dialog = await wait_until(lambda: window.controller.assign_dialog, what="the assign dialog")
                dialog.choose_jump(benoit_row.id)
                dialog.accept()
                target = Path(benoit_row.output_dir) / unassigned_clip
                await wait_until(target.exists, timeout=30, what="the clip in Benoît's folder")
                await wait_until(lambda: window.model.node(Kind.CLIP, clip_id) is None, timeout=10,
                                 what="the clip to leave the unassigned group")
                await window.controller.idle()
                benoit_node = window.model.node(Kind.JUMP, benoit_row.id)
                assert benoit_node.row.clip_count == benoit_row.clip_count + 1

                # The other one was filmed for a passenger whose QR code nobody filmed: typed in.
                other = _find(window, Kind.CLIP, lambda n: n.row.name == "GX010000.MP4")
                assert other is not None
                _right_click(window, other, "Assign to passenger…")
                dialog = await wait_until(lambda: window.controller.assign_dialog, what="the assign dialog")
                dialog.new.setChecked(True)
                dialog.name.setText("Chloé Martin")
                dialog.booking.setText("BK-2026-1099")
                dialog.accept()
                chloe = await wait_until(lambda: _find(window, Kind.JUMP, lambda n: n.row.passenger_name == "Chloé Martin"),
                                         timeout=30, what="the new passenger in the tree")
                chloe_row = window.model.node_at(chloe).row
                assert chloe_row.booking_id == "BK-2026-1099"
                assert (Path(chloe_row.output_dir) / "GX010000.MP4").is_file()
                # The passenger's folder, the card's camera subfolder in it.
                assert Path(chloe_row.output_dir).parent.name == "BK-2026-1099 Chloé Martin"
            finally:
                stop_process(detector)
            return {"lag_ms": lag_during_import, "samples": samples, "stalls": stalls.report(), "spread": spread,
                    "seconds": measured_s}

    figures = run_async(scenario(), timeout=240)
    with capsys.disabled():
        p50, p95, p99 = figures["spread"]
        print(f"\nevent-loop lag during the import (500 MB upload + QR decodes, {figures['seconds']:.1f} s): "
              f"worst {figures['lag_ms']:.1f} ms, p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms "
              f"over {figures['samples']} samples (limit {LAG_LIMIT_MS} ms)", file=sys.stderr)
    assert figures["lag_ms"] < LAG_LIMIT_MS, "what held the loop:\n" + figures["stalls"]
