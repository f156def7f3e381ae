"""Export…: a passenger's folder copied to a stick folder, every file read back by SHA-256."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from app.db.models import PassengerExport
from app.pipeline.export import ExportError, export_passenger


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def exports(station) -> list[tuple]:
    return await station.db.read(lambda s: [(e.jump_id, e.state, e.files, e.dest_dir, e.error)
                                            for e in s.scalars(select(PassengerExport).order_by(PassengerExport.id))])


async def test_export_copies_every_file_and_verifies_it(station, passenger, tmp_path):
    stick = tmp_path / "USB-STICK"
    stick.mkdir()
    report = await export_passenger(station.db, station.settings.library, passenger.jump_id, stick)
    assert report.verified
    dest = stick / "BK-2026-1042 Ana Silva"
    assert report.dest == dest
    originals = sorted(p.name for p in passenger.folder.iterdir())
    assert sorted(p.name for p in dest.iterdir()) == originals
    for name in originals:
        assert sha256(dest / name) == sha256(passenger.folder / name)
        assert (dest / name).stat().st_mtime == (passenger.folder / name).stat().st_mtime
    assert {f.name: f.sha256 for f in report.files} == {n: sha256(passenger.folder / n) for n in originals}
    assert await exports(station) == [(passenger.jump_id, "verified", 3, str(dest), None)]

    again = await export_passenger(station.db, station.settings.library, "BK-2026-1042", stick)
    assert again.dest == stick / "BK-2026-1042 Ana Silva (2)"  # the first copy is left as it was
    assert again.verified


async def test_a_copy_that_reads_back_different_is_reported(station, passenger, tmp_path):
    def corrupt(source: Path, copy: Path) -> None:
        if source.name == "GX010001.MP4":
            with copy.open("r+b") as fh:  # one flipped byte, as a failing stick gives
                fh.seek(100)
                byte = fh.read(1)
                fh.seek(100)
                fh.write(bytes([byte[0] ^ 0xFF]))

    report = await export_passenger(station.db, station.settings.library, passenger.jump_id, tmp_path,
                                    after_copy=corrupt)
    assert not report.verified
    assert [(f.name, f.problem.split(" (")[0]) for f in report.problems] == [
        ("GX010001.MP4", "the copy reads back different")]
    [(_, state, files, _, error)] = await exports(station)
    assert (state, files) == ("failed", 3)
    assert error.startswith("GX010001.MP4: the copy reads back different")


async def test_a_library_file_changed_during_the_copy_is_reported(station, passenger, tmp_path):
    def touch_source(source: Path, copy: Path) -> None:
        if source.name == "passenger.json":
            source.write_text('{"booking_id": "BK-2026-1042", "edited": true}')

    report = await export_passenger(station.db, station.settings.library, passenger.jump_id, tmp_path,
                                    after_copy=touch_source)
    assert [(f.name, f.problem) for f in report.problems] == [
        ("passenger.json", "the library file changed while it was copied")]


async def test_no_export_to_a_missing_folder_or_for_an_unknown_passenger(station, passenger, tmp_path):
    with pytest.raises(ExportError, match="not a folder"):
        await export_passenger(station.db, station.settings.library, passenger.jump_id, tmp_path / "unplugged")
    with pytest.raises(ExportError, match="no passenger"):
        await export_passenger(station.db, station.settings.library, "BK-0000", tmp_path)
    assert [row[1] for row in await exports(station)] == ["failed"]  # the failed attempt at the stick is recorded
    assert not (tmp_path / "unplugged").exists()


async def test_the_export_command(station, passenger, tmp_path):
    stick = tmp_path / "stick"
    stick.mkdir()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "app.cli", "export", "--data-dir",
                               str(station.settings.data_dir), "--db-url", station.settings.db_url, *args],
                          capture_output=True, text=True, timeout=120)

    done = await asyncio.to_thread(run, "BK-2026-1042", str(stick))
    assert done.returncode == 0, done.stderr
    assert "exported 3 files" in done.stdout and "every file verified" in done.stdout
    assert sha256(stick / "BK-2026-1042 Ana Silva" / passenger.video.name) == sha256(passenger.video)
    by_folder = await asyncio.to_thread(run, str(passenger.folder), str(stick))
    assert by_folder.returncode == 0, by_folder.stderr
    unknown = await asyncio.to_thread(run, "BK-0000", str(stick))
    assert unknown.returncode == 2 and "no passenger" in unknown.stderr
    assert [(row[0], row[1]) for row in await exports(station)] == [
        (passenger.jump_id, "verified"), (passenger.jump_id, "verified")]  # nothing to export: no record
