"""Pipeline engine throughput and latency: 1,000 no-op steps through the embedded engine.

Runs, in one process and one run, on a temporary data folder (SQLite + embedded Redis):
- "wide": 1,000 independent steps of one execution;
- "chain": 1,000 steps, each depending on the one before;
and, as the baseline, the same no-op `run()` called directly 1,000 times.
Prints steps per second and the p50/p99 latency from "ready" to "running" side by side:
"ready" is the moment the step's last dependency's run() returned (a chain) or the execution
was queued (the wide graph); "running" is the moment the step's own run() starts. The last line is machine-readable:
`steps_per_s=<n> p50_ms=<n> p99_ms=<n>`: throughput of the wide graph, latency of the chain.
(In the wide graph all 1,000 steps become ready at the same instant, so its "latency" is
mostly time spent in line behind the others: it is printed in the table, but the scheduling
latency of a step that becomes ready while a worker is free is the chain's.)

Usage: .venv/bin/python bench/pipeline.py [--steps 1000] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.broker.connection import open_redis  # noqa: E402
from app.broker.embedded import EmbeddedRedis  # noqa: E402
from app.config import load_settings  # noqa: E402
from app.db.engine import Database  # noqa: E402
from app.db.migrate import upgrade  # noqa: E402
from app.db.models import PipelineExecution  # noqa: E402
from app.events import EventBus  # noqa: E402
from app.pipeline.base import BaseStep, NewStep, StepContext, StepLog, StepResult  # noqa: E402
from app.pipeline.engine import PipelineEngine  # noqa: E402
from app.pipeline.registry import PipelineDefinition, register  # noqa: E402


# When each run() started and returned (perf_counter), by key: "ready" for a chain step is the
# moment its dependency's run() returned; for a wide step, the moment the execution was queued.
RAN: dict[str, tuple[float, float]] = {}


@register
class BenchNoop(BaseStep):
    name = "bench_noop"

    async def run(self, ctx: StepContext) -> StepResult:
        start = time.perf_counter()
        RAN[ctx.key] = (start, time.perf_counter())
        return StepResult.ok()


def define(steps: int) -> tuple[PipelineDefinition, PipelineDefinition]:
    wide = PipelineDefinition("bench_wide", steps=[NewStep("bench_noop", key=str(i)) for i in range(steps)])
    chain = PipelineDefinition("bench_chain", steps=[
        NewStep("bench_noop", key=str(i), depends_on=[("bench_noop", str(i - 1))] if i else []) for i in range(steps)
    ])
    return wide, chain


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def direct(steps: int, settings, db) -> tuple[float, list[float]]:
    """The baseline: the same run() awaited directly, one after the other, no queue, no database."""
    step = BenchNoop()
    RAN.clear()
    start = time.perf_counter()
    for i in range(steps):
        ctx = StepContext(execution_id=0, step_id=i, name="bench_noop", key=str(i), attempt=1, params={}, inputs={},
                          db=db, settings=settings, log=StepLog("bench_noop"), _emit=lambda *_: None)
        await step.run(ctx)
    elapsed = time.perf_counter() - start
    return steps / elapsed, chain_latencies(steps, start)


def chain_latencies(steps: int, queued: float) -> list[float]:
    """Step i is ready when step i-1 returned (step 0: when the execution was queued)."""
    return [(RAN[str(i)][0] - (RAN[str(i - 1)][1] if i else queued)) * 1000 for i in range(steps)]


def wide_latencies(steps: int, queued: float) -> list[float]:
    return [(RAN[str(i)][0] - queued) * 1000 for i in range(steps)]


async def through_engine(engine: PipelineEngine, db: Database, pipeline: str, steps: int) -> tuple[float, list[float]]:
    execution_id = await db.run(lambda s: engine.create_execution(s, pipeline).id)
    finished = asyncio.Event()

    def on_event(event) -> None:  # the bus says when it is over: no polling the database
        if event.type in ("pipeline:completed", "pipeline:failed") and event.data["execution_id"] == execution_id:
            finished.set()

    unsubscribe = engine.bus.subscribe(on_event)
    RAN.clear()
    start = time.perf_counter()
    await engine.enqueue_ready(execution_id)
    await finished.wait()
    elapsed = time.perf_counter() - start
    unsubscribe()
    state = await db.run(lambda s: s.get(PipelineExecution, execution_id).state)
    if state != "succeeded" or len(RAN) != steps:
        raise SystemExit(f"{pipeline} ended {state} after {len(RAN)} of {steps} steps")
    latencies = (wide_latencies if pipeline == "bench_wide" else chain_latencies)(steps, start)
    return steps / elapsed, latencies


async def main(steps: int, workers: int) -> None:
    define(steps)
    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as tmp:
        data_dir = Path(tmp)
        settings = load_settings({"data_dir": str(data_dir)}, environ={})
        redis_server = EmbeddedRedis(settings.redis_dir)
        url = redis_server.start()
        db = Database(settings.db_url)
        upgrade(db.engine)
        client = await open_redis(url)
        engine = PipelineEngine(db=db, redis=client, settings=settings, bus=EventBus())
        await engine.start(workers=workers)
        try:
            cpu = time.process_time()
            base_rate, base_lat = await direct(steps, settings, db)
            base_cpu, cpu = time.process_time() - cpu, time.process_time()
            wide_rate, wide_lat = await through_engine(engine, db, "bench_wide", steps)
            wide_cpu, cpu = time.process_time() - cpu, time.process_time()
            chain_rate, chain_lat = await through_engine(engine, db, "bench_chain", steps)
            chain_cpu = time.process_time() - cpu
        finally:
            await engine.stop()
            await client.aclose()
            db.close()
            redis_server.stop()

    print(f"{steps} no-op steps, embedded engine: SQLite + embedded Redis, {workers} workers")
    print(f"{'':<28}{'steps/s':>12}{'p50 ready→running ms':>24}{'p99 ms':>10}{'CPU ms/step':>14}")
    rows = [("direct run() (baseline)", base_rate, base_lat, base_cpu), ("engine, wide graph", wide_rate, wide_lat, wide_cpu),
            ("engine, chain", chain_rate, chain_lat, chain_cpu)]
    for label, rate, lat, cpu_s in rows:
        print(f"{label:<28}{rate:>12.0f}{statistics.median(lat):>24.2f}{percentile(lat, 99):>10.2f}"
              f"{cpu_s * 1000 / steps:>14.3f}")
    print(f"(CPU: this process only, the redis-server child excluded; machine load average {os.getloadavg()[0]:.1f})")
    print(f"steps_per_s={wide_rate:.0f} p50_ms={statistics.median(chain_lat):.2f} p99_ms={percentile(chain_lat, 99):.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2, help="embedded pool size (default 2, the station's default)")
    args = parser.parse_args()
    asyncio.run(main(args.steps, args.workers))
