"""Run `ingest-station worker` (and the pipeline commands) as real child processes."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from app.config import write_config_file
from tests.support.station_process import station_command, station_env

WORKER_LINE = re.compile(r"worker (\S+) running")


def command_env(**extra: str) -> dict[str, str]:
    return station_env(INGEST_EXTRA_STEP_MODULES="tests.pipeline.steps_for_tests", **extra)


def data_dir_with_prefix(path: Path, prefix: str) -> Path:
    """A data folder whose config file gives the test's Redis key prefix."""
    write_config_file(path / "config.toml", {"redis_prefix": prefix})
    return path


@dataclass
class WorkerProcess:
    process: subprocess.Popen[str]
    worker_id: str = ""
    lines: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)


def start_worker(data_dir: Path, db_url: str, redis_url: str, concurrency: int = 1, timeout: float = 30,
                 **env: str) -> WorkerProcess:
    process = subprocess.Popen(
        station_command("worker", "--data-dir", str(data_dir), "--db-url", db_url, "--redis-url", redis_url,
                        "--concurrency", str(concurrency)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=command_env(**{"INGEST_WORKER_HEARTBEAT_TTL_S": "1.0", **env}),
    )
    worker = WorkerProcess(process)
    started = threading.Event()

    def drain() -> None:  # keep reading so the child never blocks on a full pipe
        for line in process.stdout:
            worker.lines.append(line.rstrip("\n"))
            match = WORKER_LINE.search(line)
            if match and not worker.worker_id:
                worker.worker_id = match.group(1)
                started.set()
        started.set()

    threading.Thread(target=drain, daemon=True).start()
    if not started.wait(timeout) or not worker.worker_id:
        process.kill()
        raise AssertionError("worker did not start:\n" + worker.output)
    return worker


def stop_worker(worker: WorkerProcess, timeout: float = 15) -> int:
    if worker.process.poll() is None:
        worker.process.terminate()
    try:
        return worker.process.wait(timeout)
    except subprocess.TimeoutExpired:
        worker.process.kill()
        raise AssertionError("worker did not stop on SIGTERM:\n" + worker.output) from None


def run_command(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(station_command(*args), capture_output=True, text=True, timeout=timeout, env=command_env())


def wait_until(predicate, timeout: float = 20, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
