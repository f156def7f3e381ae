"""An in-process station on port 0 with a tmp data folder, and WebSocket clients for it."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from app.config import Settings, load_settings
from app.station import Station
from tests.net.fakes import RecordingEngine, RecordingOrchestrator

TOKEN = "test-token-0123456789"


@asynccontextmanager
async def recording_station(settings: Settings) -> AsyncIterator[Station]:
    """A real station (server, sessions, database, Redis) whose orchestrator and engine record
    what the net layer asks of them: the net layer's tests need no pipeline workers."""
    settings.workers = 0
    station = Station(settings)
    await station.start()
    real = station.orchestrator, station.engine
    station.orchestrator = station.net.orchestrator = RecordingOrchestrator(settings.library)
    station.engine = station.net.engine = RecordingEngine()  # the sessions' ports
    try:
        yield station
    finally:
        station.orchestrator, station.engine = real
        await station.stop()


@pytest.fixture
async def station(tmp_path: Path) -> AsyncIterator[Station]:
    settings = load_settings(
        {"data_dir": str(tmp_path / "data"), "host": "127.0.0.1", "port": 0, "token": TOKEN}, environ={})
    settings.chunk_size = 64 * 1024  # small frames keep the tests quick
    async with recording_station(settings) as station:
        yield station


def url(station: Station, path: str = "/detector") -> str:
    return f"ws://127.0.0.1:{station.port}{path}"


async def recv_json(ws: ClientConnection, timeout: float = 5) -> dict[str, Any]:
    import asyncio

    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def hello(ws: ClientConnection, detector_id: str = "desk-left", **extra: Any) -> dict[str, Any]:
    data = {"role": "detector", "detector_id": detector_id, "token": TOKEN, "name": "Desk left",
            "version": "1.0", "capabilities": ["upload", "shared_path"], **extra}
    await ws.send(json.dumps({"type": "hello", "data": data}))
    reply = await recv_json(ws)
    assert reply["type"] == "welcome", reply
    return reply


async def connected_detector(station: Station, detector_id: str = "desk-left") -> ClientConnection:
    ws = await connect(url(station), compression=None, max_size=None)
    await hello(ws, detector_id)
    return ws


def files_outside(root: Path, *allowed: Path) -> list[Path]:
    """Every file under `root` that is not inside one of `allowed`."""
    found = []
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            if not any(path.is_relative_to(a) for a in allowed):
                found.append(path)
    return found


async def eventually(check, timeout: float = 10.0):
    """Poll `check()` until it returns something true; fail after `timeout` seconds."""
    import asyncio

    deadline = asyncio.get_running_loop().time() + timeout
    while not (result := check()):
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)
    return result
