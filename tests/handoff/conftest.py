"""A real station (SQLite or Postgres, embedded Redis, real HTTP server) with one passenger whose video is
a real H.264 MP4, for the hand-off tests."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

from app.db.models import Jump, PipelineExecution
from app.media.samples import ClipSpec, write_clip
from app.station import Station
from tests.importer.loopback import start_station

T0 = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)


@dataclass
class Passenger:
    jump_id: int
    folder: Path
    video: Path
    name: str


@pytest.fixture(scope="session")
def passenger_video(tmp_path_factory) -> Path:
    """Four seconds of 320x240 H.264 with AAC sound, moov first (as a rendered video is)."""
    return write_clip(tmp_path_factory.mktemp("video") / "video.mp4", ClipSpec(duration_s=4.0, audio=True,
                                                                                faststart=True))


@pytest.fixture(params=["sqlite", "postgres"])
async def station(request, tmp_path) -> Station:
    db_url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    station = await start_station(tmp_path / "data", small_file_bytes=1, db_url=db_url)
    station.handoff.links.clock = lambda: T0
    yield station
    await station.stop()


@pytest.fixture
async def passenger(station, passenger_video) -> Passenger:
    folder = station.settings.library / "2026-11-23" / "BK-2026-1042 Ana Silva"
    folder.mkdir(parents=True)
    video = folder / "BK-2026-1042 Ana Silva.mp4"
    video.write_bytes(passenger_video.read_bytes())
    (folder / "GX010001.MP4").write_bytes(passenger_video.read_bytes()[:5000])
    (folder / "passenger.json").write_text('{"booking_id": "BK-2026-1042"}')

    def add(session) -> int:
        execution = PipelineExecution(pipeline="card_import", card_id="3A1F-77C2")
        jump = Jump(execution=execution, card_id="3A1F-77C2", booking_id="BK-2026-1042",
                    passenger_name="Ana Silva", output_dir=str(folder), video_path=str(video))
        session.add_all([execution, jump])
        session.flush()
        return jump.id

    return Passenger(await station.db.run(add), folder, video, "Ana Silva")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def _get(url: str, headers: dict[str, str]) -> Answer:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return Answer(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


async def http_get(url: str, **headers: str) -> Answer:
    """A real HTTP GET (urllib) off the event loop the station runs on."""
    return await asyncio.to_thread(_get, url, headers)


async def recorded_downloads(station: Station, link_id: int, at_least: int, timeout: float = 10) -> list[tuple]:
    """(status, bytes, remote address, time) of a link's downloads, once `at_least` are recorded
    (a download is recorded just after its last byte went out)."""
    from sqlalchemy import select  # noqa: PLC0415

    from app.db.models import HandoffDownload  # noqa: PLC0415

    def read(session) -> list[tuple]:
        return [(d.status, d.bytes_sent, d.remote_address, d.at) for d in session.scalars(
            select(HandoffDownload).where(HandoffDownload.link_id == link_id).order_by(HandoffDownload.id))]

    deadline = time.monotonic() + timeout
    while len(rows := await station.db.read(read)) < at_least:
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(rows)} download(s) recorded, not {at_least}")
        await asyncio.sleep(0.05)
    return rows
