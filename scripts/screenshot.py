#!/usr/bin/env python3
"""Render the desk window during a real import to docs/screenshot.png (the README's picture).

Two reference Detectors (their own processes) serve generated SD cards to a real station;
the window is grabbed offscreen while the first card's 500 MB clip streams in.

    .venv/bin/python scripts/screenshot.py [--out docs/screenshot.png]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import qasync  # noqa: E402

from app.config import load_settings  # noqa: E402
from app.gui.imports_model import Kind  # noqa: E402
from app.gui.main import make_application  # noqa: E402
from tests.gui.desk_scenario import make_card, start_detector, stop_process  # noqa: E402
from tests.gui.helpers import open_window  # noqa: E402


def _big_transfer_fraction(window) -> float:
    info = window.detectors.get("desk-left")
    if info is None:
        return 0.0
    return max((t.fraction for t in info.transfers.values() if t.total > 100_000_000), default=0.0)


async def capture(out: Path, timeout: float) -> str:
    work = Path(tempfile.mkdtemp(prefix="ingest-screenshot-"))
    left = make_card(work / "card-left", "3A1F-77C2", big_clip_bytes=500_000_000)
    right = make_card(work / "card-right", "9C04-1B3E",
                      passengers=(("BK-2026-1051", "Chloé Martin"), ("BK-2026-1052", "David Okafor")))
    settings = load_settings({"data_dir": str(work / "data"), "host": "127.0.0.1", "port": 0}, environ={})
    settings.small_file_bytes = left.threshold
    detectors = []
    async with open_window(settings) as window:
        window.resize(1480, 880)
        station = window.station
        try:
            detectors.append(start_detector(station.port, settings.token, right, "desk-right", "Desk right reader",
                                            work / "right.log"))
            await asyncio.sleep(1.5)
            detectors.append(start_detector(station.port, settings.token, left, "desk-left", "Desk left reader",
                                            work / "left.log"))
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and not 0.35 <= _big_transfer_fraction(window) <= 0.9:
                await asyncio.sleep(0.02)
            # Show the first passenger's card in the details panel (QR frame included).
            ana = next((n for n in window.model.iter_nodes(Kind.JUMP) if n.row.passenger_name == "Ana Silva"), None)
            if ana is not None:
                window.imports.setCurrentIndex(window.model.index_of(Kind.JUMP, ana.id))
                await asyncio.sleep(0.1)
            window.imports.scrollToTop()
            out.parent.mkdir(parents=True, exist_ok=True)
            window.grab().save(str(out))
            share = 100 * _big_transfer_fraction(window)
            return f"{out} ({window.width()}x{window.height()}, big transfer at {share:.0f} %)"
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
