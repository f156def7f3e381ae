"""The shared setup of the README: a headless station that runs no steps itself, a separate
`ingest-station worker` process on the same Postgres and Redis, and the reference Detector.
Every step runs on the worker; its requests reach the Detector through the station."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from app.config import write_config_file
from app.media.sample_card import write_sample_card
from tests.support.station_process import running_station, station_command, station_env

TOKEN = "sharedsetuptoken0123"
pytestmark = pytest.mark.slow


def executions(port: int) -> list[dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/executions?limit=5",
                                     headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["executions"]


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_a_worker_on_another_machine_does_the_import_the_station_asked_for(tmp_path, pg_url, external_redis_url,
                                                                           redis_prefix):
    card = write_sample_card(tmp_path / "card")
    library = tmp_path / "shared-library"
    # The station's choices; the worker's own config keeps the defaults (50 MB small files),
    # yet must import the card the station's way (only the QR clips first).
    write_config_file(tmp_path / "station" / "config.toml", {
        "redis_prefix": redis_prefix,
        "small_file_bytes": (card.largest_qr_clip + card.smallest_jump_clip) // 2})
    write_config_file(tmp_path / "worker" / "config.toml", {"redis_prefix": redis_prefix})
    shared = ("--db-url", pg_url, "--redis-url", external_redis_url)

    with running_station("--data-dir", str(tmp_path / "station"), "--library", str(library), "--workers", "0",
                         "--token", TOKEN, *shared) as station:
        assert station.health()["workers"] == 0
        # Started the way the README shows: no library given; it files into the station's.
        worker = subprocess.Popen(station_command("worker", "--data-dir", str(tmp_path / "worker"), *shared),
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=station_env())
        detector = subprocess.Popen(
            station_command("detector", "--station", station.ws_url, "--token", TOKEN, "--card", str(card.root),
                            "--detector-id", "desk-shared", "--trace", str(tmp_path / "wire.jsonl")),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=station_env())
        try:
            deadline, state = time.monotonic() + 90, None
            while time.monotonic() < deadline and state not in ("succeeded", "failed"):
                time.sleep(0.3)
                runs = executions(station.port)
                state = runs[0]["state"] if runs else None
            steps = runs[0]["steps"]
        finally:
            stop(detector)
            stop(worker)
        worker_output = worker.stdout.read()
        worker.stdout.close()

    assert state == "succeeded", steps
    assert not (tmp_path / "worker" / "library").exists()  # nothing filed into a library of its own
    worker_ids = {s["worker_id"] for s in steps}
    assert len(worker_ids) == 1 and next(iter(worker_ids)) in worker_output  # every step ran on the worker
    requests = [json.loads(line)["message"] for line in (tmp_path / "wire.jsonl").read_text().splitlines()]
    copy_requests = [m["data"] for m in requests if m["type"] == "sd:copy_request"]
    assert [f["path"] for f in copy_requests[0]["files"]] == [p.qr_clip for p in card.passengers]
    frames = list((library / ".ingest-frames").rglob("*.jpg"))
    assert len(frames) == len(card.passengers)  # the QR frames, where the station's window can read them
    for passenger in card.passengers:
        folder = library / "2026-11-23" / f"{passenger.booking_id} {passenger.passenger_name}"
        assert (folder / f"{passenger.booking_id} {passenger.passenger_name}.mp4").stat().st_size > 0
        for clip in passenger.clips:
            [stored] = folder.glob(f"*/{Path(clip).name}")  # in its camera's subfolder
            assert stored.read_bytes() == (card.root / clip).read_bytes()
