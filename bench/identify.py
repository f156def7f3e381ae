"""Bytes moved before a passenger whose code sits at the start of a big clip is known, with and
without the Detector's `range` capability.

    .venv/bin/python bench/identify.py [--sizes-mb 120 1000 4000] [--quick]

For each size: a card of one passenger whose QR clip is grown to that size (bench/day.py's
`free` box: sparse, the code stays in its first seconds; no GoPro proxy on the card), then a
jump clip. A headless station (default settings) and the reference Detector, once as it is
(`range`) and once with `--no-range`. At the passenger's `pipeline:qr_decoded`: the bytes the
station's search of that clip cost (its `execution_file.search` record: slices, or the whole
clip) and the seconds since the listing; the import is then stopped. The padding sits between
mdat and the index, so the station walks one more box header than on a real GoPro chapter.
Last line: range_bytes_pct=<n> no_range_bytes_pct=<n> (of the biggest clip)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.media.sample_card import write_sample_card  # noqa: E402 - after sys.path
from bench.day import MB, CardRun, drain_output, follow, pad_with_free, start_detector, stop_detector  # noqa: E402
from tests.net.test_end_to_end import TOKEN, UiRecorder  # noqa: E402
from tests.support.station_process import running_station  # noqa: E402


async def identify(work: Path, run: CardRun, clip: str, range_capability: bool) -> dict:
    data_dir = work / f"station-{'range' if range_capability else 'whole'}"
    data_dir.mkdir()
    (data_dir / "config.toml").write_text(f"redis_prefix = \"bench-identify-{secrets.token_hex(4)}\"\nmdns = false\n")
    with running_station("--data-dir", str(data_dir), "--token", TOKEN) as station:
        drain_output(station.process)
        async with UiRecorder(station.port) as ui:
            run.process = start_detector(run, station.port, range_capability)
            try:
                started = time.perf_counter()
                while run.identified_at is None and not run.failed:
                    await asyncio.sleep(0.05)
                    follow(ui.events, 0, [run])
                    if time.perf_counter() - started > 600:
                        raise SystemExit("no passenger within 10 minutes")
            finally:
                stop_detector(run.process)
    with sqlite3.connect(data_dir / "station.db") as db:
        search = db.execute("SELECT search FROM execution_file WHERE path = ?", (clip,)).fetchone()[0]
    record = json.loads(search)
    return {"bytes": record["bytes"], "method": record["method"], "found": record["found"],
            "seconds": (run.identified_at - run.listed_at).total_seconds() if run.identified_at else float("nan"),
            "failed": run.failed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[120, 1000, 4000])
    parser.add_argument("--quick", action="store_true", help="one 120 MB clip")
    args = parser.parse_args()
    sizes = [120] if args.quick else args.sizes_mb
    rows = []
    for size_mb in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-identify-") as tmp:
            work = Path(tmp)
            card = write_sample_card(work / "card", passengers=(("BK-IDENT-1", "Big Clip"),), with_unassigned=False,
                                     with_proxies=False)
            clip = card.passengers[0].qr_clip
            pad_with_free(card.root / clip, size_mb * MB)
            for range_capability in (True, False):
                run = CardRun(0, card, work / f"trace-{range_capability}.jsonl")
                result = asyncio.run(identify(work, run, clip, range_capability))
                rows.append((size_mb, range_capability, result))
                print(f"{size_mb:>6} MB clip, {'range   ' if range_capability else 'no range'}: "
                      f"{result['bytes'] / MB:8.2f} MB moved ({100 * result['bytes'] / (size_mb * MB):7.3f} %) "
                      f"by {result['method']}, code found {result['found']}, known {result['seconds']:.2f} s "
                      f"after the listing", flush=True)
    biggest = max(sizes)
    pct = {r: 100 * res["bytes"] / (size * MB) for size, r, res in rows if size == biggest}
    print(f"range_bytes_pct={pct[True]:.3f} no_range_bytes_pct={pct[False]:.1f}")
    return 0 if all(res["found"] for _, _, res in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
