"""A station killed in the middle of an upload loses nothing it had written: started again, it
asks for the file from the bytes it holds, and the resumed file verifies (real headless station,
real pipeline, a Detector speaking the protocol by hand)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import sqlite3
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from tests.support.station_process import running_station

TOKEN = "resume-token-0123456789"
CLIP = "DCIM/100GOPRO/GX010001.MP4"
CHUNK = 1024 * 1024
pytestmark = pytest.mark.slow


async def detector(port: int):
    ws = await connect(f"ws://127.0.0.1:{port}/detector", compression=None, max_size=None)
    await ws.send(json.dumps({"type": "hello", "data": {"role": "detector", "detector_id": "desk-left", "token": TOKEN}}))
    assert json.loads(await ws.recv())["type"] == "welcome"
    return ws


async def next_of(ws, type_: str, timeout: float = 30) -> dict:
    async def wait() -> dict:
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == type_:
                return message["data"]
            assert message["type"] != "error", message

    return await asyncio.wait_for(wait(), timeout)


async def test_killed_station_resumes_the_upload_from_the_bytes_it_holds(tmp_path):
    payload = os.urandom(12 * CHUNK)  # a "small" clip: requested first, in its own request
    listing = {"type": "sd:file_list", "data": {"card_id": "3A1F-77C2", "label": "GOPRO", "slot": "1", "files": [
        {"path": CLIP, "size": len(payload), "modified": "2026-11-23T10:15:30Z"}]}}
    data_dir = tmp_path / "data"

    with running_station("--data-dir", str(data_dir), "--token", TOKEN) as first:
        ws = await detector(first.port)
        await ws.send(json.dumps(listing))
        execution_id = (await next_of(ws, "sd:file_list_ack"))["execution_id"]
        request = await next_of(ws, "sd:copy_request")
        assert request["files"] == [{"path": CLIP, "size": len(payload), "offset": 0}]
        await ws.send(json.dumps({"type": "sd:upload_begin", "data": {
            "request_id": request["request_id"], "path": CLIP, "size": len(payload), "offset": 0}}))
        for start in range(0, 10 * CHUNK, CHUNK):
            await ws.send(payload[start:start + CHUNK])
        partial = None
        for _ in range(400):  # until the station has written a good part of it
            partial = next((data_dir / "library" / ".ingest-staging").rglob("*.partial"), None)
            if partial is not None and partial.stat().st_size >= 8 * CHUNK:
                break
            await asyncio.sleep(0.05)
        assert partial is not None
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(10)
        await ws.close()
    held = partial.stat().st_size
    assert 0 < held <= 10 * CHUNK
    assert partial.read_bytes() == payload[:held]  # what it held is exactly the start of the file
    assert not partial.with_name(partial.name.removesuffix(".partial")).exists()

    with running_station("--data-dir", str(data_dir), "--token", TOKEN) as second:
        ws = await detector(second.port)
        await ws.send(json.dumps(listing))
        ack = await next_of(ws, "sd:file_list_ack")
        assert ack["execution_id"] == execution_id  # the waiting import resumed, no second one
        request = await next_of(ws, "sd:copy_request")
        assert request["files"] == [{"path": CLIP, "size": len(payload), "offset": held}]
        await ws.send(json.dumps({"type": "sd:upload_begin", "data": {
            "request_id": request["request_id"], "path": CLIP, "size": len(payload), "offset": held}}))
        for start in range(held, len(payload), CHUNK):
            await ws.send(payload[start:start + CHUNK])
        await ws.send(json.dumps({"type": "sd:file_copied", "data": {
            "request_id": request["request_id"], "path": CLIP, "size": len(payload),
            "sha256": hashlib.sha256(payload).hexdigest()}}))
        assert (await next_of(ws, "sd:file_stored"))["path"] == CLIP
        await ws.close()
    # Read once the station stopped: its pipeline may still be filing the clip until then.
    with sqlite3.connect(data_dir / "station.db") as db:
        rows = db.execute("SELECT source_path, stored_path, sha256 FROM imported_file").fetchall()
    assert [(r[0], r[2]) for r in rows] == [(CLIP, hashlib.sha256(payload).hexdigest())]
    assert Path(rows[0][1]).read_bytes() == payload
