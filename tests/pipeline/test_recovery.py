"""Recovery paths: Redis lost queued messages, a consumer died between read and claim, a
step delivered too often goes to the dead-letter stream."""

from __future__ import annotations

from sqlalchemy import update

from app.db.models import PipelineStep
from app.pipeline.step_queue import GROUP
from app.pipeline.worker import WorkerOptions, WorkerPool

from tests.pipeline.conftest import FAST, close_harness, make_harness


async def _pool(h, **overrides) -> WorkerPool:
    pool = WorkerPool(db=h.db, queue=h.engine.queue, settings=h.engine.settings, worker_id="recovery-worker",
                      emit=h.engine.emit, options=WorkerOptions(**{**FAST, "concurrency": 4, **overrides}))
    await pool.start()
    return pool


async def test_queued_steps_that_redis_lost_are_sent_again(db_url, embedded_redis_url, redis_prefix, tmp_path):
    h = await make_harness(db_url, embedded_redis_url, redis_prefix, tmp_path, workers=0)
    pool = None
    try:
        execution_id = await h.start("t_diamond")
        steps = await h.steps(execution_id)
        assert steps["t_record:a"].state == "queued"
        # As after an embedded Redis restart that lost its last second: the message is gone.
        await h.engine.redis.delete(h.engine.queue.stream, h.engine.queue.marks)
        pool = await _pool(h)
        assert await h.wait_state(execution_id, "succeeded", "failed") == "succeeded"
        assert (await h.steps(execution_id))["t_record:a"].deliveries == 1
    finally:
        if pool is not None:
            await pool.stop()
        await close_harness(h)


async def test_entries_read_by_a_consumer_that_died_before_claiming_are_taken_over(
        db_url, embedded_redis_url, redis_prefix, tmp_path):
    h = await make_harness(db_url, embedded_redis_url, redis_prefix, tmp_path, workers=0)
    pool = None
    try:
        execution_id = await h.start("t_diamond")
        queue = h.engine.queue
        read = await h.engine.redis.xreadgroup(GROUP, "ghost-worker", {queue.stream: ">"}, count=10)
        assert len(read[0][1]) == 1  # the ghost holds the only entry, and will never claim it
        pool = await _pool(h, reconcile_every_s=3600)  # only the reaper may rescue it
        assert await h.wait_state(execution_id, "succeeded", "failed") == "succeeded"
        pending = await h.engine.redis.xpending(queue.stream, GROUP)
        assert pending["pending"] == 0
    finally:
        if pool is not None:
            await pool.stop()
        await close_harness(h)


async def test_a_step_delivered_too_often_fails_and_goes_to_the_dead_letter_stream(
        db_url, embedded_redis_url, redis_prefix, tmp_path):
    h = await make_harness(db_url, embedded_redis_url, redis_prefix, tmp_path, workers=0)
    pool = None
    try:
        execution_id = await h.start("t_diamond")
        first = (await h.steps(execution_id))["t_record:a"]
        # Five workers already took it and died (what the reaper leaves behind each time).
        await h.db.run(lambda s: s.execute(update(PipelineStep).where(PipelineStep.id == first.id).values(deliveries=5)))
        pool = await _pool(h, max_deliveries=5)
        assert await h.wait_state(execution_id, "failed") == "failed"
        steps = await h.steps(execution_id)
        assert "delivered 5 times without finishing" in steps["t_record:a"].error
        assert steps["t_record:d"].state == "upstream_failed"
        dead = await h.engine.redis.xrange(h.engine.queue.dead)
        assert [(int(f[b"step"]), int(f[b"attempt"])) for _, f in dead] == [(first.id, 1)]
    finally:
        if pool is not None:
            await pool.stop()
        await close_harness(h)


