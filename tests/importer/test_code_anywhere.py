"""A code anywhere (issue 13): every new clip is searched, not only small ones, the cheapest way
the card and the Detector allow; jumps are made once every clip was searched."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from app.db.models import ExecutionFile, FileProbe, ImportedFile, PipelineStep
from tests.importer.big_cards import BASE, write_big_code_card, write_fragmented_code_card
from tests.importer.loopback import LoopbackDetector, start_station, wait_execution

DAY = "2026-11-23"
SMALL_FILE_BYTES = 100_000  # every clip of these cards is above it: "big"
SERIAL = "C3441325099999"
INDEX_HEAD_BYTES = 32_000  # the head asked first, to find the index: ftyp and mdat's header
FIXED_HEAD_BYTES = 600_000  # the first ~4 s of these clips, searched when the index cannot be read
CODE_CLIP_BYTES = 40_000_000  # the long card's code clips, made big (a sparse `free` box before the index)


@pytest.fixture(scope="module")
def four_k_card(tmp_path_factory):
    return write_big_code_card(tmp_path_factory.mktemp("card4k"), proxies=True)


@pytest.fixture(scope="module")
def long_card(tmp_path_factory):
    return write_big_code_card(tmp_path_factory.mktemp("cardlong"), four_k=False, jump_s=12.0,
                               spec=replace(BASE, camera_serial=SERIAL), code_clips_bytes=CODE_CLIP_BYTES)


@pytest.fixture(scope="module")
def fragmented_card(tmp_path_factory):
    return write_fragmented_code_card(tmp_path_factory.mktemp("cardfrag"))


@pytest.fixture(params=["sqlite+embedded-redis", "postgres+external-redis"])
async def station(request, tmp_path, redis_prefix):
    if request.param.startswith("postgres"):
        db_url, redis_url = request.getfixturevalue("pg_url"), request.getfixturevalue("external_redis_url")
    else:
        db_url = redis_url = None
    station = await start_station(tmp_path / "data", small_file_bytes=SMALL_FILE_BYTES, db_url=db_url,
                                  redis_url=redis_url, redis_prefix=redis_prefix)
    station.settings.index_head_bytes = INDEX_HEAD_BYTES
    station.settings.probe_head_bytes = FIXED_HEAD_BYTES
    yield station
    await station.stop()


def passenger_clips(library: Path, booking_id: str, name: str) -> set[str]:
    folder = library / DAY / f"{booking_id} {name}"
    return {p.name for p in folder.rglob("*.MP4") if not p.name.startswith(booking_id)}


async def searches(station, execution_id: int) -> dict[str, dict]:
    rows = await station.db.read(lambda s: s.execute(select(ExecutionFile.path, ExecutionFile.search).where(
        ExecutionFile.execution_id == execution_id, ExecutionFile.kind == "video")).all())
    return {Path(path).name: search for path, search in rows}


async def step_logs(station, execution_id: int, name: str) -> list[str]:
    def load(session):
        steps = session.scalars(select(PipelineStep).where(PipelineStep.execution_id == execution_id,
                                                           PipelineStep.name == name)).all()
        return [line.message for step in steps for line in step.logs]

    return await station.db.read(load)


def assert_each_jump_under_its_own_passenger(station, card) -> None:
    for booking_id, name in card.passengers.items():
        assert passenger_clips(station.settings.library, booking_id, name) == {
            Path(p).name for p in card.clips_of(booking_id)}, booking_id
    unassigned = station.settings.library / DAY / "_unassigned" / "CARD-BIG"
    assert {p.name for p in unassigned.glob("*.MP4")} == {Path(p).name for p in card.clips_of(None)}


async def test_codes_on_big_and_4k_clips_are_read_from_proxies_or_whole_clips(station, four_k_card):
    """Ana's code starts a clip above the small-file size (its proxy shows the code); Ben's is on
    a 4K clip whose proxy missed it: searched whole. No Detector with `range` here."""
    card = four_k_card
    detector = LoopbackDetector(card.root, station)
    station.orchestrator.link = detector
    ack = await station.orchestrator.file_list("desk-left", "CARD-BIG", "GOPRO", "1", card.listing)
    assert await wait_execution(station, ack.execution_id, "succeeded", "failed", timeout=180) == "succeeded"

    assert_each_jump_under_its_own_passenger(station, card)
    found = await searches(station, ack.execution_id)
    assert found["GX010002.MP4"]["method"] == "proxy" and found["GX010002.MP4"]["found"]
    assert found["GX010004.MP4"]["method"] == "whole" and found["GX010004.MP4"]["found"]
    assert all(s is not None for s in found.values())  # every clip was searched
    requested = [path for r in detector.requests for path in (f["path"] for f in r["files"])]
    assert "DCIM/100GOPRO/GL010002.LRV" in requested and "DCIM/100GOPRO/GL010004.LRV" in requested
    # Proxies were looked into, never filed nor recorded as imported.
    imported = await station.db.read(lambda s: s.scalars(select(ImportedFile.source_path)).all())
    assert not [p for p in imported if p.endswith(".LRV")]
    assert not list(station.settings.library.rglob("*.LRV"))
    logs = await step_logs(station, ack.execution_id, "decode_qr")
    assert any("BK-7001" in line and "GoPro proxy" in line and "bytes moved" in line for line in logs)
    assert any("GX010004.MP4: no code in its proxy" in line for line in logs)


async def test_a_range_detector_finds_every_passenger_for_a_small_fraction_of_the_card(station, long_card):
    card = long_card
    detector = LoopbackDetector(card.root, station, announced=frozenset({"upload", "range"}))
    station.orchestrator.link = detector
    moved_when_known: list[int] = []
    station.bus.subscribe(lambda e: moved_when_known.append(detector.bytes_sent)
                          if e.type == "pipeline:step_started" and e.data.get("step") == "assign_jumps" else None)
    ack = await station.orchestrator.file_list("desk-left", "CARD-BIG", "GOPRO", "1", card.listing)
    assert await wait_execution(station, ack.execution_id, "succeeded", "failed", timeout=180) == "succeeded"

    assert_each_jump_under_its_own_passenger(station, card)
    found = await searches(station, ack.execution_id)
    assert {name: s["method"] for name, s in found.items()} == dict.fromkeys(found, "slices")
    assert found["GX010002.MP4"]["found"] and found["GX010004.MP4"]["found"]
    # The camera's serial came with the slices (the index at the tail): each jump in its folder.
    for booking_id, name in card.passengers.items():
        assert [p.name for p in (station.settings.library / DAY / f"{booking_id} {name}").iterdir() if p.is_dir()] == [SERIAL]
    # A code clip: a small head, the box headers after its mdat, its index (GoPro writes it last),
    # then only the bytes of its first seconds, right after the head.
    asked = [(f["offset"], f["length"]) for r in detector.requests for f in r["files"]
             if "length" in f and f["path"].endswith("GX010002.MP4")]
    assert asked[0] == (0, INDEX_HEAD_BYTES)
    assert sum(asked[-2]) == CODE_CLIP_BYTES
    assert asked[-1][0] == INDEX_HEAD_BYTES
    for name in ("GX010002.MP4", "GX010004.MP4"):
        print(f"\n{name}: {found[name]['bytes']} bytes of {CODE_CLIP_BYTES} moved to find its code")
        assert found[name]["bytes"] < 0.05 * CODE_CLIP_BYTES
    assert found["GX010002.MP4"]["bytes"] == sum(length for _, length in asked)
    fraction = moved_when_known[0] / card.total_bytes
    print(f"\nbytes moved before every passenger was known: {moved_when_known[0]} of {card.total_bytes} "
          f"({fraction:.1%}); the whole card afterwards: {detector.bytes_sent}")
    assert fraction < 0.1
    # Every byte of every clip reached the library all the same (each clip once, whole).
    for path in card.owners:
        stored = await station.db.read(lambda s, p=path: s.scalar(
            select(ImportedFile.stored_path).where(ImportedFile.source_path == p)))
        assert Path(stored).read_bytes() == (card.root / path).read_bytes()
    probes_left = await station.db.read(lambda s: s.scalars(select(FileProbe.stored_path)).all())
    assert not [p for p in probes_left if p and Path(p).exists()]  # slices deleted once searched


async def test_clips_whose_index_cannot_be_read_are_searched_in_a_fixed_head_then_whole(station, fragmented_card):
    """A fragmented MP4 (its index holds no sample tables) with the code at its start: the station
    cannot place its first seconds from the index, and finds the code in the fixed head instead.
    A clip that is no MP4 at all: its fixed head cannot be read either, so it is fetched whole."""
    card = fragmented_card
    detector = LoopbackDetector(card.root, station, announced=frozenset({"upload", "range"}))
    station.orchestrator.link = detector
    ack = await station.orchestrator.file_list("desk-left", "CARD-FRAG", "GOPRO", "1", card.listing)
    assert await wait_execution(station, ack.execution_id, "succeeded", "failed", timeout=180) == "succeeded"

    for booking_id, name in card.passengers.items():
        assert passenger_clips(station.settings.library, booking_id, name) == {Path(p).name for p in card.owners}
    found = await searches(station, ack.execution_id)
    assert found["GX010001.MP4"]["method"] == "head" and found["GX010001.MP4"]["found"]
    asked = [(f["offset"], f["length"]) for r in detector.requests for f in r["files"]
             if "length" in f and f["path"].endswith("GX010001.MP4")]
    assert asked == [(0, INDEX_HEAD_BYTES), (INDEX_HEAD_BYTES, FIXED_HEAD_BYTES - INDEX_HEAD_BYTES)]
    logs = await step_logs(station, ack.execution_id, "decode_qr")
    assert any("GX010001.MP4: its index does not place its first seconds" in line for line in logs)
    assert any("BK-7101" in line and "a fixed head" in line for line in logs)
    noise = found["GX010003.MP4"]
    assert noise["method"] == "whole" and not noise["found"] and "error" in noise
    asked = [(f["offset"], f.get("length")) for r in detector.requests for f in r["files"]
             if f["path"].endswith("GX010003.MP4")]
    assert asked == [(0, INDEX_HEAD_BYTES), (INDEX_HEAD_BYTES, 200_000 - INDEX_HEAD_BYTES), (0, None)]
