"""Real `ingest-station worker` processes: crash takeover, sharing an execution, refusals, CLI."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from app.pipeline.base import NewStep, children_of
from app.pipeline.registry import PipelineDefinition

from tests.pipeline.conftest import close_harness, make_harness
from tests.pipeline.worker_processes import (
    data_dir_with_prefix,
    run_command,
    start_worker,
    stop_worker,
)


async def _until(predicate, timeout: float = 20, what: str = "") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_worker_killed_mid_step_is_taken_over_and_the_step_completes_exactly_once(
        db_url, embedded_redis_url, redis_prefix, tmp_path):
    journal = tmp_path / "journal.txt"
    PipelineDefinition("t_crash", steps=[
        NewStep("t_slow_append", key="x", params={"sleep": 2.0, "journal": str(journal)}),
    ])
    # The station: no workers of its own, its bus fed by the workers through Redis.
    h = await make_harness(db_url, embedded_redis_url, redis_prefix, tmp_path, workers=0)
    workers = []
    try:
        for name in ("w1", "w2"):
            workers.append(await asyncio.to_thread(start_worker, data_dir_with_prefix(tmp_path / name, redis_prefix),
                                                   db_url, embedded_redis_url))
        execution_id = await h.start("t_crash")
        by_id = {w.worker_id: w for w in workers}

        async def running_somewhere():
            step = (await h.steps(execution_id))["t_slow_append:x"]
            return step.state == "running" and step.worker_id in by_id

        await _until(running_somewhere, what="a worker to run the step")
        first = by_id[(await h.steps(execution_id))["t_slow_append:x"].worker_id]
        second = next(w for w in workers if w is not first)
        os.kill(first.process.pid, signal.SIGKILL)  # mid-step: it sleeps 2 s before its side effect
        await asyncio.to_thread(first.process.wait, 10)

        assert await h.wait_state(execution_id, "succeeded", "failed", timeout=30) == "succeeded"
        step = (await h.steps(execution_id))["t_slow_append:x"]
        assert step.worker_id == second.worker_id and step.deliveries == 2
        assert journal.read_text().splitlines() == [f"x:{second.process.pid}"]  # one side effect
        assert step.output == {"pid": second.process.pid}

        # The remote worker's events reached the station's bus through Redis, once each.
        async def completed_event():
            return any(e.type == "pipeline:completed" and e.data["execution_id"] == execution_id for e in h.events)

        await _until(completed_event, timeout=5, what="pipeline:completed from the remote worker")
        completed = [e for e in h.events if e.type == "pipeline:step_completed" and e.data["step_id"] == step.id]
        assert len(completed) == 1 and completed[0].data["status"] == "succeeded"
        assert stop_worker(second) == 0
        assert "stopped" in second.output
    finally:
        for worker in workers:
            if worker.process.poll() is None:
                worker.process.kill()
        await close_harness(h)


@pytest.mark.postgres
async def test_two_worker_processes_on_postgres_share_one_execution(pg_url, embedded_redis_url, redis_prefix,
                                                                     tmp_path):
    journal = tmp_path / "journal.txt"
    PipelineDefinition("t_shared", steps=[
        NewStep("t_fanout", params={"count": 8, "sleep": 0.4, "journal": str(journal)}),
        NewStep("t_record", key="after_all", depends_on=[children_of("t_fanout")]),
    ])
    h = await make_harness(pg_url, embedded_redis_url, redis_prefix, tmp_path, workers=0)
    workers = []
    try:
        for name in ("w1", "w2"):
            workers.append(await asyncio.to_thread(
                start_worker, data_dir_with_prefix(tmp_path / name, redis_prefix), pg_url, embedded_redis_url, 2))
        execution_id = await h.start("t_shared")
        assert await h.wait_state(execution_id, "succeeded", "failed", timeout=30) == "succeeded"
        steps = await h.steps(execution_id)
        children = [s for name, s in steps.items() if name.startswith("t_record:c")]
        assert len(children) == 8 and all(c.state == "succeeded" for c in children)
        assert {c.worker_id for c in children} == {w.worker_id for w in workers}
        assert sorted(journal.read_text().splitlines()) == sorted(f"t_record:c{i}:1" for i in range(8))
        for worker in workers:
            assert stop_worker(worker) == 0
    finally:
        for worker in workers:
            if worker.process.poll() is None:
                worker.process.kill()
        await close_harness(h)


def test_a_worker_without_redis_or_with_an_old_schema_refuses_to_start(tmp_path, sqlite_url, embedded_redis_url):
    result = run_command("worker", "--data-dir", str(tmp_path / "nothing-here"))
    assert result.returncode == 2
    assert "no Redis to join" in result.stderr and "--redis-url" in result.stderr

    result = run_command("worker", "--data-dir", str(tmp_path / "d"), "--db-url", sqlite_url,
                         "--redis-url", embedded_redis_url)
    assert result.returncode == 2
    assert "is at schema none" in result.stderr and "ingest-station migrate" in result.stderr


async def test_status_lists_failed_executions_first_and_retry_reruns_the_step(db_url, embedded_redis_url,
                                                                            redis_prefix, tmp_path):
    fixed = tmp_path / "fixed"
    PipelineDefinition("t_cli", steps=[
        NewStep("t_fail_unless", params={"path": str(fixed)}),
        NewStep("t_record", key="after", depends_on=["t_fail_unless"]),
    ])
    h = await make_harness(db_url, embedded_redis_url, redis_prefix, tmp_path)
    try:
        ok = await h.start("t_diamond")
        assert await h.wait_state(ok, "succeeded") == "succeeded"
        bad = await h.start("t_cli")
        assert await h.wait_state(bad, "failed") == "failed"
        failed_step = (await h.steps(bad))["t_fail_unless"]
        data_dir = str(data_dir_with_prefix(tmp_path / "cli", redis_prefix))

        status = await asyncio.to_thread(run_command, "status", "--data-dir", data_dir, "--db-url", db_url)
        assert status.returncode == 0, status.stderr
        lines = status.stdout.splitlines()
        assert lines[0].startswith(f"execution {bad}  FAILED")
        assert any(f"step {failed_step.id:>5}  failed" in line and "is missing" in line for line in lines)
        assert any(line.startswith(f"execution {ok}  SUCCEEDED") for line in lines)

        refused = await asyncio.to_thread(run_command, "retry", "--data-dir", data_dir, "--db-url", db_url,
                                          "--redis-url", embedded_redis_url, str(ok), str((await h.steps(ok))["t_record:a"].id))
        assert refused.returncode == 1 and "not failed" in refused.stderr

        fixed.write_text("ok")
        retried = await asyncio.to_thread(run_command, "retry", "--data-dir", data_dir, "--db-url", db_url,
                                          "--redis-url", embedded_redis_url, str(bad), str(failed_step.id))
        assert retried.returncode == 0, retried.stderr
        assert "1 step(s) after it will run again" in retried.stdout
        assert await h.wait_state(bad, "succeeded", "failed") == "succeeded"
    finally:
        await close_harness(h)


def test_a_worker_without_redis_url_joins_the_embedded_redis_of_the_station_on_its_data_dir(tmp_path):
    import subprocess
    import time

    from tests.pipeline.worker_processes import command_env
    from tests.support.station_process import running_station, station_command

    data_dir = tmp_path / "desk"
    with running_station("--data-dir", str(data_dir), "--workers", "1", env=command_env()) as station:
        assert station.health()["workers"] == 1
        worker = subprocess.Popen(station_command("worker", "--data-dir", str(data_dir), "--concurrency", "2"),
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  env=command_env())
        try:
            line = ""
            while " running " not in line:
                line = worker.stdout.readline()
                assert line, "the worker ended without saying it runs"
            assert f"redis: unix://{data_dir / 'redis' / 'redis.sock'}" in line
            deadline = time.monotonic() + 15
            while station.health()["workers"] != 3 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert station.health()["workers"] == 3  # the station's 1 and the worker's 2
        finally:
            worker.terminate()
            assert worker.wait(15) == 0
