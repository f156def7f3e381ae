"""Waiting and waking, retry from a failed step, cancel, listing."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.core_events import PipelineCancelled, PipelineCompleted, PipelineFailed, StepStarted
from app.db.models import PipelineStepAttempt
from app.pipeline.base import NewStep
from app.pipeline.registry import PipelineDefinition
from app.pipeline.scheduler import NotFound, RetryRefused

from tests.pipeline.conftest import Harness


def _journal(h: Harness) -> list[str]:
    path = h.tmp / "journal.txt"
    return path.read_text().splitlines() if path.exists() else []


def waiting_pipeline(tmp) -> str:
    PipelineDefinition("t_waiting", steps=[
        NewStep("t_wait_file", params={"path": str(tmp / "arrived")}),
        NewStep("t_record", key="after", depends_on=["t_wait_file"], params={"journal": str(tmp / "journal.txt")}),
    ])
    return "t_waiting"


async def test_a_waiting_step_holds_no_worker_and_runs_again_when_woken(harness: Harness):
    execution_id = await harness.start(waiting_pipeline(harness.tmp))
    assert await harness.wait_state(execution_id, "waiting") == "waiting"
    steps = await harness.steps(execution_id)
    assert steps["t_wait_file"].state == "waiting" and steps["t_wait_file"].worker_id is None
    assert harness.engine.pool.running_count == 0
    assert steps["t_record:after"].state == "pending"

    (harness.tmp / "arrived").write_text("the file")
    assert await harness.engine.wake(execution_id, "t_wait_file") == 1
    assert await harness.wait_state(execution_id, "succeeded", "failed") == "succeeded"
    steps = await harness.steps(execution_id)
    assert steps["t_wait_file"].output == {"found": str(harness.tmp / "arrived")}
    assert _journal(harness) == ["t_record:after:1"]


async def test_a_step_woken_many_times_is_never_dead_lettered(harness: Harness):
    # A fetch step is woken once per file that arrives: a card of 20 clips wakes it 20 times.
    execution_id = await harness.start(waiting_pipeline(harness.tmp))
    max_deliveries = harness.engine.pool.options.max_deliveries
    for _ in range(max_deliveries + 3):
        assert await harness.wait_state(execution_id, "waiting") == "waiting"
        await harness.engine.wake(execution_id, "t_wait_file")
        await harness.wait_for(lambda: _step_state_is(harness, execution_id, "waiting"), what="back to waiting")
    (harness.tmp / "arrived").write_text("the file")
    await harness.engine.wake(execution_id, "t_wait_file")
    assert await harness.wait_state(execution_id, "succeeded", "failed") == "succeeded"


async def _step_state_is(harness: Harness, execution_id: int, state: str) -> bool:
    return (await harness.steps(execution_id))["t_wait_file"].state == state


def retry_pipeline(tmp) -> str:
    journal = str(tmp / "journal.txt")
    PipelineDefinition("t_retry", steps=[
        NewStep("t_record", key="first", params={"journal": journal}),
        NewStep("t_record", key="side", params={"journal": journal}),
        NewStep("t_fail_unless", depends_on=[("t_record", "first")],
                params={"path": str(tmp / "fixed"), "journal": journal}),
        NewStep("t_record", key="then", depends_on=["t_fail_unless"], params={"journal": journal}),
        NewStep("t_record", key="last", depends_on=[("t_record", "then"), ("t_record", "side")],
                params={"journal": journal}),
    ])
    return "t_retry"


async def test_retry_from_a_failed_step_reruns_exactly_it_and_its_dependents(harness: Harness):
    execution_id = await harness.start(retry_pipeline(harness.tmp))
    assert await harness.wait_state(execution_id, "failed") == "failed"
    steps = await harness.steps(execution_id)
    failed = steps["t_fail_unless"]
    assert failed.state == "failed" and "is missing" in failed.error
    assert steps["t_record:then"].state == "upstream_failed"
    assert steps["t_record:last"].state == "upstream_failed"
    failed_events = [e for e in harness.events if e.type == "pipeline:failed"]
    assert [(e.data["step_id"], e.data["step"]) for e in failed_events] == [(failed.id, "t_fail_unless")]

    with pytest.raises(RetryRefused, match="is succeeded, not failed"):
        await harness.engine.retry(execution_id, steps["t_record:first"].id)
    with pytest.raises(NotFound):
        await harness.engine.retry(execution_id, 999_999)

    (harness.tmp / "fixed").write_text("ok")
    reset = await harness.engine.retry(execution_id, failed.id)
    assert sorted(reset) == sorted([failed.id, steps["t_record:then"].id, steps["t_record:last"].id])
    assert await harness.wait_state(execution_id, "succeeded", "failed") == "succeeded"
    journal = _journal(harness)
    # first and side ran once; the failed step twice (attempt 1, then 2); its dependents once.
    assert sorted(journal) == sorted(["t_record:first:1", "t_record:side:1", "t_fail_unless::1",
                                      "t_fail_unless::2", "t_record:then:1", "t_record:last:1"])
    # The window shows the attempt the core sends: 1 on the first run, 2 on the retry.
    assert [e.attempt for e in harness.events if isinstance(e, StepStarted) and e.step_id == failed.id] == [1, 2]
    steps = await harness.steps(execution_id)
    assert steps["t_fail_unless"].attempt == 2
    archived = await harness.db.run(lambda s: s.execute(
        select(PipelineStepAttempt.attempt, PipelineStepAttempt.state, PipelineStepAttempt.error)
        .where(PipelineStepAttempt.step_id == failed.id)).all())
    assert [(a, st) for a, st, _ in archived] == [(1, "failed")] and "is missing" in archived[0][2]

    listing = await harness.engine.list_executions(10)
    mine = next(e for e in listing if e["id"] == execution_id)
    assert mine["state"] == "succeeded" and mine["progress"] == {"done": 5, "total": 5}
    step = next(s for s in mine["steps"] if s["id"] == failed.id)
    assert step["attempt"] == 2 and step["state"] == "succeeded" and step["duration_ms"] >= 0


def two_failures_pipeline(tmp) -> str:
    journal = str(tmp / "journal.txt")
    PipelineDefinition("t_two_failures", steps=[
        NewStep("t_fail_unless", key="a", params={"path": str(tmp / "fixed"), "journal": journal}),
        NewStep("t_fail_unless", key="b", params={"path": str(tmp / "fixed"), "journal": journal}),
        NewStep("t_record", key="after_b", depends_on=[("t_fail_unless", "b")], params={"journal": journal}),
        NewStep("t_record", key="fine", params={"journal": journal}),
    ])
    return "t_two_failures"


async def test_retry_failed_reruns_every_failed_step_and_its_dependents_at_once(harness: Harness):
    execution_id = await harness.start(two_failures_pipeline(harness.tmp))
    assert await harness.wait_state(execution_id, "failed") == "failed"
    steps = await harness.steps(execution_id)
    assert steps["t_fail_unless:a"].state == steps["t_fail_unless:b"].state == "failed"
    with pytest.raises(NotFound):
        await harness.engine.retry_failed(999_999)

    (harness.tmp / "fixed").write_text("ok")
    reset = await harness.engine.retry_failed(execution_id)
    assert reset == sorted([steps["t_fail_unless:a"].id, steps["t_fail_unless:b"].id, steps["t_record:after_b"].id])
    assert await harness.wait_state(execution_id, "succeeded", "failed") == "succeeded"
    assert sorted(_journal(harness)) == sorted(["t_fail_unless:a:1", "t_fail_unless:b:1", "t_record:fine:1",
                                                "t_fail_unless:a:2", "t_fail_unless:b:2", "t_record:after_b:1"])
    with pytest.raises(RetryRefused, match="has no failed step"):
        await harness.engine.retry_failed(execution_id)


def cancel_pipeline(tmp) -> str:
    PipelineDefinition("t_cancel", steps=[
        NewStep("t_record", key="slow", params={"sleep": 30}),
        NewStep("t_record", key="after", depends_on=[("t_record", "slow")]),
    ])
    return "t_cancel"


async def test_cancel_stops_the_running_step_and_the_rest_never_runs(harness: Harness):
    execution_id = await harness.start(cancel_pipeline(harness.tmp))

    async def running():
        return (await harness.steps(execution_id))["t_record:slow"].state == "running"

    await harness.wait_for(running, what="the slow step to run")
    assert await harness.engine.cancel(execution_id) == 2
    assert await harness.wait_state(execution_id, "cancelled") == "cancelled"

    async def idle():
        return harness.engine.pool.running_count == 0

    await harness.wait_for(idle, timeout=5, what="the worker to let go of the cancelled step")
    steps = await harness.steps(execution_id)
    assert {s.state for s in steps.values()} == {"cancelled"}
    # A cancel is its own event (views need not read it out of an error text), sent once.
    ends = [e for e in harness.events if isinstance(e, (PipelineCancelled, PipelineFailed, PipelineCompleted))]
    assert ends == [PipelineCancelled(execution_id=execution_id, cancelled_steps=2, ts=ends[0].ts)]
    assert ends[0].to_message()["data"] == {"execution_id": execution_id, "cancelled_steps": 2, "ts": ends[0].ts}
    with pytest.raises(NotFound):
        await harness.engine.cancel(424242)
