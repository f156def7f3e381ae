"""The reference Detector against a station that misbehaves (issue 12, finding 8): shared-path
destinations outside its allowed folder, through links, over existing files; traversal paths,
malformed messages, frames larger than any the protocol allows, an absurd chunk size, close 4409.
The Detector writes nothing outside its shared root, keeps its token out of its trace, and goes on."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from app.detector.agent import DetectorAgent, StationRefused
from app.detector.sources import SingleCard
from app.detector.station_messages import MIN_CHUNK_SIZE
from tests.net.conftest import TOKEN, eventually, files_outside
from tests.net.scripted_station import ScriptedStation
from tests.net.test_detector_agent import make_card

CLIP = "DCIM/100GOPRO/GX010001.MP4"


@asynccontextmanager
async def running(station: ScriptedStation, card: Path, **kwargs: Any) -> AsyncIterator[DetectorAgent]:
    kwargs.setdefault("say", lambda _line: None)
    agent = DetectorAgent(station.url, TOKEN, SingleCard(card, "CARD-1"), detector_id="desk-pi",
                          scan_interval=0.05, **kwargs)
    agent.first_backoff = agent.replaced_backoff = 0.05
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    try:
        yield agent
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def copy_request(request_id: str, *files: dict[str, Any], mode: str = "upload", dest_dir: str | None = None,
                 card_id: str = "CARD-1") -> dict[str, Any]:
    return {"request_id": request_id, "card_id": card_id, "mode": mode, "files": list(files), "dest_dir": dest_dir}


def entry(path: str, size: int, offset: int = 0, **extra: Any) -> dict[str, Any]:
    return {"path": path, "size": size, "offset": offset, **extra}


def answer_for(station: ScriptedStation, request_id: str, path: str) -> dict[str, Any] | None:
    """The Detector's sd:file_copied or sd:copy_error for one file of a request."""
    return next((m for m in station.received if m["type"] in ("sd:file_copied", "sd:copy_error")
                 and m["data"]["request_id"] == request_id and m["data"]["path"] == path), None)


async def test_shared_path_copies_land_only_inside_the_shared_root(tmp_path):
    payload = os.urandom(100_000)
    card = make_card(tmp_path / "card", {CLIP: payload})
    shared = tmp_path / "shared"
    outside = tmp_path / "outside"
    (shared / "taken" / "DCIM" / "100GOPRO").mkdir(parents=True)
    victim = shared / "taken" / CLIP
    victim.write_bytes(b"a file already there")
    outside.mkdir()
    (shared / "link").symlink_to(outside, target_is_directory=True)  # planted by whoever shares the folder
    size = len(payload)
    hostile = {
        "r-out": str(outside),                               # a foreign folder
        "r-up": f"{shared}/../outside",                      # climbing out
        "r-link": str(shared / "link"),                      # through a symlink
        "r-root": "/",                                       # anywhere at all
        "r-over": str(shared / "taken"),                     # over an existing file
    }
    async with ScriptedStation() as station, running(station, card, shared_root=shared):
        await eventually(station.listed)
        assert "shared_path" in station.hellos[0]["data"]["capabilities"]
        for request_id, dest_dir in hostile.items():
            await station.send("sd:copy_request", copy_request(request_id, entry(CLIP, size), mode="shared_path",
                                                               dest_dir=dest_dir))
        await station.send("sd:copy_request", copy_request("r-ok", entry(CLIP, size), mode="shared_path",
                                                           dest_dir=str(shared / "exec-1")))
        copied = await eventually(lambda: answer_for(station, "r-ok", CLIP))
        answers = {r: answer_for(station, r, CLIP) for r in hostile}

    for request_id, answer in answers.items():
        assert answer is not None and answer["type"] == "sd:copy_error", (request_id, answer)
        assert answer["data"]["retryable"] is False and "refused" in answer["data"]["error"]
    assert copied["type"] == "sd:file_copied"
    assert copied["data"]["dest"] == f"{shared}/exec-1/{CLIP}"
    assert copied["data"]["sha256"] == hashlib.sha256(payload).hexdigest()
    assert (shared / "exec-1" / CLIP).read_bytes() == payload
    assert victim.read_bytes() == b"a file already there"
    assert list(outside.iterdir()) == []
    assert files_outside(tmp_path, card, shared / "exec-1", victim) == []


async def test_without_a_shared_root_shared_path_copies_are_refused(tmp_path):
    card = make_card(tmp_path / "card", {CLIP: b"clip"})
    dest = tmp_path / "dest"
    async with ScriptedStation() as station, running(station, card):
        await eventually(station.listed)
        assert "shared_path" not in station.hellos[0]["data"]["capabilities"]
        await station.send("sd:copy_request", copy_request("r-1", entry(CLIP, 4), mode="shared_path",
                                                           dest_dir=str(dest)))
        answer = await eventually(lambda: answer_for(station, "r-1", CLIP))
    assert answer["type"] == "sd:copy_error" and "--shared-root" in answer["data"]["error"]
    assert not dest.exists()


