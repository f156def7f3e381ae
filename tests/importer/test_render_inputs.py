"""Issue 12, finding 11: a render never starts before its clips were read, and bytes that are
no clip never reach the render (a real station, real clips, a loopback Detector)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import threading
from datetime import timedelta
from pathlib import Path

import av
import pytest
from sqlalchemy import select

from app.db.models import ExecutionFile, Jump, StepState
from app.media import probe as probe_module
from app.media.sample_card import write_sample_card
from tests.importer.loopback import LoopbackDetector, start_station, steps_named, wait_execution

DAY = "2026-11-23"
JUNK = "DCIM/100GOPRO/GX019999.MP4"


@pytest.fixture(scope="module")
def card(tmp_path_factory):
    return write_sample_card(tmp_path_factory.mktemp("card"))


@pytest.fixture
async def station(tmp_path, card):
    station = await start_station(tmp_path / "data", small_file_bytes=(card.largest_qr_clip + card.smallest_jump_clip) // 2)
    yield station
    await station.stop()


def duration_s(path: Path) -> float:
    with av.open(str(path)) as container:
        return container.duration / 1_000_000


def card_with_junk(card, root: Path, junk: bytes) -> list[dict]:
    """The sample card plus a broken clip inside Ana's jump; returns its listing."""
    shutil.copytree(card.root, root)
    (root / JUNK).write_bytes(junk)
    when = next(f.modified for f in card.files if f.path == card.passengers[0].clips[1]) + timedelta(seconds=10)
    os.utime(root / JUNK, (when.timestamp(), when.timestamp()))
    return card.file_list() + [{"path": JUNK, "size": len(junk), "modified": when.strftime("%Y-%m-%dT%H:%M:%SZ")}]


def ana_folder(station, card) -> Path:
    ana = card.passengers[0]
    return station.settings.library / DAY / f"{ana.booking_id} {ana.passenger_name}"


# Random bytes FFmpeg takes for a raw stream (seeded, so the test is the same every run): the
# cause of the flaky render seen in the issue, about 1 block in 100 of os.urandom.
@pytest.mark.parametrize("seed, read_as", [(131, "lrc"), (1111, "h261")])
async def test_bytes_ffmpeg_reads_as_a_raw_stream_are_set_aside_not_rendered(station, card, tmp_path, seed, read_as):
    junk = random.Random(seed).randbytes(40_000)
    assert probe_module.probe(_write(tmp_path / "probe" / "x.MP4", junk))["format"] == read_as  # the trap is real
    listing = card_with_junk(card, tmp_path / "card", junk)
    station.orchestrator.link = LoopbackDetector(tmp_path / "card", station)
    ack = await station.orchestrator.file_list("desk-left", "JUNK-1", "GOPRO", "1", listing)
    assert await wait_execution(station, ack.execution_id, "succeeded", "failed") == "succeeded"

    folder = ana_folder(station, card)
    [kept] = folder.rglob(Path(JUNK).name)  # in its camera's subfolder
    assert kept.read_bytes() == junk  # kept as copied
    [entry] = [c for c in json.loads((folder / "passenger.json").read_text())["clips"] if c["card_path"] == JUNK]
    assert "not a video container" in entry["metadata"]["error"]
    ana = card.passengers[0]
    video = folder / f"{ana.booking_id} {ana.passenger_name}.mp4"
    assert duration_s(video) == pytest.approx(sum(duration_s(card.root / c) for c in ana.clips), abs=0.15)


async def test_the_render_waits_for_a_slow_read_of_its_clips(station, card, tmp_path, monkeypatch):
    listing = card_with_junk(card, tmp_path / "card", random.Random(7).randbytes(40_000))
    entered, release = threading.Event(), threading.Event()
    real_probe = probe_module.probe

    def slow_probe(path):  # the read of the junk clip takes as long as the test wants
        if Path(path).name == Path(JUNK).name:
            entered.set()
            release.wait(60)
        return real_probe(path)

    monkeypatch.setattr(probe_module, "probe", slow_probe)
    station.orchestrator.link = LoopbackDetector(tmp_path / "card", station)
    ack = await station.orchestrator.file_list("desk-left", "SLOW-1", "GOPRO", "1", listing)
    try:
        assert await asyncio.to_thread(entered.wait, 60)

        async def everything_else_done() -> bool:
            steps = await steps_named(station, ack.execution_id, "extract_metadata")
            others = [s for s in steps if s.key != JUNK]
            fetches = await steps_named(station, ack.execution_id, "request_session_videos")
            return (bool(others) and all(s.state == StepState.SUCCEEDED for s in others)
                    and all(s.state == StepState.SUCCEEDED for s in fetches) and len(fetches) == len(card.passengers) + 1)

        # Every other input of the render is ready: only the slow read is left.
        assert await until(everything_else_done)
        [slow] = [s for s in await steps_named(station, ack.execution_id, "extract_metadata") if s.key == JUNK]
        assert slow.state == StepState.RUNNING
        renders = {s.key: s for s in await steps_named(station, ack.execution_id, "render_final")}
        passenger_id = await station.db.read(lambda s: s.scalar(select(Jump.passenger_id).join(
            ExecutionFile, ExecutionFile.jump_id == Jump.id).where(
            ExecutionFile.execution_id == ack.execution_id, ExecutionFile.path == JUNK)))
        ana_render = renders[f"passenger-{passenger_id}"]  # one render per passenger
        assert ana_render.state == StepState.PENDING  # not queued while its clip is being read
    finally:
        release.set()
    assert await wait_execution(station, ack.execution_id, "succeeded", "failed") == "succeeded"
    [slow] = [s for s in await steps_named(station, ack.execution_id, "extract_metadata") if s.key == JUNK]
    [render] = [s for s in await steps_named(station, ack.execution_id, "render_final") if s.id == ana_render.id]
    assert render.started_at >= slow.finished_at


async def until(predicate, timeout: float = 60) -> bool:
    """True once `predicate()` is; False when time ran out."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.05)
    return await predicate()


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
