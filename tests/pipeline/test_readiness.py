"""Readiness is one conditional UPDATE on both databases; on Postgres two dependencies that
finish at the same moment in two transactions must not both miss their dependent."""

from __future__ import annotations

import asyncio
import threading

from sqlalchemy import create_engine, select, text

from app.db.models import PipelineStep, StepState
from app.pipeline import scheduler
from app.pipeline.base import StepStatus
from app.pipeline.scheduler import Outcome, Report
from tests.pipeline.conftest import close_harness, make_harness


async def test_two_dependencies_finishing_together_on_postgres_queue_their_dependent_once(
        pg_url, embedded_redis_url, redis_prefix, tmp_path):
    h = await make_harness(pg_url, embedded_redis_url, redis_prefix, tmp_path, workers=0)
    try:
        execution_id = await h.start("t_diamond")
        steps = await h.steps(execution_id)
        a, b, c, d = (steps[f"t_record:{k}"].id for k in "abcd")

        def run_a(session) -> None:  # a done, so b and c are queued; a worker claims both
            report = Report()
            scheduler.claim(session, [(a, 1)], "w", 5, report)
            scheduler.finish(session, [Outcome(a, 1, "w", StepStatus.SUCCEEDED, output={})], report)
            scheduler.claim(session, [(b, 1), (c, 1)], "w", 5, report)

        await h.db.run(run_a)
        # b finishes in one transaction, left open; c finishes in another meanwhile.
        first = h.db.sessions()
        first.begin()
        first_report = Report()
        scheduler.finish(first, [Outcome(b, 1, "w", StepStatus.SUCCEEDED, output={})], first_report)
        second_report = Report()
        second_done = threading.Event()

        def finish_c() -> None:
            with h.db.session() as session:
                scheduler.finish(session, [Outcome(c, 1, "w", StepStatus.SUCCEEDED, output={})], second_report)
            second_done.set()

        thread = threading.Thread(target=finish_c)
        thread.start()
        observer = create_engine(pg_url)
        try:
            async def second_waits_for_a_lock() -> bool:
                with observer.connect() as conn:
                    return bool(conn.execute(text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock'")).scalar())

            await h.wait_for(second_waits_for_a_lock, what="the second transaction to wait for the first")
            first.commit()
            first.close()
            await asyncio.get_running_loop().run_in_executor(None, thread.join)
        finally:
            observer.dispose()
        assert second_done.is_set()
        assert (d, 1) not in first_report.queued  # c was still running when the first checked
        assert (d, 1) in second_report.queued
        state = await h.db.read(lambda s: s.scalar(select(PipelineStep.state).where(PipelineStep.id == d)))
        assert state == StepState.QUEUED
    finally:
        await close_harness(h)
