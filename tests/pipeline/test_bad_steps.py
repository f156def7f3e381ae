"""A step that raises, hangs, returns garbage or is unknown fails with the reason in its log;
the worker lives on. Retryable errors are retried with backoff. Duplicate messages run nothing twice."""

from __future__ import annotations

from sqlalchemy import select

from app.db.models import PipelineStepLog
from app.pipeline.base import NewStep
from app.pipeline.registry import PipelineDefinition

from tests.pipeline.conftest import Harness


async def _log_text(h: Harness, step_id: int) -> str:
    rows = await h.db.run(lambda s: s.execute(
        select(PipelineStepLog.message).where(PipelineStepLog.step_id == step_id)).scalars().all())
    return "\n".join(rows)


PipelineDefinition("t_bad", steps=[
    NewStep("t_raise"),
    NewStep("t_hang"),
    NewStep("t_garbage"),
    NewStep("t_record", key="after_raise", depends_on=["t_raise"]),
    NewStep("t_record", key="independent"),
])


async def test_raising_hanging_and_garbage_steps_fail_with_reasons_and_the_worker_lives_on(harness: Harness):
    execution_id = await harness.start("t_bad")
    assert await harness.wait_state(execution_id, "failed") == "failed"
    steps = await harness.steps(execution_id)
    assert steps["t_raise"].error == "RuntimeError: the card reader caught fire"
    assert "Traceback" in await _log_text(harness, steps["t_raise"].id)
    assert steps["t_hang"].error == "timed out after 0.5 s"
    assert steps["t_garbage"].error.startswith("returned garbage: expected a StepResult, got dict")
    assert "returned garbage" in await _log_text(harness, steps["t_garbage"].id)
    assert steps["t_record:after_raise"].state == "upstream_failed"
    assert steps["t_record:independent"].state == "succeeded"
    # The same workers go on to run the next execution.
    again = await harness.start("t_diamond")
    assert await harness.wait_state(again, "succeeded", "failed") == "succeeded"


async def test_a_step_unknown_to_the_worker_fails_with_the_reason(harness: Harness):
    def create(session):
        execution = harness.engine.create_execution(session, "t_diamond")
        from app.pipeline.scheduler import create_steps  # a step from a newer version of the program

        create_steps(session, execution.id, [NewStep("from_the_future")])
        return execution.id

    execution_id = await harness.db.run(create)
    await harness.engine.enqueue_ready(execution_id)
    assert await harness.wait_state(execution_id, "failed") == "failed"
    steps = await harness.steps(execution_id)
    assert "no step named 'from_the_future' is registered" in steps["from_the_future"].error
    assert steps["t_record:d"].state == "succeeded"


def flaky_pipeline(tmp, fails: int) -> str:
    name = f"t_flaky_{fails}"
    PipelineDefinition(name, steps=[NewStep("t_flaky", params={"counter": str(tmp / "calls"), "fails": fails})])
    return name


async def test_retryable_errors_are_retried_with_backoff_until_the_attempts_run_out(harness: Harness):
    ok = await harness.start(flaky_pipeline(harness.tmp, fails=2))
    assert await harness.wait_state(ok, "succeeded", "failed") == "succeeded"
    step = (await harness.steps(ok))["t_flaky"]
    assert step.output == {"calls": 3} and step.attempt == 3

    (harness.tmp / "calls").unlink()
    bad = await harness.start(flaky_pipeline(harness.tmp, fails=5))
    assert await harness.wait_state(bad, "succeeded", "failed") == "failed"
    step = (await harness.steps(bad))["t_flaky"]
    assert (harness.tmp / "calls").read_text() == "3"  # Retry(attempts=3)
    assert step.error == "OSError: transient failure 3"
    assert "giving up after 3 attempt(s)" in await _log_text(harness, step.id)


PipelineDefinition("t_single", steps=[NewStep("t_record", key="once")])


async def test_a_duplicated_stream_message_runs_nothing_twice(harness: Harness):
    journal = harness.tmp / "journal.txt"
    PipelineDefinition("t_dup", steps=[NewStep("t_slow_append", key="x", params={"sleep": 0.3, "journal": str(journal)}),
                                       NewStep("t_fanout", params={"count": 3, "journal": str(journal)})])
    execution_id = await harness.start("t_dup")
    steps = await harness.steps(execution_id)
    # The same (step, attempt) delivered again, three times, while it runs and after.
    for _ in range(3):
        await harness.engine.queue.send([(steps["t_slow_append:x"].id, 1), (steps["t_fanout"].id, 1)])
    assert await harness.wait_state(execution_id, "succeeded", "failed") == "succeeded"
    for _ in range(3):
        await harness.engine.queue.send([(steps["t_slow_append:x"].id, 1), (steps["t_fanout"].id, 1)])
    await harness.engine.pool.janitor.reconcile_once()

    async def all_consumed():
        stream = harness.engine.queue.stream
        group = (await harness.engine.redis.xinfo_groups(stream))[0]
        last = (await harness.engine.redis.xinfo_stream(stream))["last-generated-id"]
        return group["pending"] == 0 and group["last-delivered-id"] == last

    await harness.wait_for(all_consumed, what="the duplicates to be read and dropped")
    steps = await harness.steps(execution_id)
    lines = journal.read_text().splitlines()
    assert len([line for line in lines if line.startswith("x:")]) == 1
    assert sorted(line for line in lines if line.startswith("t_record")) == [
        "t_record:c0:1", "t_record:c1:1", "t_record:c2:1"]
    assert sum(1 for name in steps if name.startswith("t_record:c")) == 3
    assert all(s.deliveries == 1 for s in steps.values())
