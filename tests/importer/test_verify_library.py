"""`ingest-station verify` on a real imported library (a station imports the sample card, then
the command runs as a user would run it)."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.db.models import ImportedFile
from app.media.sample_card import write_sample_card
from tests.importer.loopback import LoopbackDetector, start_station, wait_execution
from tests.support.station_process import station_command, station_env

DAY = "2026-11-23"


@pytest.fixture(scope="module")
def card(tmp_path_factory):
    return write_sample_card(tmp_path_factory.mktemp("card"))


def verify(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(station_command("verify", "--data-dir", str(data_dir), *args),
                          capture_output=True, text=True, timeout=120, env=station_env())


async def test_verify_finds_a_flipped_byte_a_deleted_clip_and_a_stray_file(tmp_path, card):
    data_dir = tmp_path / "data"
    station = await start_station(data_dir, small_file_bytes=(card.largest_qr_clip + card.smallest_jump_clip) // 2)
    try:
        station.orchestrator.link = LoopbackDetector(card.root, station)
        ack = await station.orchestrator.file_list("desk-left", "3A1F-77C2", "GOPRO", "1", card.file_list())
        assert await wait_execution(station, ack.execution_id, "succeeded", "failed") == "succeeded"
        recorded = await station.db.read(lambda s: s.scalar(select(func.count()).select_from(ImportedFile)))
    finally:
        await station.stop()

    clean = await asyncio.to_thread(verify, data_dir)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert f"{recorded} recorded files read back" in clean.stdout
    assert "0 missing, 0 changed, 0 unrecorded" in clean.stdout

    library = data_dir / "library" / DAY
    ana, ben = card.passengers
    [flipped] = (library / f"{ana.booking_id} {ana.passenger_name}").rglob(Path(ana.clips[-1]).name)
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, mid-file: same size, same time
    flipped.write_bytes(bytes(data))
    [deleted] = (library / f"{ben.booking_id} {ben.passenger_name}").rglob(Path(ben.clips[0]).name)
    deleted.unlink()
    stray = library / "_unassigned" / "3A1F-77C2" / "copied by hand.MP4"
    stray.write_bytes(b"not from the station")

    found = await asyncio.to_thread(verify, data_dir)
    assert found.returncode == 1
    lines = found.stdout.splitlines()
    [changed] = [line for line in lines if line.startswith("changed")]
    assert changed.startswith(f"changed     {flipped}  (sha256 ")
    assert any(line.startswith(f"missing     {deleted}  ({ben.clips[0]} of card 3A1F-77C2)") for line in lines)
    assert sum(line.startswith("missing") for line in lines) == 1
    assert [line for line in lines if line.startswith("unrecorded")] == [f"unrecorded  {stray}"]
    assert "1 missing, 1 changed, 1 unrecorded" in found.stdout

    later = await asyncio.to_thread(verify, data_dir, "--since", "2026-11-24")  # the damage is on the 23rd
    assert later.returncode == 0 and "0 recorded files read back" in later.stdout
    same_day = await asyncio.to_thread(verify, data_dir, "--since", DAY)
    assert same_day.returncode == 1 and "1 missing, 1 changed, 1 unrecorded" in same_day.stdout
