"""Start the real `ingest-station` program as a child process, as a user would."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

LISTEN_LINE = re.compile(r"listening on (\S+):(\d+)\s+pairing token: (\S+)")


@dataclass
class StationProcess:
    process: subprocess.Popen[str]
    port: int
    token: str
    lines: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def health(self) -> dict:
        with urllib.request.urlopen(self.base_url + "/health", timeout=5) as response:
            return json.loads(response.read())


def station_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "app", *args]


def station_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")}
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    env.pop("QT_QPA_PLATFORM", None)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@contextmanager
def running_station(*args: str, env: dict[str, str] | None = None, timeout: float = 30) -> Iterator[StationProcess]:
    """Start the station headless and wait for its listening line; stop it (SIGTERM) afterwards."""
    process = subprocess.Popen(
        station_command("--no-gui", "--port", "0", "--host", "127.0.0.1", *args),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env or station_env(),
    )
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    match = None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        match = LISTEN_LINE.search(line)
        if match:
            break
    if not match:
        process.kill()
        rest = process.stdout.read() if process.stdout else ""
        raise AssertionError("station did not start:\n" + "\n".join(lines) + rest)
    station = StationProcess(process, int(match.group(2)), match.group(3), lines)
    try:
        yield station
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout:
            station.lines.extend(process.stdout.read().splitlines())
            process.stdout.close()
