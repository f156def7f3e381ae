"""An in-process station whose Detector link is a loopback: copy requests are answered by
reading the generated card's files directly, through the orchestrator's real upload calls.

It tests the import pipeline's rules (what is asked for, when, where files go) without the
WebSocket layer; the end-to-end tests over real sockets live in tests/net/.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.config import load_settings
from app.db.models import ExecutionState, PipelineExecution, PipelineStep
from app.events import Event
from app.station import Station

# What the loopback Detector does with one requested file: "ok", "missing", "bad_hash".
Behaviour = Callable[[str], str]


@dataclass
class LoopbackDetector:
    card_root: Path
    station: Station
    online: bool = True
    behaviour: Behaviour = lambda path: "ok"  # noqa: E731
    # What its hello announced: with "range" it answers slices (docs/protocol.md, "range").
    announced: frozenset[str] = frozenset({"upload"})
    requests: list[dict[str, Any]] = field(default_factory=list)
    cancels: list[dict[str, Any]] = field(default_factory=list)
    bytes_sent: int = 0
    _tasks: set[asyncio.Task] = field(default_factory=set)

    def capabilities(self, detector_id: str) -> frozenset[str]:
        return self.announced

    def session_of(self, detector_id: str) -> str | None:
        return "loopback" if self.online else None

    def send_copy_request(self, detector_id: str, data: dict[str, Any]) -> bool:
        if not self.online:
            return False
        self.requests.append(data)
        task = asyncio.get_running_loop().create_task(self._serve(detector_id, data))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    def send_copy_cancel(self, detector_id: str, data: dict[str, Any]) -> bool:
        self.cancels.append(data)
        return self.online

    async def _serve(self, detector_id: str, data: dict[str, Any]) -> None:
        orchestrator = self.station.orchestrator
        for entry in data["files"]:
            path, size = entry["path"], entry["size"]
            what = self.behaviour(path)
            if what == "missing":
                await orchestrator.copy_error(detector_id, data["request_id"], path, "no such file on the card", False)
                continue
            length = entry.get("length")
            if length is not None:
                assert "range" in self.announced, "a slice asked of a Detector without range"
                await self._serve_slice(detector_id, data["request_id"], path, size, entry["offset"], length)
                continue
            target = await orchestrator.begin_upload(detector_id, data["request_id"], path, size, entry["offset"])
            partial = Path(target.partial_path)
            partial.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.card_root / path, partial)
            self.bytes_sent += size
            digest = hashlib.sha256(partial.read_bytes()).hexdigest()
            if what == "bad_hash":
                partial.unlink()
                await orchestrator.file_rejected(detector_id, data["request_id"], path, "sha256 mismatch")
                continue
            os.replace(partial, target.final_path)
            await orchestrator.file_stored(detector_id, data["request_id"], path, str(target.final_path), digest, size)

    async def _serve_slice(self, detector_id: str, request_id: str, path: str, size: int, offset: int, length: int) -> None:
        """Bytes [offset, offset + length) of the file, cut at its end; the hash of those alone."""
        orchestrator = self.station.orchestrator
        target = await orchestrator.begin_upload(detector_id, request_id, path, size, offset, length)
        with open(self.card_root / path, "rb") as card_file:
            card_file.seek(offset)
            data = card_file.read(length)
        partial = Path(target.partial_path)
        partial.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(data)
        self.bytes_sent += len(data)
        os.replace(partial, target.final_path)
        await orchestrator.file_stored(detector_id, request_id, path, str(target.final_path),
                                       hashlib.sha256(data).hexdigest(),
                                       size, offset, length)

    @property
    def requested_paths(self) -> list[list[str]]:
        return [[f["path"] for f in r["files"]] for r in self.requests]


TOKEN = "loopback-token-0123456789"  # the station's pairing token in these tests


async def start_station(data_dir: Path, *, small_file_bytes: int, db_url: str | None = None,
                        redis_url: str | None = None, redis_prefix: str | None = None) -> Station:
    flags: dict[str, Any] = {"data_dir": str(data_dir), "host": "127.0.0.1", "port": 0, "token": TOKEN, "workers": 2}
    if db_url:
        flags["db_url"] = db_url
    if redis_url:
        flags["redis_url"] = redis_url
    settings = load_settings(flags, environ={})
    settings.small_file_bytes = small_file_bytes
    if redis_prefix:
        settings.redis_prefix = redis_prefix
    station = Station(settings)
    await station.start()
    return station


@dataclass
class Recorder:
    events: list[Event] = field(default_factory=list)

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def types(self, prefix: str = "") -> list[str]:
        return [e.type for e in self.events if e.type.startswith(prefix)]


async def _poll_state(station: Station, model, row_id: int, states: tuple[str, ...], timeout: float) -> str:
    """The row's state once it is one of `states`, or the last one seen when time ran out."""
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        state = await station.db.read(lambda s: s.get(model, row_id).state)
        if state in states:
            break
        await asyncio.sleep(0.05)
    return state


async def wait_execution(station: Station, execution_id: int, *states: str, timeout: float = 60) -> str:
    state = await _poll_state(station, PipelineExecution, execution_id, states, timeout)
    if state not in states:
        raise AssertionError(f"execution {execution_id} is {state!r}, not {states}:\n{await describe(station, execution_id)}")
    return state


async def wait_step_state(station: Station, step_id: int, state: str, timeout: float = 30) -> None:
    if await _poll_state(station, PipelineStep, step_id, (state,), timeout) != state:
        raise AssertionError(f"step {step_id} never reached {state}")


async def describe(station: Station, execution_id: int) -> str:
    def load(session) -> str:
        steps = session.scalars(select(PipelineStep).where(PipelineStep.execution_id == execution_id)
                                .order_by(PipelineStep.id)).all()
        return "\n".join(f"  {s.id} {s.name}[{s.key}] {s.state} {s.error or ''}" for s in steps)

    return await station.db.run(load)


async def steps_named(station: Station, execution_id: int, name: str) -> list[PipelineStep]:
    return await station.db.run(lambda s: list(s.scalars(select(PipelineStep).where(
        PipelineStep.execution_id == execution_id, PipelineStep.name == name).order_by(PipelineStep.id))))


FINAL = (ExecutionState.SUCCEEDED.value, ExecutionState.FAILED.value, ExecutionState.CANCELLED.value)
