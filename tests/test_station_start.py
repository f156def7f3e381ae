"""The station as a user starts it: `ingest-station --no-gui --data-dir DIR`."""

import socket
import subprocess

import redis

from tests.support.station_process import running_station, station_command, station_env


def test_headless_start_says_so_prints_token_and_answers_health(tmp_path):
    with running_station("--data-dir", str(tmp_path)) as station:
        assert "headless" in station.lines[0]
        assert len(station.token) >= 20
        health = station.health()
        assert health["status"] == "ok"
        assert health["version"]
        assert {"detectors", "workers"} <= set(health)
        assert health["library_free_bytes"] > 0  # the room left for the day's cards, for a server's monitoring
        assert (tmp_path / "station.db").exists()
        assert (tmp_path / "redis" / "redis.sock").exists()
        assert str(station.token) in (tmp_path / "config.toml").read_text()
    # Stopped cleanly: the embedded Redis went with it.
    assert station.process.returncode == 0
    assert not (tmp_path / "redis" / "redis.sock").exists()
    # The token is kept for the next start.
    with running_station("--data-dir", str(tmp_path)) as again:
        assert again.token == station.token


def test_without_display_the_default_command_starts_headless(tmp_path):
    env = station_env()
    process = subprocess.Popen(station_command("--data-dir", str(tmp_path), "--port", "0"),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    first = process.stdout.readline()
    process.terminate()
    process.wait(20)
    process.stdout.close()
    assert "headless" in first and "no display" in first


def test_second_instance_on_the_same_data_folder_is_refused(tmp_path):
    with running_station("--data-dir", str(tmp_path)):
        result = subprocess.run(station_command("--no-gui", "--data-dir", str(tmp_path), "--port", "0"),
                                capture_output=True, text=True, env=station_env(), timeout=60)
    assert result.returncode == 2
    assert "already running" in result.stderr
    assert "Traceback" not in result.stderr


def test_port_in_use_is_exit_code_2_with_a_reason(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            station_command("--no-gui", "--data-dir", str(tmp_path), "--host", "127.0.0.1", "--port", str(port)),
            capture_output=True, text=True, env=station_env(), timeout=60)
    assert result.returncode == 2
    assert "port" in result.stderr and "Traceback" not in result.stderr


def test_unknown_path_is_404_and_health_is_json(tmp_path):
    import json
    import urllib.error
    import urllib.request

    with running_station("--data-dir", str(tmp_path)) as station:
        try:
            urllib.request.urlopen(station.base_url + "/nope", timeout=5)
            raise AssertionError("expected 404")
        except urllib.error.HTTPError as exc:
            assert exc.code == 404
        with urllib.request.urlopen(station.base_url + "/health", timeout=5) as response:
            assert response.headers["Content-Type"] == "application/json"
            assert json.loads(response.read())["status"] == "ok"


def test_external_redis_and_postgres_are_used_instead_of_embedded(tmp_path, pg_url, external_redis_url):
    with running_station("--data-dir", str(tmp_path), "--db-url", pg_url, "--redis-url", external_redis_url) as station:
        assert station.health()["status"] == "ok"
        assert not (tmp_path / "redis").exists()
        assert not (tmp_path / "station.db").exists()
    assert any("postgresql" in line and "127.0.0.1:6379" in line for line in station.lines)
    assert redis.Redis.from_url(external_redis_url).ping()


def test_unreachable_redis_is_a_clear_error(tmp_path):
    result = subprocess.run(
        station_command("--no-gui", "--data-dir", str(tmp_path), "--port", "0", "--redis-url", "redis://127.0.0.1:1/0"),
        capture_output=True, text=True, env=station_env(), timeout=60)
    assert result.returncode == 2
    assert "cannot reach Redis" in result.stderr


def test_migrate_command_brings_a_database_to_head(tmp_path, db_url):
    result = subprocess.run(station_command("migrate", "--data-dir", str(tmp_path), "--db-url", db_url),
                            capture_output=True, text=True, env=station_env(), timeout=60)
    assert result.returncode == 0, result.stderr
    assert "-> 0001" in result.stdout or "->" in result.stdout
