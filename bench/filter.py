"""How long the station takes to tell what of a big card was imported before.

200,000 imported files (SQLite by default, or --db-url postgresql+psycopg://...; a Postgres
database named bench_filter_<pid> is created there and dropped after). Names repeat as on real
GoPro cards (GX010001.MP4 on every camera): about 7 imported files share each name, with other
sizes. Two figures:

- filter: a 20,000-file listing, half imported before (some shifted by FAT's 2-second rounding
  or a whole-hour camera clock shift), half new, through `split_listing` (the rule used by the
  ack and by filter_new_files). Beside it, the anchor: the raw driver looking the listing up by
  exact fingerprint in chunked `IN` queries (fingerprints computed beforehand, no tolerance),
  on the same database and, in a Postgres run, on SQLite too.
- ack: the same card listed a second time with nothing new, from `sd:file_list` sent on a real
  WebSocket to `sd:file_list_ack` received, against a running station (workers off, so the
  import it creates does not run); and the same through `orchestrator.file_list` directly.

    .venv/bin/python bench/filter.py [--listing 20000] [--imported 200000] [--db-url URL]

Last line: `filter_s=<n> anchor_s=<n> ratio=<n> ack_s=<n> ack_direct_s=<n> listing=<n> imported=<n>`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.db.engine import Database, normalize_url  # noqa: E402
from app.db.migrate import upgrade  # noqa: E402
from app.db.models import ImportedFile  # noqa: E402
from app.pipeline.fingerprint import ListedFile, file_name, fingerprint, split_listing  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
TOKEN = "bench-token-0123456789"
NAMES_PER_CHAPTER = 10_000  # GoPro numbers files 0001-9999 in each chapter
CHAPTERS = 3
RUNS = 7


def imported_name(i: int) -> str:
    return f"GX{1 + (i // NAMES_PER_CHAPTER) % CHAPTERS:02d}{i % NAMES_PER_CHAPTER:04d}.MP4"


def imported_path(i: int) -> str:
    # Files with one name came from different cameras: a folder each, so card paths stay unique.
    return f"DCIM/{100 + i // (NAMES_PER_CHAPTER * CHAPTERS)}GOPRO/{imported_name(i)}"


def imported_size(i: int) -> int:
    return 1_000_000 + i


def imported_time(i: int) -> datetime:
    return T0 + timedelta(minutes=i)


def populate(db: Database, imported: int) -> None:
    rows = []
    for i in range(imported):
        name = file_name(imported_name(i))
        rows.append({"fingerprint": fingerprint(name, imported_size(i), imported_time(i)), "name": name,
                     "size": imported_size(i), "modified": imported_time(i), "source_path": imported_path(i),
                     "stored_path": f"/library/2026-01-01/{name}", "sha256": "0" * 64, "imported_at": T0})
    with db.session() as session:
        for start in range(0, len(rows), 10_000):
            session.execute(insert(ImportedFile), rows[start:start + 10_000])
    if db.engine.dialect.name == "postgresql":
        # The statistics and visibility map a long-running database has (autovacuum).
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE imported_file"))


def drift(j: int) -> timedelta:
    """How a file imported before shows on the card again: FAT rounding, camera clock shifts."""
    if j % 6 == 0:
        return timedelta(seconds=1)
    if j % 10 == 0:
        return timedelta(hours=1)
    if j % 14 == 0:
        return timedelta(hours=-2, seconds=2)
    return timedelta()


def seen_again(count: int, imported: int, stride: int = 7) -> list[ListedFile]:
    return [ListedFile(imported_path(i), imported_size(i), imported_time(i) + drift(j))
            for j, i in enumerate((k * stride) % imported for k in range(count))]


def half_new_listing(count: int, imported: int) -> list[ListedFile]:
    """Half imported before, half new: new files share names with imported ones (other sizes)."""
    old = seen_again((count + 1) // 2, imported)
    new = [ListedFile(f"DCIM/200GOPRO/{imported_name(j)}", 500 + j, T0 + timedelta(days=900, seconds=j))
           for j in range(count // 2)]
    return [f for pair in zip(old, new, strict=False) for f in pair] + old[len(new):]


def best(runs: int, fn: Callable[[], object]) -> tuple[float, float, object]:
    """(fastest, median) wall seconds of `runs` calls, and the last result."""
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times), result


# -- the anchor: the raw driver, exact fingerprints, chunked IN ----------------------------------
def anchor(db: Database, fingerprints: list[str], chunk: int = 500) -> int:
    placeholder = "?" if db.engine.dialect.name == "sqlite" else "%s"
    found = 0
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        for start in range(0, len(fingerprints), chunk):
            part = fingerprints[start:start + chunk]
            cursor.execute(f"SELECT id FROM imported_file WHERE fingerprint IN ({','.join([placeholder] * len(part))})",
                           part)
            found += len(cursor.fetchall())
        raw.rollback()
    finally:
        raw.close()
    return found


def station_split(db: Database, files: list[ListedFile]) -> int:
    with db.session() as session:
        return len(split_listing(session, files, import_proxies=False).new)


# -- the ack of a card listed again -------------------------------------------------------------
def wire_listing(files: list[ListedFile]) -> list[dict]:
    return [{"path": f.path, "size": f.size, "modified": f.modified.isoformat().replace("+00:00", "Z")} for f in files]


def validate(message: str) -> None:
    """What the net layer does with the text before the orchestrator sees it."""
    from app.net.protocol import DETECTOR_MESSAGES, check_body, parse_envelope  # noqa: PLC0415

    envelope = parse_envelope(message)
    check_body(envelope, DETECTOR_MESSAGES[envelope.type])


async def measure_ack(data_dir: Path, db_url: str, files: list[ListedFile], runs: int) -> tuple[list[float], list[float]]:
    import websockets  # noqa: PLC0415

    from app.config import load_settings  # noqa: PLC0415
    from app.headless import freeze_start_up_heap  # noqa: PLC0415
    from app.station import Station  # noqa: PLC0415

    settings = load_settings({"data_dir": str(data_dir), "host": "127.0.0.1", "port": 0, "token": TOKEN,
                              "workers": 0, "db_url": db_url}, environ={})
    station = Station(settings)
    await station.start()
    freeze_start_up_heap()  # as `ingest-station --no-gui` does after start-up (the window too)
    listing = wire_listing(files)
    over_ws, direct = [], []
    try:
        # As the reference Detector connects (app/detector/agent.py): no permessage-deflate, which
        # docs/protocol.md asks Detectors not to offer (deflating this 1.9 MB listing alone takes ~30 ms).
        async with websockets.connect(f"ws://127.0.0.1:{station.port}/detector", max_size=None,
                                      compression=None) as ws:
            await ws.send(json.dumps({"type": "hello", "data": {"role": "detector", "detector_id": "bench",
                                                                "token": TOKEN, "capabilities": ["upload", "status"]}}))
            assert json.loads(await ws.recv())["type"] == "welcome"
            for run in range(runs):
                # Each run is another card id: a card listed while its import is open resumes it instead.
                message = json.dumps({"type": "sd:file_list", "id": f"l{run}",
                                      "data": {"card_id": f"BENCH-WS-{run}", "files": listing}})
                started = time.perf_counter()
                await ws.send(message)
                while True:
                    reply = json.loads(await ws.recv())
                    if reply["type"] in ("sd:file_list_ack", "error"):
                        break
                over_ws.append(time.perf_counter() - started)
                if reply["type"] != "sd:file_list_ack" or reply["data"]["files_new"] != 0:
                    raise RuntimeError(f"unexpected reply: {str(reply)[:300]}")
                # One card at a time, as at the desk: the next listing waits for this card's status
                # (sent after the ack), or it would be timed against that work on another thread.
                while reply["type"] != "sd:card_status":
                    reply = json.loads(await ws.recv())
        for run in range(runs):
            started = time.perf_counter()
            ack = await station.orchestrator.file_list("bench", f"BENCH-DIRECT-{run}", None, None, listing)
            direct.append(time.perf_counter() - started)
            if ack.files_new != 0:
                raise RuntimeError(f"{ack.files_new} files new on a card imported before")
            if station.card_end is not None:
                await station.card_end.refresh(ack.execution_id)  # its status, before the next card
    finally:
        await station.stop()
    return over_ws, direct


# -- databases ---------------------------------------------------------------------------------
@contextmanager
def bench_database(db_url: str | None, tmp: Path) -> Iterator[str]:
    if not db_url:
        yield f"sqlite:///{tmp / 'bench.db'}"
        return
    url = make_url(normalize_url(db_url))
    name = f"bench_filter_{os.getpid()}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listing", type=int, default=20_000)
    parser.add_argument("--imported", type=int, default=200_000)
    parser.add_argument("--db-url", help="a Postgres server URL; the bench makes and drops its own database there")
    parser.add_argument("--runs", type=int, default=RUNS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-filter-") as tmp, bench_database(args.db_url, Path(tmp)) as url:
        db = Database(url)
        upgrade(db.engine)
        started = time.perf_counter()
        populate(db, args.imported)
        print(f"database: {db.describe()}  ({args.imported} imported files written in "
              f"{time.perf_counter() - started:.1f} s; ~{args.imported / (NAMES_PER_CHAPTER * CHAPTERS):.0f} per name)")

        files = half_new_listing(args.listing, args.imported)
        fingerprints = [fingerprint(f.name, f.size, f.modified) for f in files]
        station_split(db, files)  # warm: caches, compiled statements
        anchor(db, fingerprints)
        ours, ours_median, new = best(args.runs, lambda: station_split(db, files))
        theirs, theirs_median, exact_hits = best(args.runs, lambda: anchor(db, fingerprints))
        sqlite_anchor = None
        if db.engine.dialect.name != "sqlite":  # the anchor is SQLite's: measure it too
            sqlite_db = Database(f"sqlite:///{Path(tmp) / 'anchor.db'}")
            upgrade(sqlite_db.engine)
            populate(sqlite_db, args.imported)
            anchor(sqlite_db, fingerprints)
            sqlite_anchor, sqlite_anchor_median, _ = best(args.runs, lambda: anchor(sqlite_db, fingerprints))
            sqlite_db.close()
        imported_before = len(files) - new
        print(f"listing: {len(files)} files, {imported_before} imported before "
              f"(with FAT rounding and clock shifts), {new} new; {args.runs} runs each, fastest (median)")
        print(f"{'':34}{'s/listing':>16}{'known':>8}")
        print(f"{'station: split_listing':34}{ours:9.3f} ({ours_median:.3f}){imported_before:8d}")
        print(f"{'anchor: raw exact chunked IN':34}{theirs:9.3f} ({theirs_median:.3f}){exact_hits:8d}"
              "   (no tolerance: shifted clocks look new)")
        if sqlite_anchor is not None:
            print(f"{'  the same anchor on SQLite':34}{sqlite_anchor:9.3f} ({sqlite_anchor_median:.3f}){exact_hits:8d}")

        again = seen_again(args.listing, args.imported, stride=9)
        over_ws, direct = asyncio.run(measure_ack(Path(tmp) / "station", url, again, args.runs))
        message = json.dumps({"type": "sd:file_list", "data": {"card_id": "BENCH", "files": wire_listing(again)}})
        checking, checking_median, _ = best(args.runs, lambda: validate(message))
        split_again, split_again_median, _ = best(args.runs, lambda: station_split(db, again))
        db.close()
    ack, ack_median = min(over_ws), statistics.median(over_ws)
    ack_direct, direct_median = min(direct), statistics.median(direct)
    print(f"card of {len(again)} files listed again, nothing new, to a running station (workers off):")
    print(f"{'  sd:file_list -> ack over WebSocket':34}{ack:9.3f} ({ack_median:.3f})")
    print(f"{'    of which: parse and validate':34}{checking:9.3f} ({checking_median:.3f})   app/net/protocol.py")
    print(f"{'    orchestrator.file_list':34}{ack_direct:9.3f} ({direct_median:.3f})   app/pipeline/orchestrator.py")
    print(f"{'      of which: split_listing':34}{split_again:9.3f} ({split_again_median:.3f})   app/pipeline/fingerprint.py")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"filter_s={ours:.3f} anchor_s={theirs:.3f} ratio={ours / theirs:.2f} ack_s={ack:.3f} "
          f"ack_direct_s={ack_direct:.3f} listing={args.listing} imported={args.imported}")


if __name__ == "__main__":
    main()
