"""Steps used only by the engine's tests. Worker processes import this module through
INGEST_EXTRA_STEP_MODULES=tests.pipeline.steps_for_tests."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

from app.pipeline.base import BaseStep, NewStep, Retry, StepContext, StepResult
from app.pipeline.registry import PipelineDefinition, register


def _append(path: str, line: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())


@register
class Record(BaseStep):
    """Sleeps `sleep` seconds; reports when it ran and what inputs it saw; appends to `journal`."""

    name = "t_record"

    async def run(self, ctx: StepContext) -> StepResult:
        start = time.time()
        await asyncio.sleep(float(ctx.params.get("sleep", 0)))
        if ctx.params.get("journal"):
            _append(ctx.params["journal"], f"{ctx.name}:{ctx.key}:{ctx.attempt}")
        ctx.log.info("ran with inputs %s", sorted(ctx.inputs))
        offloaded = await ctx.offload(threading.get_ident) != threading.get_ident()
        ctx.progress(1, 1)
        return StepResult.ok({"key": ctx.key, "start": start, "end": time.time(), "inputs": sorted(ctx.inputs),
                              "offloaded": offloaded,
                              "children": [c["key"] for c in ctx.inputs.get("children:t_fanout", [])]})


@register
class FanOut(BaseStep):
    """Spawns `count` t_record children (keys c0..), each appending to the journal."""

    name = "t_fanout"

    async def run(self, ctx: StepContext) -> StepResult:
        count = int(ctx.params.get("count", 3))
        spawn = [NewStep("t_record", key=f"c{i}", params={"sleep": ctx.params.get("sleep", 0),
                                                           "journal": ctx.params.get("journal", "")})
                 for i in range(count)]
        return StepResult.ok({"spawned": count}, spawn=spawn)


@register
class WaitForFile(BaseStep):
    """Waits until the file `path` exists (the test's stand-in for a file arriving)."""

    name = "t_wait_file"

    async def run(self, ctx: StepContext) -> StepResult:
        if Path(ctx.params["path"]).exists():
            return StepResult.ok({"found": ctx.params["path"]})
        return StepResult.wait(f"no {ctx.params['path']} yet")


@register
class FailUnlessFile(BaseStep):
    """Fails (for good) unless the file `path` exists."""

    name = "t_fail_unless"

    async def run(self, ctx: StepContext) -> StepResult:
        if ctx.params.get("journal"):
            _append(ctx.params["journal"], f"{ctx.name}:{ctx.key}:{ctx.attempt}")
        if Path(ctx.params["path"]).exists():
            return StepResult.ok({"ok": True})
        return StepResult.fail(f"{ctx.params['path']} is missing")


@register
class Raises(BaseStep):
    name = "t_raise"

    async def run(self, ctx: StepContext) -> StepResult:
        raise RuntimeError("the card reader caught fire")


@register
class Hangs(BaseStep):
    name = "t_hang"
    timeout_s = 0.5

    async def run(self, ctx: StepContext) -> StepResult:
        await asyncio.sleep(3600)
        return StepResult.ok()


@register
class Garbage(BaseStep):
    name = "t_garbage"

    async def run(self, ctx: StepContext) -> StepResult:
        return {"not": "a StepResult"}  # type: ignore[return-value]


@register
class Flaky(BaseStep):
    """Raises a retryable OSError until it has been called `fails` times (counted in `counter`)."""

    name = "t_flaky"
    retry = Retry(attempts=3, backoff_s=0.05, on=(OSError,))

    async def run(self, ctx: StepContext) -> StepResult:
        counter = Path(ctx.params["counter"])
        calls = int(counter.read_text()) + 1 if counter.exists() else 1
        counter.write_text(str(calls))
        if calls <= int(ctx.params["fails"]):
            raise OSError(f"transient failure {calls}")
        return StepResult.ok({"calls": calls})


@register
class SlowAppend(BaseStep):
    """The crash test's step: sleeps, then appends one line (the side effect to count)."""

    name = "t_slow_append"
    timeout_s = 60

    async def run(self, ctx: StepContext) -> StepResult:
        await asyncio.sleep(float(ctx.params.get("sleep", 0)))
        _append(ctx.params["journal"], f"{ctx.key}:{os.getpid()}")
        return StepResult.ok({"pid": os.getpid()})


@register
class Noop(BaseStep):
    name = "t_noop"

    async def run(self, ctx: StepContext) -> StepResult:
        return StepResult.ok()


# a → (b, c) → d : the diamond
DIAMOND = PipelineDefinition("t_diamond", steps=[
    NewStep("t_record", key="a"),
    NewStep("t_record", key="b", depends_on=[("t_record", "a")], params={"sleep": 0.4}),
    NewStep("t_record", key="c", depends_on=[("t_record", "a")], params={"sleep": 0.4}),
    NewStep("t_record", key="d", depends_on=[("t_record", "b"), ("t_record", "c")]),
])
