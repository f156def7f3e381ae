"""A busy day through the real station, beside the bare loop moving the same files.

    .venv/bin/python bench/day.py [--cards 20] [--passengers 6] [--quick]

Generates `--cards` GoPro-style cards of `--passengers` passengers each (app/media/sample_card.py:
QR clips, jump clips, chapters, photos, GoPro proxies and thumbnails), and makes some clips big
cheaply: an MP4 `free` box (a hole in a sparse file) between `mdat` and the trailing `moov`, so
the clip plays as before and its code stays in its first seconds. On each card:

- passenger 1's QR clip: 60 MB, its GoPro proxy on the card (the station reads the proxy);
- passenger 4's QR clip: 120 MB, no proxy (the station asks for slices: `range`);
- jump clips of 8, 20 and 80 MB (passengers 2, 3 and 5); the rest stay a few hundred kB.

A headless station runs in its own process (SQLite, embedded Redis, default settings: clips
under 50 MB are searched first); two reference Detectors at a time (`ingest-station detector`,
one process per card) feed it over loopback. Per card, from the station's `/ui` events (their
station timestamps): the listing (`pipeline:started`) to every passenger known (the last
`pipeline:qr_decoded`) and to the card complete (`pipeline:completed`); the bytes the Detector
sent (its `--trace`: every `sd:upload_begin`).

The limit, in the same run, after the day (the cards as warm in the page cache): every file the station took whole, through the
bare loop (bench/bare_loop.py: websockets + SHA-256 + write + fsync + rename), two connections
at a time as the two Detectors. Everything lives under one temporary folder, deleted at the end.
Last line: day_s=<n> transfer_only_s=<n> ratio=<n> identify_p50_s=<n> identify_p95_s=<n>
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.media.mp4_boxes import pad_with_free  # noqa: E402 - after sys.path
from app.media.sample_card import DEFAULT_START, SampleCard, write_sample_card  # noqa: E402 - after sys.path
from bench.bare_loop import bare_transfer  # noqa: E402
from tests.net.test_end_to_end import TOKEN, UiRecorder  # noqa: E402
from tests.support.station_process import running_station, station_command, station_env  # noqa: E402

MB = 1_000_000
STALL_S = 120  # no /ui event for this long: the run is stuck, stop it
# Card times one apart by 31 min 7 s: never a whole number of hours (a camera clock shift would
# make a file look imported before), all on one day.
CARD_STEP = timedelta(minutes=31, seconds=7)
# passenger index → (which clip, padded size, keep its proxy)
BIG_CLIPS = {0: ("qr", 60 * MB, True), 3: ("qr", 120 * MB, False),
             1: ("jump", 8 * MB, True), 2: ("jump", 20 * MB, True), 4: ("jump", 80 * MB, True)}


# -- the cards --------------------------------------------------------------------------------
def write_day_card(root: Path, number: int, passengers: int) -> SampleCard:
    people = tuple((f"BK-DAY-{number:02d}{p}", f"Passenger {number:02d}-{p}") for p in range(passengers))
    card = write_sample_card(root, passengers=people, start=DEFAULT_START + number * CARD_STEP)
    for index, (which, size, keep_proxy) in BIG_CLIPS.items():
        if index >= passengers:
            continue
        person = card.passengers[index]
        clip = person.qr_clip if which == "qr" else person.clips[1]
        pad_with_free(root / clip, size)
        card.files = [replace(f, size=size) if f.path == clip else f for f in card.files]
        if not keep_proxy:
            number_on_card = clip[-8:-4]
            gone = {f"{clip.rsplit('/', 1)[0]}/{name}" for name in (f"GL01{number_on_card}.LRV", f"GX01{number_on_card}.THM")}
            for path in gone:
                (root / path).unlink(missing_ok=True)
            card.files = [f for f in card.files if f.path not in gone]
    return card


# -- one card through the station ---------------------------------------------------------------
@dataclass
class CardRun:
    number: int
    card: SampleCard
    trace: Path
    process: subprocess.Popen | None = None
    execution_id: int | None = None
    listed_at: datetime | None = None
    identified_at: datetime | None = None
    completed_at: datetime | None = None
    failed: str | None = None
    passengers_seen: set[str] = field(default_factory=set)
    sent: int = 0  # bytes the Detector sent, read from its trace once the day is over

    @property
    def card_id(self) -> str:
        return f"DAY-{self.number:02d}"

    def uploads(self) -> list[dict]:
        """The Detector's `sd:upload_begin` messages (whole files and slices)."""
        lines = self.trace.read_text().splitlines() if self.trace.exists() else []
        messages = [json.loads(line)["message"] for line in lines if line.endswith("}")]
        return [m["data"] for m in messages if m.get("type") == "sd:upload_begin"]

    def bytes_sent(self) -> int:
        return sum(u["length"] if u.get("length") is not None else u["size"] - u["offset"] for u in self.uploads())

    def whole_files(self) -> list[str]:
        return sorted({u["path"] for u in self.uploads() if u.get("length") is None})


