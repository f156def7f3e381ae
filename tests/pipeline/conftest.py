"""A real engine for each test: a migrated database (SQLite or Postgres), real Redis, a bus."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.broker.connection import open_redis
from app.config import load_settings
from app.db.engine import Database
from app.db.migrate import upgrade
from app.db.models import PipelineExecution, PipelineStep
from app.events import Event, EventBus
from app.pipeline.engine import PipelineEngine
from app.pipeline.library_identity import claim_library
from app.pipeline.worker import WorkerOptions
from tests.pipeline import steps_for_tests  # noqa: F401 - registers the test steps

FAST = dict(heartbeat_s=0.3, heartbeat_ttl_s=1.0, reap_every_s=0.3, reconcile_every_s=0.5,
            reconcile_after_s=0.5, autoclaim_idle_s=1.0, read_block_ms=200, stop_grace_s=1.0)


@dataclass
class Harness:
    engine: PipelineEngine
    db: Database
    bus: EventBus
    tmp: Path
    events: list[Event] = field(default_factory=list)

    async def start(self, pipeline: str, **fields: Any) -> int:
        def create(session) -> int:
            return self.engine.create_execution(session, pipeline, **fields).id

        execution_id = await self.db.run(create)
        await self.engine.enqueue_ready(execution_id)
        return execution_id

    async def wait_state(self, execution_id: int, *states: str, timeout: float = 15) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = await self.db.run(lambda s: s.get(PipelineExecution, execution_id).state)
            if state in states:
                return state
            await asyncio.sleep(0.05)
        raise AssertionError(f"execution {execution_id} is {state}, expected one of {states}\n{await self.dump(execution_id)}")

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 15, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await predicate():
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    async def steps(self, execution_id: int) -> dict[str, PipelineStep]:
        def load(session):
            rows = session.execute(select(PipelineStep).where(PipelineStep.execution_id == execution_id)).scalars()
            return {(f"{r.name}:{r.key}" if r.key else r.name): r for r in rows}

        return await self.db.run(load)

    async def dump(self, execution_id: int) -> str:
        steps = await self.steps(execution_id)
        return "\n".join(f"{n}: {s.state} attempt={s.attempt} error={s.error}" for n, s in steps.items())


async def make_harness(db_url: str, redis_url: str, prefix: str, tmp: Path, workers: int = 4) -> Harness:
    settings = load_settings({"data_dir": str(tmp / "data"), "db_url": db_url, "redis_url": redis_url}, environ={})
    settings.redis_prefix = prefix
    db = Database(db_url)
    await asyncio.get_running_loop().run_in_executor(None, upgrade, db.engine)
    await db.run(lambda session: claim_library(session, settings.library))  # as the station does: workers check it
    client = await open_redis(redis_url)
    bus = EventBus()
    engine = PipelineEngine(db=db, redis=client, settings=settings, bus=bus)
    harness = Harness(engine, db, bus, tmp)
    bus.subscribe(harness.events.append)
    await engine.start(workers=workers, options=WorkerOptions(**FAST))
    return harness


async def close_harness(h: Harness) -> None:
    await h.engine.stop()
    await h.engine.redis.aclose()
    h.db.close()


@pytest.fixture
async def harness(db_url, embedded_redis_url, redis_prefix, tmp_path) -> AsyncIterator[Harness]:
    h = await make_harness(db_url, embedded_redis_url, redis_prefix, tmp_path)
    try:
        yield h
    finally:
        await close_harness(h)


@pytest.fixture
async def harness_any_redis(db_url, redis_url, redis_prefix, tmp_path) -> AsyncIterator[Harness]:
    """The same, on the embedded Redis and on the external one."""
    h = await make_harness(db_url, redis_url, redis_prefix, tmp_path)
    try:
        yield h
    finally:
        await close_harness(h)