async def test_a_stopping_worker_hands_its_running_step_back_to_the_queue(
        db_url, embedded_redis_url, redis_prefix, tmp_path):
    from app.pipeline.base import NewStep
    from app.pipeline.registry import PipelineDefinition

    journal = tmp_path / "journal.txt"
    PipelineDefinition("t_handback", steps=[
        NewStep("t_slow_append", key="x", params={"sleep": 1.5, "journal": str(journal)})])
    h = await make_harness(db_url, embedded_redis_url, redis_prefix, tmp_path, workers=0)
    pool = later = None
    try:
        pool = await _pool(h, stop_grace_s=0.2)
        execution_id = await h.start("t_handback")

        async def running():
            return (await h.steps(execution_id))["t_slow_append:x"].state == "running"

        await h.wait_for(running, what="the step to run")
        await pool.stop()
        step = (await h.steps(execution_id))["t_slow_append:x"]
        assert step.state == "queued" and step.worker_id is None and not journal.exists()
        later = await _pool(h)
        assert await h.wait_state(execution_id, "succeeded", "failed") == "succeeded"
        assert len(journal.read_text().splitlines()) == 1
    finally:
        if later is not None:
            await later.stop()
        await close_harness(h)


async def test_steps_read_ahead_by_a_busy_worker_go_to_an_idle_one(db_url, embedded_redis_url, redis_prefix,
                                                                    tmp_path):
    from app.pipeline.base import NewStep
    from app.pipeline.registry import PipelineDefinition

    PipelineDefinition("t_busy", steps=[NewStep("t_record", key=str(i), params={"sleep": 3}) for i in range(2)])
    h = await make_harness(db_url, embedded_redis_url, redis_prefix, tmp_path, workers=0)
    busy = idle = None
    try:
        # The busy one reads one step ahead while it runs the other for 3 s (no reaper rescue here).
        busy = await _pool(h, concurrency=1, autoclaim_idle_s=60)
        execution_id = await h.start("t_busy")
        idle = WorkerPool(db=h.db, queue=h.engine.queue, settings=h.engine.settings, worker_id="idle-worker",
                          emit=h.engine.emit, options=WorkerOptions(**{**FAST, "concurrency": 1,
                                                                       "autoclaim_idle_s": 60}))
        await idle.start()
        assert await h.wait_state(execution_id, "succeeded", "failed", timeout=6) == "succeeded"
        steps = await h.steps(execution_id)
        assert {s.worker_id for s in steps.values()} == {"recovery-worker", "idle-worker"}
        starts = sorted(s.output["start"] for s in steps.values())
        assert starts[1] - starts[0] < 1.0, "the second step waited for the busy worker"
    finally:
        for pool in (busy, idle):
            if pool is not None:
                await pool.stop()
        await close_harness(h)


async def test_stopping_a_pool_whose_database_went_away_ends_within_its_deadline(
        pg_url, embedded_redis_url, redis_prefix, tmp_path):
    import asyncio

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from app.pipeline.base import NewStep
    from app.pipeline.registry import PipelineDefinition

    journal = tmp_path / "journal.txt"
    PipelineDefinition("t_db_gone", steps=[
        NewStep("t_record", key="x", params={"sleep": 0.5, "journal": str(journal)})])
    h = await make_harness(pg_url, embedded_redis_url, redis_prefix, tmp_path, workers=0)
    pool = None
    try:
        pool = await _pool(h, stop_grace_s=0.2, stop_drain_s=1.0)
        execution_id = await h.start("t_db_gone")

        async def running():
            return (await h.steps(execution_id))["t_record:x"].state == "running"

        await h.wait_for(running, what="the step to run")
        # The database goes away while the step runs: its result can never be written.
        url = make_url(pg_url)
        admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{url.database}" WITH (FORCE)'))
        admin.dispose()

        async def step_returned():
            return journal.exists()

        await h.wait_for(step_returned, what="the step's run to return")
        # Before, stop() waited for that result to be written, and so forever. The bound here is
        # only against a hang; the pool's own deadline is stop_grace_s + stop_drain_s.
        stopping, pool = pool, None
        await asyncio.wait_for(stopping.stop(), timeout=30)
        assert "recovery-worker" not in await h.engine.queue.live_workers()  # it got to the end
    finally:
        if pool is not None:
            await pool.stop()
        await h.engine.stop()
        await h.engine.redis.aclose()
        h.db.close()
