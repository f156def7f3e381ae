"""A card from a past day is filed under that day, passengers and unassigned clips alike, even
when the codes carry no booking date (DESIGN.md, "Day")."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from app.db.models import ExecutionFile, FileState, Passenger
from app.media.sample_card import write_sample_card
from tests.importer.loopback import LoopbackDetector, start_station, wait_execution


@pytest.fixture
async def station(tmp_path, redis_prefix):
    station = await start_station(tmp_path / "data", small_file_bytes=1, redis_prefix=redis_prefix)
    yield station
    await station.stop()


async def test_a_card_filmed_40_days_ago_goes_under_that_day(station, tmp_path):
    # Relative to the machine's clock, so the test means the same on any date (CI also runs it a year ahead).
    filmed = (datetime.now(timezone.utc) - timedelta(days=40)).replace(hour=10, minute=0, second=0, microsecond=0)
    card = write_sample_card(tmp_path / "card", start=filmed, codes_carry_date=False)
    station.settings.small_file_bytes = (card.largest_qr_clip + card.smallest_jump_clip) // 2
    station.orchestrator.link = LoopbackDetector(card.root, station)
    ack = await station.orchestrator.file_list("desk-left", "PAST-1", "GOPRO", "1", card.file_list())
    assert await wait_execution(station, ack.execution_id, "succeeded", "failed") == "succeeded"

    day = filmed.date().isoformat()
    library = station.settings.library
    stored = await station.db.read(lambda s: list(s.scalars(select(ExecutionFile.stored_path).where(
        ExecutionFile.execution_id == ack.execution_id, ExecutionFile.state == FileState.STORED))))
    assert stored and all(Path(p).relative_to(library).parts[0] == day for p in stored), stored
    days = await station.db.read(lambda s: set(s.scalars(select(Passenger.day))))
    assert days == {day}
    assert sorted(p.name for p in (library / day).iterdir()) == sorted(
        [f"{p.booking_id} {p.passenger_name}" for p in card.passengers] + ["_reports", "_unassigned"])
