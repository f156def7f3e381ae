#!/usr/bin/env python3
"""Render the desk window during a real import to docs/screenshot.png (the README's picture).

Three reference Detectors (their own processes) serve generated SD cards to a real station:
two cards are done first (their passengers' videos ready; one camera's clock was reset, so its
passenger shows warnings), then the third card (with a 500 MB clip; one passenger's video cannot
be written); the window is grabbed offscreen, on the Passengers of the day, once all are known.

    .venv/bin/python scripts/screenshot.py [--out docs/screenshot.png]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import qasync  # noqa: E402

from app.config import load_settings  # noqa: E402
from app.gui.imports_model import Kind  # noqa: E402
from app.gui.main import make_application  # noqa: E402
from app.gui.passengers_model import Kind as PassengerKind  # noqa: E402
from app.media.sample_card import write_sample_card  # noqa: E402
from tests.gui.desk_scenario import DeskCard, make_card, start_detector, stop_process, video_path  # noqa: E402
from tests.gui.helpers import open_window  # noqa: E402


def _big_transfer_fraction(window) -> float:
    info = window.detectors.get("desk-left")
    if info is None:
        return 0.0
    return max((t.fraction for t in info.transfers.values() if t.total > 100_000_000), default=0.0)


def _ready_passengers(window) -> int:
    return sum(1 for node in window.passengers_model.iter_nodes()
               if node.kind is PassengerKind.PASSENGER and node.row.video_state == "ready")


async def capture(out: Path, timeout: float) -> str:
    work = Path(tempfile.mkdtemp(prefix="ingest-screenshot-"))
    left = make_card(work / "card-left", "3A1F-77C2", big_clip_bytes=500_000_000)
    right = make_card(work / "card-right", "9C04-1B3E",
                      passengers=(("BK-2026-1051", "Chloé Martin"), ("BK-2026-1052", "David Okafor")))
    # A handcam whose clock was reset: its clips dated 2016, 20 minutes apart (the codes give the day).
    reset = DeskCard(write_sample_card(work / "card-reset", passengers=(("BK-2026-1061", "Dora Lindqvist"),),
                                       start=datetime(2016, 1, 1, 0, 5, tzinfo=timezone.utc),
                                       step=timedelta(minutes=20), jump_date="2026-11-23"),
                      "77D0-4E1A", None)
    settings = load_settings({"data_dir": str(work / "data"), "host": "127.0.0.1", "port": 0}, environ={})
    settings.small_file_bytes = left.threshold
    # Benoît's video cannot be written: a folder squats on its name (his render fails, in red).
    video_path(settings.library, "BK-2026-1043", "Benoît Müller").mkdir(parents=True)
    detectors = []
    async with open_window(settings) as window:
        window.resize(1480, 880)
        station = window.station
        try:
            detectors.append(start_detector(station.port, settings.token, right, "desk-right", "Desk right reader",
                                            work / "right.log"))
            detectors.append(start_detector(station.port, settings.token, reset, "desk-back", "Handcam reader",
                                            work / "reset.log"))
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and _ready_passengers(window) < 3:
                await asyncio.sleep(0.05)
            detectors.append(start_detector(station.port, settings.token, left, "desk-left", "Desk left reader",
                                            work / "left.log"))
            # The third card's passengers appear once each of its clips was searched for a code (the
            # 500 MB one as well); grabbed when Benoît's render has failed.
            while time.monotonic() < deadline and not any(p.video_state == "failed"
                                                          for p in window.passengers_model.passengers()):
                await asyncio.sleep(0.02)
            # Show the first passenger's card in the details panel (QR frame included).
            ana = next((n for n in window.model.iter_nodes(Kind.JUMP) if n.row.passenger_name == "Ana Silva"), None)
            if ana is not None:
                window.imports.setCurrentIndex(window.model.index_of(Kind.JUMP, ana.id))
                await asyncio.sleep(0.1)
            window.imports.scrollToTop()
            await window.passengers_controller.idle()
            window.tabs.setCurrentWidget(window.passengers)
            chosen = next((n for n in window.passengers_model.iter_nodes() if n.kind is PassengerKind.PASSENGER
                           and n.row.passenger_name == "Chloé Martin"), None)
            if chosen is not None:  # the buttons read for a passenger whose video is ready
                window.passengers.tree.setCurrentIndex(window.passengers_model.index_of(chosen))
            window.passengers.tree.scrollToTop()
            out.parent.mkdir(parents=True, exist_ok=True)
            window.grab().save(str(out))
            share = 100 * _big_transfer_fraction(window)
            return (f"{out} ({window.width()}x{window.height()}, big transfer at {share:.0f} %, "
                    f"{_ready_passengers(window)} passengers ready)")
        finally:
            for process in detectors:
                stop_process(process)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshot.png")
    parser.add_argument("--timeout", type=float, default=90)
    args = parser.parse_args()
    app = make_application()
    print(asyncio.run(capture(args.out, args.timeout), loop_factory=lambda: qasync.QEventLoop(app)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
