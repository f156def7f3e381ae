import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest
import redis

from app.broker import BrokerError
from app.broker.embedded import EmbeddedRedis


def _wait_gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return True
        time.sleep(0.05)
    return False


def test_starts_on_a_unix_socket_with_append_only_file(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis")
    url = server.start()
    try:
        assert url == f"unix://{tmp_path / 'redis' / 'redis.sock'}"
        client = redis.Redis.from_url(url)
        assert client.config_get("appendonly")["appendonly"] == "yes"
        client.set("k", "v")
        client.close()
    finally:
        server.stop()
    assert not (tmp_path / "redis" / "redis.sock").exists()
    # Data written survives a restart (append-only file).
    again = EmbeddedRedis(tmp_path / "redis")
    client = redis.Redis.from_url(again.start())
    try:
        assert client.get("k") == b"v"
    finally:
        client.close()
        again.stop()


def test_killed_parent_leaves_no_orphan_server(tmp_path):
    script = textwrap.dedent(f"""
        import sys, time
        from app.broker.embedded import EmbeddedRedis
        server = EmbeddedRedis({str(tmp_path / 'redis')!r})
        server.start()
        print(server.process.pid, flush=True)
        time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": os.getcwd()})
    redis_pid = int(parent.stdout.readline())
    assert psutil.pid_exists(redis_pid)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    assert _wait_gone(redis_pid), "redis-server outlived its SIGKILLed parent"


def test_next_start_stops_a_stale_server(tmp_path):
    directory = tmp_path / "redis"
    directory.mkdir()
    from app.broker.embedded import find_redis_server

    # A server left running from an earlier station (e.g. killed on a platform without PDEATHSIG).
    stale = subprocess.Popen([str(find_redis_server()), "--port", "0", "--unixsocket", str(directory / "redis.sock"),
                              "--dir", str(directory)], stdout=subprocess.DEVNULL)
    (directory / "redis-server.pid").write_text(f"{stale.pid}\n")
    server = EmbeddedRedis(directory)
    server.start()
    try:
        stale.wait(10)
        assert stale.returncode is not None
        assert server.process.pid != stale.pid
        assert redis.Redis.from_url(server.url).ping()
    finally:
        server.stop()


def test_long_data_folder_path_falls_back_to_loopback(tmp_path):
    deep = tmp_path / ("x" * 60) / ("y" * 60)
    server = EmbeddedRedis(deep)
    url = server.start()
    try:
        assert url.startswith("redis://:") and "127.0.0.1" in url
        assert redis.Redis.from_url(url).ping()
    finally:
        server.stop()


def test_missing_binary_is_a_clear_error(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis", binary=tmp_path / "nope")
    with pytest.raises(BrokerError, match="redis-server not found"):
        server.start()
