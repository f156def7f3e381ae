"""Garbage arriving through Redis (a foreign or broken publisher) is dropped and changes nothing."""

from __future__ import annotations

import json

from app.core_events import StepStarted
from app.pipeline.events_bridge import channel
from app.pipeline.step_queue import GROUP

from tests.pipeline.conftest import Harness


async def test_malformed_stream_entries_are_dropped_and_the_workers_carry_on(harness: Harness):
    queue = harness.engine.queue
    await harness.engine.redis.xadd(queue.stream, {"step": "not-a-number", "attempt": "1"})
    await harness.engine.redis.xadd(queue.stream, {"hello": "world"})
    await harness.engine.redis.xadd(queue.stream, {"step": "999999", "attempt": "1"})  # no such step
    execution_id = await harness.start("t_diamond")
    assert await harness.wait_state(execution_id, "succeeded", "failed") == "succeeded"

    async def nothing_pending():
        return (await harness.engine.redis.xpending(queue.stream, GROUP))["pending"] == 0

    await harness.wait_for(nothing_pending, what="the garbage entries to be acknowledged")


async def test_the_event_bridge_ignores_garbage_and_its_own_echo_and_relays_remote_events(harness: Harness):
    redis, name = harness.engine.redis, channel(harness.engine.prefix)
    for garbage in ("{not json", json.dumps(["a", "list"]), json.dumps({"type": 3, "data": {}}),
                    json.dumps({"type": "pipeline:step_started", "data": "not an object"}),
                    json.dumps({"type": "pipeline:no_such_event", "data": {}}),
                    json.dumps({"type": "pipeline:step_started", "data": {"execution_id": 7}})):  # fields missing
        await redis.publish(name, garbage)
    own = {"origin": harness.engine.origin, "type": "pipeline:step_started", "data": {"execution_id": 1}}
    await redis.publish(name, json.dumps(own))
    remote = {"origin": "elsewhere-worker-1", "type": "pipeline:step_started",
              "data": {"execution_id": 7, "step_id": 70, "step": "decode_qr", "key": "GX010001.MP4", "attempt": 2,
                       "ts": "2026-11-24T03:00:00.000Z"}}
    await redis.publish(name, json.dumps(remote))

    async def remote_relayed() -> bool:
        return any(e.data.get("execution_id") == 7 for e in harness.events)

    # One channel delivers in order: once the remote event is here, everything before it was read.
    await harness.wait_for(remote_relayed, what="the remote event on the bus")
    assert [(e.type, e.data) for e in harness.events] == [("pipeline:step_started", remote["data"])]
    assert isinstance(harness.events[0], StepStarted) and harness.events[0].attempt == 2  # typed again
