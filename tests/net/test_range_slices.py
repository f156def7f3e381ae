"""`range` over the real `/detector` socket: a Detector that announced it is asked for slices of
a big clip (its head, its MP4 index at the tail, then its first seconds), answers them as the
protocol says, and the station finds the passenger's code from them; a bad slice is rejected
and asked again; a Detector without `range` never gets a `length`."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import select
from websockets.asyncio.client import connect

from app.db.models import PipelineExecution

from tests.importer.big_cards import write_big_code_card
from tests.importer.loopback import TOKEN, start_station, wait_execution

INDEX_HEAD_BYTES = 64_000


@pytest.fixture(scope="module")
def card(tmp_path_factory):
    return write_big_code_card(tmp_path_factory.mktemp("card"), four_k=False, jump_s=6.0)


@pytest.fixture
async def station(tmp_path):
    station = await start_station(tmp_path / "data", small_file_bytes=100_000)
    station.settings.index_head_bytes = INDEX_HEAD_BYTES
    yield station
    await station.stop()


async def finished(station, execution_id: int | None) -> bool:
    return execution_id is not None and await station.db.read(
        lambda s: s.get(PipelineExecution, execution_id).state) in ("succeeded", "failed")


async def serve(station, card, capabilities: list[str], spoil_first_slice: bool = False) -> tuple[list[dict], int]:
    """A Detector speaking the protocol by hand: lists the card, answers every copy request."""
    ws = await connect(f"ws://127.0.0.1:{station.port}/detector", compression=None, max_size=None)
    await ws.send(json.dumps({"type": "hello", "data": {"role": "detector", "detector_id": "raw", "token": TOKEN,
                                                        "capabilities": capabilities}}))
    chunk = json.loads(await ws.recv())["data"]["chunk_size"]
    await ws.send(json.dumps({"type": "sd:file_list", "data": {"card_id": "RAW-1", "label": "GOPRO",
                                                               "files": card.listing}}))
    requests: list[dict] = []
    rejected = 0
    execution_id = None
    try:
        while not await finished(station, execution_id):
            try:
                message = json.loads(await asyncio.wait_for(ws.recv(), 0.2))
            except TimeoutError:
                continue  # nothing asked: look whether the import is done
            if message["type"] == "sd:file_list_ack":
                execution_id = message["data"]["execution_id"]
            elif message["type"] == "sd:file_rejected":
                rejected += 1
            elif message["type"] == "sd:copy_request":
                requests.append(message["data"])
                for entry in message["data"]["files"]:
                    data = (card.root / entry["path"]).read_bytes()
                    length = entry.get("length")
                    part = data[entry["offset"]:] if length is None else data[entry["offset"]:entry["offset"] + length]
                    begin = {"request_id": message["data"]["request_id"], "path": entry["path"],
                             "size": len(data), "offset": entry["offset"]}
                    done = {**{k: begin[k] for k in ("request_id", "path", "size")},
                            "sha256": hashlib.sha256(data if length is None else part).hexdigest()}
                    if length is not None:
                        begin["length"] = done["length"] = length
                        done["offset"] = entry["offset"]
                        if spoil_first_slice:
                            spoil_first_slice = False
                            part = b"\0" * len(part)
                    await ws.send(json.dumps({"type": "sd:upload_begin", "data": begin}))
                    for start in range(0, len(part), chunk):
                        await ws.send(part[start:start + chunk])
                    await ws.send(json.dumps({"type": "sd:file_copied", "data": done}))
    finally:
        await ws.close()
    return requests, rejected


async def test_a_range_detector_is_asked_slices_and_the_codes_are_read_from_them(station, card):
    requests, rejected = await asyncio.wait_for(serve(station, card, ["upload", "range"], spoil_first_slice=True), 120)
    [execution_id] = await station.db.read(lambda s: s.scalars(select(PipelineExecution.id)).all())
    assert await wait_execution(station, execution_id, "succeeded", "failed") == "succeeded"
    slices = [f for r in requests for f in r["files"] if "length" in f]
    assert slices and all(f["length"] >= 1 for f in slices)
    assert rejected == 1  # the spoilt slice was rejected and asked again
    library = station.settings.library / "2026-11-23"
    for booking_id, name in card.passengers.items():
        clips = {p.name for p in (library / f"{booking_id} {name}").rglob("*.MP4") if p.name.startswith("GX")}
        assert clips == {Path(p).name for p in card.clips_of(booking_id)}


async def test_a_detector_without_range_never_gets_a_length(station, card):
    requests, _ = await asyncio.wait_for(serve(station, card, ["upload"]), 120)
    assert requests and not [f for r in requests for f in r["files"] if "length" in f]
