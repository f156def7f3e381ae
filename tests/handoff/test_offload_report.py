"""The offload report of a real card import: the ASC MHL manifest validates with ascmhl, and the
HTML report names every file of the card (what was imported and what was skipped, and why)."""

from __future__ import annotations

import hashlib
from html import escape
from pathlib import Path

import pytest
from ascmhl import errors as mhl_errors
from ascmhl import hashlist_xml_parser
from ascmhl.commands import verify_entire_folder
from sqlalchemy import select

from app.db.models import ExecutionFile, FileState
from app.media.sample_card import write_sample_card
from app.pipeline.offload_report import report_of
from tests.importer.loopback import LoopbackDetector, start_station, wait_execution


@pytest.fixture(scope="module")
def card(tmp_path_factory):
    return write_sample_card(tmp_path_factory.mktemp("card"))


@pytest.fixture
async def imported(tmp_path, card):
    station = await start_station(tmp_path / "data", small_file_bytes=(card.largest_qr_clip + card.smallest_jump_clip) // 2)
    station.orchestrator.link = LoopbackDetector(card.root, station)
    ack = await station.orchestrator.file_list("desk-left", "3A1F-77C2", "GOPRO-ANA", "1", card.file_list())
    assert await wait_execution(station, ack.execution_id, "succeeded", "failed") == "succeeded"
    yield station, ack.execution_id
    await station.stop()


async def stored_files(station, execution_id: int) -> dict[str, tuple[int, str]]:
    """{library path: (size, SHA-256)} of what the import stored."""
    return await station.db.read(lambda s: {path: (size, sha256) for path, size, sha256 in s.execute(
        select(ExecutionFile.stored_path, ExecutionFile.size, ExecutionFile.sha256).where(
            ExecutionFile.execution_id == execution_id, ExecutionFile.state == FileState.STORED))})


async def test_the_manifest_validates_with_ascmhl_and_catches_a_changed_file(imported, card):
    station, execution_id = imported
    library = station.settings.library
    report = await station.db.read(lambda s: report_of(s, execution_id))
    assert report == library / "2026-11-23" / "_reports" / f"GOPRO-ANA {execution_id}" / "report.html"
    manifest = report.parent / "GOPRO-ANA.mhl"

    stored = await stored_files(station, execution_id)
    hash_list = hashlist_xml_parser.parse(str(manifest))
    listed = {str(library / m.path): m for m in hash_list.media_hashes}
    assert set(listed) == set(stored)
    for path, media in listed.items():
        assert media.file_size == stored[path][0]
        assert media.find_hash_entry_for_format("xxh64") is not None
        verify_entire_folder(str(library), False, path, str(manifest))  # ascmhl's own check; raises on a mismatch

    victim = next(p for p in listed if p.endswith(".MP4"))
    with open(victim, "r+b") as fh:
        fh.seek(1000)
        fh.write(b"\x00\x01\x02\x03")
    with pytest.raises(mhl_errors.VerificationFailedException):
        verify_entire_folder(str(library), False, victim, str(manifest))

    sums = (report.parent / "GOPRO-ANA.sha256").read_text().splitlines()
    assert len(sums) == len(stored)
    for line in sums:
        digest, relative = line.split("  ", 1)
        assert digest == stored[str(library / relative)][1]


async def test_the_html_report_names_every_file_and_says_why_some_were_skipped(imported, card):
    station, execution_id = imported
    report = await station.db.read(lambda s: report_of(s, execution_id))
    page = report.read_text()
    for f in card.files:
        assert escape(f.path) in page, f"{f.path} is not in the report"
    for proxy in card.proxies:
        assert escape(proxy) in page
    assert "proxy files are not imported" in page or "thumbnail files are not imported" in page
    for passenger in card.passengers:
        assert escape(passenger.passenger_name) in page and passenger.booking_id in page
    stored = await stored_files(station, execution_id)
    assert stored
    for path, (_, sha256) in stored.items():
        assert sha256 in page
        assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == sha256
    assert "desk-left" in page and "3A1F-77C2" in page
    assert "every imported file is in the library, at its size" in page
    assert "http" not in page  # self-contained
