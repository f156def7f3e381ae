"""One passenger across cameras and cards (issue 13): the handcam's card and the outside
flyer's card, with identical GoPro file names, make one passenger record, one folder with a
subfolder per camera, one passenger.json and one video holding both cameras' footage."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import av
import pytest
from sqlalchemy import select

from app.db.models import Jump, Passenger, PipelineStep
from app.media.sample_card import DEFAULT_START, write_sample_card
from app.pipeline.library import Library
from app.pipeline.passengers import passenger_for
from tests.importer.loopback import LoopbackDetector, start_station, wait_execution

DAY = "2026-11-23"
ANA = ("BK-2026-1042", "Ana Silva")
OUTSIDE_SERIAL = "C3441325012345"


@pytest.fixture(scope="module")
def cards(tmp_path_factory):
    """The same passenger filmed by two cameras: same file names, clocks 20 s apart; the outside
    camera writes its serial in its clips, the handcam does not (its card's label names it)."""
    handcam = write_sample_card(tmp_path_factory.mktemp("handcam"), passengers=(ANA,), with_unassigned=False)
    outside = write_sample_card(tmp_path_factory.mktemp("outside"), passengers=(ANA,), with_unassigned=False,
                                looks=("tilted",), start=DEFAULT_START + timedelta(seconds=20),
                                camera_serial=OUTSIDE_SERIAL)
    return handcam, outside


@pytest.fixture(params=["sqlite+embedded-redis", "postgres+external-redis"])
async def station(request, tmp_path, cards, redis_prefix):
    if request.param.startswith("postgres"):
        db_url, redis_url = request.getfixturevalue("pg_url"), request.getfixturevalue("external_redis_url")
    else:
        db_url = redis_url = None
    handcam = cards[0]
    station = await start_station(tmp_path / "data", small_file_bytes=(handcam.largest_qr_clip + handcam.smallest_jump_clip) // 2,
                                  db_url=db_url, redis_url=redis_url, redis_prefix=redis_prefix)
    yield station
    await station.stop()


def duration_s(path: Path) -> float:
    with av.open(str(path)) as container:
        return container.duration / 1_000_000


async def import_card(station, card, card_id: str, label: str) -> int:
    station.orchestrator.link = LoopbackDetector(card.root, station)
    ack = await station.orchestrator.file_list("desk-left", card_id, label, "1", card.file_list())
    assert await wait_execution(station, ack.execution_id, "succeeded", "failed", timeout=120) == "succeeded"
    return ack.execution_id


async def test_two_cards_of_one_passenger_make_one_record_folder_and_video(station, cards):
    handcam, outside = cards
    folder = station.settings.library / DAY / f"{ANA[0]} {ANA[1]}"
    first = await import_card(station, handcam, "CARD-HANDCAM", "HANDCAM")
    first_video = folder / f"{ANA[0]} {ANA[1]}.mp4"
    assert duration_s(first_video) == pytest.approx(sum(duration_s(handcam.root / c) for c in handcam.passengers[0].clips), abs=0.15)
    crew_note = folder / "HANDCAM" / "crew note.txt"
    crew_note.write_text("kept")
    second = await import_card(station, outside, "CARD-OUTSIDE", "OUTSIDE")

    records = await station.db.read(lambda s: s.execute(select(Passenger.id, Passenger.booking_id, Passenger.conflict)).all())
    assert len(records) == 1 and records[0][1] == ANA[0] and not records[0][2]
    jumps = await station.db.read(lambda s: s.execute(select(Jump.execution_id, Jump.passenger_id, Jump.camera)
                                                      .where(Jump.unassigned.is_(False))).all())
    assert sorted(jumps) == [(first, records[0][0], "HANDCAM"), (second, records[0][0], OUTSIDE_SERIAL)]

    # Every clip of both cards, each camera in its own subfolder, nothing overwritten.
    for camera, card in (("HANDCAM", handcam), (OUTSIDE_SERIAL, outside)):
        for clip in card.passengers[0].clips + card.passengers[0].photos:
            assert (folder / camera / Path(clip).name).read_bytes() == (card.root / clip).read_bytes()
    assert crew_note.read_text() == "kept"
    document = json.loads((folder / "passenger.json").read_text())
    assert document["cameras"] == sorted(["HANDCAM", OUTSIDE_SERIAL])
    listed = sorted((c["camera"], c["card_path"]) for c in document["clips"])
    assert listed == sorted([("HANDCAM", p) for p in handcam.passengers[0].clips + handcam.passengers[0].photos]
                            + [(OUTSIDE_SERIAL, p) for p in outside.passengers[0].clips + outside.passengers[0].photos])
    assert sorted(p.name for p in folder.glob("*.mp4")) == [first_video.name]  # one video

    # One video holding both cameras' footage from their codes on, rendered again once.
    both = sum(duration_s(card.root / c) for card in cards for c in card.passengers[0].clips)
    assert duration_s(first_video) == pytest.approx(both, abs=0.3)
    renders = await station.db.read(lambda s: s.scalars(select(PipelineStep.key).where(
        PipelineStep.execution_id == second, PipelineStep.name == "render_final")).all())
    assert renders == [f"passenger-{records[0][0]}"]


async def test_a_booking_id_under_another_name_is_a_second_record_flagged_as_a_conflict(station):
    library = Library(station.settings.library)

    def read_codes(session):
        first = passenger_for(session, {"booking_id": "BK-9", "passenger_name": "Ana Silva"}, DAY, library)
        again = passenger_for(session, {"booking_id": "BK-9", "passenger_name": "ana  silva"}, DAY, library)
        other = passenger_for(session, {"booking_id": "BK-9", "passenger_name": "Ben Okafor"}, DAY, library)
        next_day = passenger_for(session, {"booking_id": "BK-9", "passenger_name": "Ben Okafor"}, "2026-11-24", library)
        return [(p.id, p.conflict, Path(p.folder).name) for p in (first, again, other, next_day)]

    first, again, other, next_day = await station.db.run(read_codes)
    assert again == first and first[1] is False
    assert other[0] != first[0] and other[1] is True and other[2] == "BK-9 Ben Okafor"
    assert next_day[1] is False and next_day[0] not in (first[0], other[0])