def start_detector(run: CardRun, port: int, range_capability: bool = True) -> subprocess.Popen:
    return subprocess.Popen(
        station_command("detector", "--station", f"ws://127.0.0.1:{port}", "--token", TOKEN,
                        "--card", str(run.card.root), "--card-id", run.card_id, "--detector-id", f"day-{run.number:02d}",
                        "--trace", str(run.trace), "--log-level", "WARNING", "--no-wipe",
                        *([] if range_capability else ["--no-range"])),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=station_env())


def stop_detector(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def drain_output(process: subprocess.Popen) -> threading.Thread:
    """Read the station's console lines away: a full pipe would stop its event loop mid-write."""
    thread = threading.Thread(target=lambda: sum(1 for _ in process.stdout), daemon=True)
    thread.start()
    return thread


def station_time(event: dict) -> datetime:
    return datetime.fromisoformat(event["data"]["ts"].replace("Z", "+00:00"))


def follow(events: list[dict], seen: int, runs: list[CardRun]) -> int:
    """Apply the /ui events from `seen` on to the card runs; returns how many were read."""
    by_card = {run.card_id: run for run in runs}
    by_execution = {run.execution_id: run for run in runs if run.execution_id is not None}
    for event in events[seen:]:
        kind, data = event["type"], event.get("data", {})
        if kind == "pipeline:started" and data.get("card_id") in by_card:
            run = by_card[data["card_id"]]
            run.execution_id, run.listed_at = data["execution_id"], station_time(event)
            by_execution[run.execution_id] = run
            continue
        run = by_execution.get(data.get("execution_id"))
        if run is None:
            continue
        if kind == "pipeline:qr_decoded":
            run.passengers_seen.add(data["passenger"]["booking_id"])
            if len(run.passengers_seen) == len(run.card.passengers) and run.identified_at is None:
                run.identified_at = station_time(event)
        elif kind == "pipeline:completed":
            run.completed_at = station_time(event)
        elif kind == "pipeline:failed":
            run.failed = str(data.get("error"))
    return len(events)


async def run_day(work: Path, runs: list[CardRun], at_once: int) -> float:
    data_dir = work / "station"
    data_dir.mkdir()
    (data_dir / "config.toml").write_text(f"redis_prefix = \"bench-day-{secrets.token_hex(4)}\"\nmdns = false\n")
    with running_station("--data-dir", str(data_dir), "--token", TOKEN) as station:
        drain_output(station.process)
        async with UiRecorder(station.port) as ui:
            waiting, running, seen = list(runs), [], 0
            started = last_event = time.perf_counter()
            try:
                while waiting or running:
                    while waiting and len(running) < at_once:
                        run = waiting.pop(0)
                        run.process = start_detector(run, station.port)
                        running.append(run)
                    await asyncio.sleep(0.05)
                    if len(ui.events) > seen:
                        last_event = time.perf_counter()
                    seen = follow(ui.events, seen, runs)
                    for run in [r for r in running if r.completed_at or r.failed]:
                        stop_detector(run.process)
                        running.remove(run)
                        print(f"  card {run.card_id}: {'failed: ' + run.failed if run.failed else 'complete'}"
                              f" ({time.perf_counter() - started:.0f} s)", flush=True)
                    if time.perf_counter() - last_event > STALL_S:
                        raise SystemExit(f"no station event for {STALL_S} s; running: {[r.card_id for r in running]}")
                return time.perf_counter() - started
            finally:
                for run in running:
                    stop_detector(run.process)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=20)
    parser.add_argument("--passengers", type=int, default=6)
    parser.add_argument("--quick", action="store_true", help="2 cards of 5 passengers")
    parser.add_argument("--at-once", type=int, default=2, help="Detectors feeding the station at a time")
    args = parser.parse_args()
    cards, passengers = (2, 5) if args.quick else (args.cards, args.passengers)
    with tempfile.TemporaryDirectory(prefix="bench-day-") as tmp:
        work = Path(tmp)
        made = time.perf_counter()
        runs = [CardRun(n, write_day_card(work / "cards" / f"card-{n:02d}", n, passengers), work / f"trace-{n:02d}.jsonl")
                for n in range(cards)]
        on_cards = sum(f.size for r in runs for f in r.card.files)
        print(f"{cards} cards of {passengers} passengers, {sum(len(r.card.files) for r in runs)} files, "
              f"{on_cards / MB:.0f} MB, made in {time.perf_counter() - made:.0f} s; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)

        day_s = asyncio.run(run_day(work, runs, args.at_once))
        for r in runs:
            r.sent = r.bytes_sent()
        moved = sum(r.sent for r in runs)

        # The limit: the files the station took whole, the same two connections at a time.
        batches: list[list[tuple[str, Path]]] = [[] for _ in range(args.at_once)]
        for r in runs:
            batches[r.number % args.at_once] += [(f"{r.card_id}/{p}", r.card.root / p) for p in r.whole_files()]
        bare_bytes = sum(path.stat().st_size for batch in batches for _, path in batch)
        started = time.perf_counter()
        bare = bare_transfer(batches, work / "bare")
        transfer_only_s = time.perf_counter() - started
        intact = all(b["sha256"] == b["sent_sha256"] for b in bare.values())

    print(f"\n{'card':<8}{'files':>6}{'MB sent':>9}{'identify s':>11}{'complete s':>11}")
    identify, complete = [], []
    for r in runs:
        if r.failed or not (r.listed_at and r.identified_at and r.completed_at):
            print(f"{r.card_id:<8} FAILED or unfinished: {r.failed}")
            continue
        identify.append((r.identified_at - r.listed_at).total_seconds())
        complete.append((r.completed_at - r.listed_at).total_seconds())
        print(f"{r.card_id:<8}{len(r.card.files):>6}{r.sent / MB:>9.0f}{identify[-1]:>11.2f}{complete[-1]:>11.2f}")
    ok = len(identify) == len(runs) and intact
    print(f"\nthe day: {day_s:.1f} s wall, {moved / MB:.0f} MB sent by the Detectors (slices included), "
          f"complete per card p50 {statistics.median(complete) if complete else float('nan'):.1f} s")
    print(f"the bare loop, the same {sum(map(len, batches))} whole files ({bare_bytes / MB:.0f} MB), "
          f"{args.at_once} connections at a time: {transfer_only_s:.1f} s; bytes intact: {intact}")
    ratio = day_s / transfer_only_s
    print(f"day_s={day_s:.1f} transfer_only_s={transfer_only_s:.1f} ratio={ratio:.2f} "
          f"identify_p50_s={percentile(identify, 0.5) if identify else float('nan'):.2f} "
          f"identify_p95_s={percentile(identify, 0.95) if identify else float('nan'):.2f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
