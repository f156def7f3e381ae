"""How long filter_new_files takes for a big card against a big library.

A 20,000-file listing is matched against 200,000 imported files (SQLite by default, or
--db-url postgresql+psycopg://...), with the station's one-query tolerant match beside a
baseline of one indexed lookup per file. Half the listing was imported before (some with
FAT rounding or a one-hour camera clock shift), half is new.

    .venv/bin/python bench/filter.py [--listing 20000] [--imported 200000] [--db-url URL]

Last line: `filter_s_per_listing=<n> baseline_s_per_listing=<n> listing=<n> imported=<n>`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import insert, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.db.engine import Database  # noqa: E402
from app.db.migrate import upgrade  # noqa: E402
from app.db.models import ImportedFile  # noqa: E402
from app.pipeline.fingerprint import ListedFile, fingerprint, split_listing  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def populate(db: Database, imported: int) -> None:
    rows = []
    for i in range(imported):
        name = f"gx{i:07d}.mp4"
        modified = T0 + timedelta(minutes=i)
        rows.append({"fingerprint": fingerprint(name, 10_000 + i, modified), "name": name, "size": 10_000 + i,
                     "modified": modified, "source_path": f"DCIM/100GOPRO/{name.upper()}",
                     "stored_path": f"/lib/{name}", "sha256": "0" * 64, "imported_at": T0})
    with db.session() as session:
        for start in range(0, len(rows), 10_000):
            session.execute(insert(ImportedFile), rows[start:start + 10_000])


def listing(count: int, imported: int) -> list[ListedFile]:
    files = []
    for j in range(count):
        if j % 2 == 0:  # imported before, sometimes with clock drift
            i = (j * 7) % imported
            drift = timedelta(seconds=1) if j % 6 == 0 else timedelta(hours=1) if j % 10 == 0 else timedelta()
            files.append(ListedFile(f"DCIM/100GOPRO/GX{i:07d}.MP4", 10_000 + i, T0 + timedelta(minutes=i) + drift))
        else:
            files.append(ListedFile(f"DCIM/200GOPRO/GN{j:07d}.MP4", 5_000 + j, T0 + timedelta(days=900, seconds=j)))
    return files


def baseline(db: Database, files: list[ListedFile]) -> int:
    """One exact fingerprint lookup per file (no tolerance): what a naive importer does."""
    new = 0
    with db.session() as session:
        for f in files:
            hit = session.scalar(select(ImportedFile.id).where(
                ImportedFile.fingerprint == fingerprint(f.name, f.size, f.modified)))
            new += hit is None
    return new


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listing", type=int, default=20_000)
    parser.add_argument("--imported", type=int, default=200_000)
    parser.add_argument("--db-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(args.db_url or f"sqlite:///{Path(tmp) / 'bench.db'}")
        upgrade(db.engine)
        started = time.perf_counter()
        populate(db, args.imported)
        print(f"database: {db.describe()}  ({args.imported} imported files written in {time.perf_counter() - started:.1f} s)")
        files = listing(args.listing, args.imported)

        runs = []
        for _ in range(3):
            started = time.perf_counter()
            with db.session() as session:
                split = split_listing(session, files, import_proxies=False)
            runs.append(time.perf_counter() - started)
        ours = min(runs)
        started = time.perf_counter()
        naive_new = baseline(db, files)
        theirs = time.perf_counter() - started
        print(f"{'':24}{'s/listing':>12}{'new files':>12}")
        print(f"{'station (one query)':24}{ours:12.3f}{len(split.new):12d}")
        print(f"{'baseline (per file)':24}{theirs:12.3f}{naive_new:12d}   (exact match only: drifted clocks look new)")
        db.close()
    print(f"filter_s_per_listing={ours:.3f} baseline_s_per_listing={theirs:.3f} listing={args.listing} imported={args.imported}")


if __name__ == "__main__":
    main()
