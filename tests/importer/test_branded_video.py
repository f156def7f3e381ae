"""The drop zone's branding through a real import: the passenger's video opens with their title
card and ends with the logo, a watermarked preview lies beside it, the step log gives the render
time per minute of footage; an unreadable logo gives a plain video that says why."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from PIL import Image
from sqlalchemy import select

from app.db.models import Passenger, PipelineStepLog
from app.media.sample_card import write_sample_card
from tests.importer.loopback import LoopbackDetector, start_station, steps_named, wait_execution

DAY = "2026-11-23"


def duration_s(path: Path) -> float:
    with av.open(str(path)) as container:
        return container.duration / 1_000_000


@pytest.fixture(scope="module")
def card(tmp_path_factory):
    return write_sample_card(tmp_path_factory.mktemp("card"))


@pytest.fixture
async def station(tmp_path, card, redis_prefix):
    station = await start_station(tmp_path / "data", small_file_bytes=(card.largest_qr_clip + card.smallest_jump_clip) // 2,
                                  redis_prefix=redis_prefix)
    yield station
    await station.stop()


@pytest.fixture
def logo(tmp_path) -> Path:
    image = Image.new("RGBA", (200, 100), (0, 0, 0, 0))
    image.paste((255, 0, 255, 255), (20, 10, 180, 90))
    path = tmp_path / "logo.png"
    image.save(path)
    return path


async def render_logs(station, execution_id: int) -> list[str]:
    renders = await steps_named(station, execution_id, "render_final")
    ids = [s.id for s in renders]
    return await station.db.read(lambda s: list(s.scalars(select(PipelineStepLog.message).where(
        PipelineStepLog.step_id.in_(ids)))))


async def test_branded_video_has_its_cards_a_preview_and_its_render_time(station, card, logo):
    station.settings.drop_zone_name, station.settings.logo_path = "Skydive Algarve", str(logo)
    station.settings.intro_s, station.settings.outro_s = 1.5, 1.0
    station.orchestrator.link = LoopbackDetector(card.root, station)
    ack = await station.orchestrator.file_list("desk-left", "BRAND-1", "GOPRO", "1", card.file_list())
    assert await wait_execution(station, ack.execution_id, "succeeded", "failed") == "succeeded"

    for passenger in card.passengers:
        folder = station.settings.library / DAY / f"{passenger.booking_id} {passenger.passenger_name}"
        video = folder / f"{passenger.booking_id} {passenger.passenger_name}.mp4"
        clips_s = sum(duration_s(card.root / c) for c in passenger.clips)
        assert duration_s(video) == pytest.approx(clips_s + 1.5 + 1.0, abs=0.25)
        preview = folder / f"{passenger.booking_id} {passenger.passenger_name} (preview).mp4"
        with av.open(str(preview)) as container:
            assert container.streams.video[0].codec_context.height == 360
    logs = await render_logs(station, ack.execution_id)
    assert any("per minute of footage" in line and "branded" in line for line in logs), logs


async def test_an_unreadable_logo_gives_a_plain_video_that_says_why(station, card, tmp_path):
    not_a_logo = tmp_path / "logo.png"
    not_a_logo.write_text("a text file")
    station.settings.logo_path = str(not_a_logo)
    station.orchestrator.link = LoopbackDetector(card.root, station)
    ack = await station.orchestrator.file_list("desk-left", "BRAND-2", "GOPRO", "1", card.file_list())
    assert await wait_execution(station, ack.execution_id, "succeeded", "failed") == "succeeded"
    ana = card.passengers[0]
    video = await station.db.read(lambda s: s.scalar(select(Passenger.video_path).where(
        Passenger.booking_id == ana.booking_id)))
    assert duration_s(Path(video)) == pytest.approx(sum(duration_s(card.root / c) for c in ana.clips), abs=0.15)
    assert not Path(video).with_name(Path(video).stem + " (preview).mp4").exists()
    logs = await render_logs(station, ack.execution_id)
    assert any("rendered without that part of the branding" in line and "logo" in line for line in logs), logs
