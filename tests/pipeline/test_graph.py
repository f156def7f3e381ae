"""Dependency order, overlap of independent steps, fan-out/fan-in, cycle detection."""

from __future__ import annotations

import pytest

from app.pipeline.base import NewStep, children_of
from app.pipeline.registry import PipelineDefinition, PipelineDefinitionError

from tests.pipeline.conftest import Harness


def test_a_cycle_or_an_unknown_step_is_refused_when_the_pipeline_is_defined():
    with pytest.raises(PipelineDefinitionError, match="cycle: t_record -> t_record -> t_record"):
        PipelineDefinition("t_cyclic", steps=[
            NewStep("t_record", key="x", depends_on=[("t_record", "y")]),
            NewStep("t_record", key="y", depends_on=[("t_record", "x")]),
        ])
    with pytest.raises(PipelineDefinitionError, match="unknown step 'no_such_step'"):
        PipelineDefinition("t_unknown", steps=[NewStep("no_such_step")])
    with pytest.raises(PipelineDefinitionError, match="which the pipeline does not have"):
        PipelineDefinition("t_dangling", steps=[NewStep("t_record", depends_on=["t_noop"])])


async def test_steps_run_in_dependency_order_and_independent_ones_overlap(harness_any_redis: Harness):
    harness = harness_any_redis
    execution_id = await harness.start("t_diamond")
    assert await harness.wait_state(execution_id, "succeeded", "failed") == "succeeded"
    steps = await harness.steps(execution_id)
    out = {name.split(":")[1]: step.output for name, step in steps.items()}
    assert out["a"]["end"] <= out["b"]["start"] and out["a"]["end"] <= out["c"]["start"]
    assert max(out["b"]["end"], out["c"]["end"]) <= out["d"]["start"]
    # b and c (0.4 s each) ran at the same time, not one after the other.
    assert out["b"]["start"] < out["c"]["end"] and out["c"]["start"] < out["b"]["end"]
    assert out["d"]["inputs"] == ["t_record:b", "t_record:c"]
    assert all(o["offloaded"] for o in out.values())  # ctx.offload ran off the event loop's thread
    assert all((s.progress_done, s.progress_total) == (1, 1) for s in steps.values())
    types = [e.type for e in harness.events if e.data.get("execution_id") == execution_id]
    assert types.count("pipeline:step_started") == 4 and types.count("pipeline:step_completed") == 4
    assert types[-1] == "pipeline:completed"
    last_step = [e for e in harness.events if e.type == "pipeline:step_completed"][-1]
    assert last_step.data["progress"] == {"done": 4, "total": 4} and last_step.data["status"] == "succeeded"
    assert all("ts" in e.data for e in harness.events)


PipelineDefinition("t_fan", steps=[
    NewStep("t_fanout", params={"count": 5, "sleep": 0.2}),
    NewStep("t_record", key="after_all", depends_on=[children_of("t_fanout")]),
])


async def test_spawned_children_run_in_parallel_and_the_fan_in_waits_for_all_of_them(harness: Harness):
    execution_id = await harness.start("t_fan")
    assert await harness.wait_state(execution_id, "succeeded", "failed") == "succeeded"
    steps = await harness.steps(execution_id)
    children = [steps[f"t_record:c{i}"] for i in range(5)]
    fan_in = steps["t_record:after_all"].output
    assert all(c.state == "succeeded" and c.spawned_by_id == steps["t_fanout"].id for c in children)
    assert fan_in["start"] >= max(c.output["end"] for c in children)
    assert fan_in["children"] == [f"c{i}" for i in range(5)]
    starts = sorted(c.output["start"] for c in children)
    ends = sorted(c.output["end"] for c in children)
    assert starts[1] < ends[0], "children ran one after the other"


def _completed_fields(session, execution):
    return {"steps_seen": len(execution.steps), "card_id": execution.card_id}


PipelineDefinition("t_hooked", steps=[NewStep("t_noop")], on_completed=_completed_fields)


async def test_a_pipeline_adds_its_fields_to_the_completed_event(harness: Harness):
    execution_id = await harness.start("t_hooked", card_id="CARD-7")
    assert await harness.wait_state(execution_id, "succeeded") == "succeeded"
    completed = [e for e in harness.events if e.type == "pipeline:completed"]
    assert len(completed) == 1
    assert completed[0].data["execution_id"] == execution_id
    assert completed[0].data["steps_seen"] == 1 and completed[0].data["card_id"] == "CARD-7"
