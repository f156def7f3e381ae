"""The Detectors panel: who is connected, their card, and each transfer's bytes, speed and time left."""

from __future__ import annotations

import pytest

from app.events import Event
from app.gui.detectors_state import DetectorsState
from app.gui.views.detectors_panel import DetectorsPanel
from app.core_events import DetectorConnected, PipelineStarted
from tests.gui.helpers import add_card_import, open_window, wait_until

pytestmark = pytest.mark.gui


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_transfer_shows_bytes_speed_and_time_left(qtbot):
    clock = Clock()
    state = DetectorsState(clock=clock)
    panel = DetectorsPanel(state)
    qtbot.addWidget(panel)
    state.apply_event(Event("detector:connected", {"detector_id": "desk-left", "name": "Desk left reader"}))
    state.apply_event(Event("pipeline:started", {"execution_id": 7, "detector_id": "desk-left", "card_id": "3A1F",
                                                 "files_total": 12, "files_new": 5}))
    state.set_card_label(7, "GOPRO-ANA")
    card = panel.cards["desk-left"]
    assert card.name.full_text() == "Desk left reader" and card.state.text() == "connected"
    assert "GOPRO-ANA" in card.card.text() and "5 new of 12 files" in card.card.text()

    total = 500_000_000
    for second, done in enumerate((0, 50_000_000, 100_000_000)):
        clock.now = 100.0 + second
        state.apply_event(Event("transfer:progress", {"execution_id": 7, "request_id": "r-1",
                                                      "path": "DCIM/100GOPRO/GX010005.MP4", "bytes": done, "total": total}))
    row = card.transfer_rows()[("r-1", "DCIM/100GOPRO/GX010005.MP4")]
    assert row.name.text() == "GX010005.MP4"
    assert row.bar.value() == 200  # 100 MB of 500 MB, in thousandths
    assert row.bar.format() == "100 MB / 500 MB"
    assert row.figures.text() == "50.0 MB/s  ·  8.0 s left"

    clock.now = 110.0
    state.apply_event(Event("transfer:progress", {"execution_id": 7, "request_id": "r-1",
                                                  "path": "DCIM/100GOPRO/GX010005.MP4", "bytes": total, "total": total}))
    assert row.figures.text() == "received ✓" and row.bar.value() == 1000
    assert "1 received" in card.card.text()

    state.apply_event(Event("detector:disconnected", {"detector_id": "desk-left", "name": "Desk left reader"}))
    assert card.state.text() == "disconnected"
    clock.now = 120.0
    state.prune()  # finished transfers leave after a few seconds
    assert card.transfer_rows() == {}


def test_rejected_copies_leave_the_panel_when_the_file_is_sent_again_or_the_import_ends(qtbot):
    state = DetectorsState(clock=Clock())
    panel = DetectorsPanel(state)
    qtbot.addWidget(panel)
    state.apply_event(Event("detector:connected", {"detector_id": "d", "name": "Desk"}))
    state.apply_event(Event("pipeline:started", {"execution_id": 7, "detector_id": "d", "card_id": "C",
                                                 "files_total": 2, "files_new": 2}))
    clip = "DCIM/100GOPRO/GX010005.MP4"
    for request in ("r-1", "r-2", "r-3"):  # each copy rejected after its first progress message
        state.apply_event(Event("transfer:progress", {"execution_id": 7, "request_id": request, "path": clip,
                                                      "bytes": 0, "total": 811_000}))
    assert list(panel.cards["d"].transfer_rows()) == [("r-3", clip)]
    state.apply_event(Event("transfer:progress", {"execution_id": 7, "request_id": "r-4",
                                                  "path": "DCIM/100GOPRO/GX010006.MP4", "bytes": 10, "total": 900}))
    assert len(panel.cards["d"].transfer_rows()) == 2
    state.apply_event(Event("pipeline:failed", {"execution_id": 7, "error": "fetch failed 3 times"}))
    assert panel.cards["d"].transfer_rows() == {}
    assert panel.cards["d"].card.text()  # the card itself stays, marked failed


def test_window_shows_detectors_from_the_station_bus(run_async, station_settings):
    async def scenario() -> None:
        async with open_window(station_settings) as window:
            station = window.station
            ids = await station.db.run(add_card_import)
            assert window.detectors_panel.empty.isVisible()
            station.bus.publish(DetectorConnected(detector_id="desk-left", name="Desk left reader"))
            station.bus.publish(PipelineStarted(execution_id=ids["execution"], card_id="3A1F-77C2",
                                                detector_id="desk-left", files_total=10, files_new=6))
            card = window.detectors_panel.cards["desk-left"]
            # The card's label is not in the event: it comes from the database a moment later.
            await wait_until(lambda: "GOPRO-ANA" in card.card.text(), what="card label")
            assert not window.detectors_panel.empty.isVisible()
    run_async(scenario())


def test_the_card_says_when_it_is_safe_to_format_and_the_crew_is_told(qtbot):
    from app.gui.activity import card_message

    state = DetectorsState(clock=Clock())
    panel = DetectorsPanel(state)
    qtbot.addWidget(panel)
    state.apply_event(Event("detector:connected", {"detector_id": "d", "name": "Desk"}))
    state.apply_event(Event("pipeline:started", {"execution_id": 9, "detector_id": "d", "card_id": "3A1F",
                                                 "files_total": 4, "files_new": 4}))
    state.apply_event(Event("pipeline:completed", {"execution_id": 9}))
    assert "imported ✓" in panel.cards["d"].card.text()
    status = Event("card:status", {"execution_id": 9, "card_id": "3A1F", "detector_id": "d", "state": "complete",
                                   "files_total": 4, "files_verified": 4, "safe_to_format": True})
    state.apply_event(status)
    assert "safe to format" in panel.cards["d"].card.text()
    assert card_message(status) == "Card 3A1F is safe to format: all 4 files verified in the library"
    state.apply_event(Event("card:wiped", {"execution_id": 9, "card_id": "3A1F", "detector_id": "d", "deleted": 4}))
    assert "wiped" in panel.cards["d"].card.text()
    incomplete = Event("card:status", {"execution_id": 9, "card_id": "3A1F", "state": "incomplete",
                                       "files_total": 4, "files_verified": 2, "safe_to_format": False})
    state.apply_event(incomplete)
    assert "do not format" in panel.cards["d"].card.text() and "do not format" in card_message(incomplete)


def test_a_long_detector_name_ends_in_an_ellipsis_and_is_whole_in_its_tooltip(qtbot):
    state = DetectorsState()
    panel = DetectorsPanel(state)
    qtbot.addWidget(panel)
    panel.resize(260, 400)
    panel.show()
    name = "Desk right reader by the packing mats"
    state.apply_event(Event("detector:connected", {"detector_id": "desk-right", "name": name}))
    card = panel.cards["desk-right"]
    qtbot.waitUntil(lambda: card.name.text() != name)  # laid out at the panel's width: cut
    shown = card.name.text()
    assert shown.endswith("…") and name.startswith(shown[:-1]) and len(shown) > 5
    assert card.name.toolTip() == f"{name} (desk-right)"
    assert card.width() <= panel.width()