async def test_malformed_messages_are_logged_briefly_and_the_detector_goes_on(tmp_path, caplog):
    payload = os.urandom(70_000)
    card = make_card(tmp_path / "card", {CLIP: payload})
    caplog.set_level(logging.INFO, logger="app.detector")
    async with ScriptedStation() as station, running(station, card):
        await eventually(station.listed)
        await station.send("sd:copy_request", ["not", "an", "object"])
        await station.send("sd:copy_request", copy_request("r-up", entry("../../etc/passwd", 10)))
        await station.send("sd:copy_request", copy_request("x" * 3_000_000, entry(CLIP, len(payload))))
        await station.send("sd:copy_request", copy_request("r-neg", entry(CLIP, len(payload), offset=-5)))
        await station.send("sd:wipe_request", {"request_id": "w-1", "card_id": "CARD-1", "files": "everything"})
        await station.send("sd:card_status", {"card_id": "CARD-1", "state": "complete", "safe_to_format": "yes"})
        await station.send("sd:copy_cancel", None)
        await station.send_raw("{not json")
        await station.send_raw("[1, 2, 3]")
        await station.send_raw(b"\x00" * 1000)
        await station.send("sd:copy_request", copy_request("r-ok", entry(CLIP, len(payload))))
        copied = await eventually(lambda: answer_for(station, "r-ok", CLIP))
    assert copied["type"] == "sd:file_copied" and station.uploads[-1].data == payload
    assert len(station.hellos) == 1  # one connection throughout: nothing made it reconnect
    assert [u.begin["request_id"] for u in station.uploads] == ["r-ok"]
    assert station.of_type("sd:wipe_done") == []
    malformed = [r for r in caplog.records if "malformed" in r.getMessage()]
    assert len(malformed) == 7
    assert max(len(r.getMessage()) for r in caplog.records) < 1000
    assert not (tmp_path / "etc").exists()


async def test_a_frame_larger_than_any_message_closes_and_the_detector_connects_again(tmp_path):
    card = make_card(tmp_path / "card", {CLIP: b"clip"})
    async with ScriptedStation() as station, running(station, card) as agent:
        await eventually(station.listed)
        await station.send_raw("x" * (5 * 1024 * 1024))  # above the protocol's 4 MiB for a text message
        await eventually(lambda: len(station.hellos) == 2)
        await eventually(lambda: agent.connections == 2)


@pytest.mark.parametrize("announced, expected", [(1, MIN_CHUNK_SIZE), ("64k", 1024 * 1024), (True, 1024 * 1024)])
async def test_an_absurd_chunk_size_is_held_to_a_sane_range(tmp_path, announced, expected):
    payload = os.urandom(3 * MIN_CHUNK_SIZE + 10)
    card = make_card(tmp_path / "card", {CLIP: payload})
    async with ScriptedStation(chunk_size=announced) as station, running(station, card) as agent:
        await eventually(station.listed)
        await station.send("sd:copy_request", copy_request("r-1", entry(CLIP, len(payload))))
        await eventually(lambda: answer_for(station, "r-1", CLIP))
    assert agent.chunk_size == expected
    assert max(station.uploads[0].frames) == min(expected, len(payload))
    assert station.uploads[0].data == payload


async def test_close_4409_keeps_a_watching_detector_connecting_again(tmp_path):
    card = make_card(tmp_path / "card", {CLIP: b"clip"})
    async with ScriptedStation(close_first_with=4409) as station, running(station, card, keep_trying=True) as agent:
        await eventually(station.listed)
    assert len(station.hellos) == 2 and agent.replaced == 1


async def test_close_4409_ends_a_one_card_detector_and_says_why(tmp_path):
    card = make_card(tmp_path / "card", {CLIP: b"clip"})
    async with ScriptedStation(close_first_with=4409) as station:
        agent = DetectorAgent(station.url, TOKEN, SingleCard(card, "CARD-1"), detector_id="desk-pi")
        with pytest.raises(StationRefused, match="4409"):
            await asyncio.wait_for(agent.run(asyncio.Event()), 10)


async def test_the_trace_never_holds_the_token(tmp_path):
    card = make_card(tmp_path / "card", {CLIP: b"clip"})
    trace = io.StringIO()
    async with ScriptedStation() as station, running(station, card, trace=trace):
        await eventually(station.listed)
        await eventually(lambda: '"sd:file_list"' in trace.getvalue())
    lines = [json.loads(line) for line in trace.getvalue().splitlines()]
    hello = next(line["message"] for line in lines if line["message"]["type"] == "hello")
    assert hello["data"]["token"] == "<redacted>" and hello["data"]["detector_id"] == "desk-pi"
    assert TOKEN not in trace.getvalue()
    assert station.hellos[0]["data"]["token"] == TOKEN  # the station itself did get it


async def test_a_reply_other_than_welcome_makes_a_watching_detector_try_again(tmp_path):
    card = make_card(tmp_path / "card", {CLIP: b"clip"})
    refusal = {"type": "error", "data": {"code": "bad_message", "message": "x" * 100_000}}
    async with ScriptedStation(first_reply=refusal) as station, running(station, card, keep_trying=True) as agent:
        await eventually(station.listed)
    assert len(station.hellos) == 2 and agent.connections == 1


async def test_a_reply_other_than_welcome_ends_a_one_card_detector_with_a_short_reason(tmp_path):
    card = make_card(tmp_path / "card", {CLIP: b"clip"})
    refusal = {"type": "error", "data": {"code": "bad_message", "message": "x" * 100_000}}
    async with ScriptedStation(first_reply=refusal) as station:
        agent = DetectorAgent(station.url, TOKEN, SingleCard(card, "CARD-1"), detector_id="desk-pi")
        with pytest.raises(StationRefused, match="bad_message") as refused:
            await asyncio.wait_for(agent.run(asyncio.Event()), 10)
    assert len(str(refused.value)) < 1000
