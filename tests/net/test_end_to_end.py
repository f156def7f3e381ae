"""Issue 4, done when: a headless station (`--no-gui --data-dir tmp --token T`) and the reference
Detector on a generated card, checked on the wire. Small files are requested first, every stored
file's bytes equal the card's, the UI channel sees the events in order, and listing the same card
again requests nothing new."""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
import subprocess
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from websockets.asyncio.client import connect

from app.media.sample_card import write_sample_card
from tests.net.conftest import eventually
from tests.support.station_process import running_station, station_command, station_env

TOKEN = "e2e-token-0123456789abcdef"
pytestmark = pytest.mark.slow


@contextmanager
def reference_detector(port: int, card: Path, trace: Path):
    process = subprocess.Popen(
        station_command("detector", "--station", f"ws://127.0.0.1:{port}", "--token", TOKEN, "--card", str(card),
                        "--detector-id", "desk-e2e", "--name", "Desk e2e", "--trace", str(trace)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=station_env())
    try:
        yield process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


def wire(trace: Path) -> list[tuple[str, dict]]:
    """The messages of a Detector's trace; a line still being written is left out."""
    written = trace.read_text() if trace.exists() else ""
    lines = written[:written.rfind("\n") + 1].splitlines()
    return [(row["dir"], row["message"]) for row in map(json.loads, lines)]


def api_executions(port: int, limit: int) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/executions?limit={limit}",
                                     headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


class UiRecorder:
    """A UI client on /ui that keeps every event it is sent."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.events: list[dict] = []
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> UiRecorder:
        self.ws = await connect(f"ws://127.0.0.1:{self.port}/ui")
        await self.ws.send(json.dumps({"type": "hello", "data": {"role": "ui", "token": TOKEN}}))
        assert json.loads(await self.ws.recv())["type"] == "welcome"
        self._task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        async for raw in self.ws:
            self.events.append(json.loads(raw))

    async def __aexit__(self, *exc) -> None:
        await self.ws.close()
        await asyncio.gather(self._task, return_exceptions=True)

    async def wait_for(self, type_: str, count: int = 1, timeout: float = 180) -> list[dict]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            found = [e for e in self.events if e["type"] == type_]
            failed = [e for e in self.events if e["type"] == "pipeline:failed"]  # fail fast, and say why
            assert not failed, f"the import failed: {failed}"
            if len(found) >= count:
                return found
            assert asyncio.get_running_loop().time() < deadline, f"no {type_} in time; saw {self.types()}"
            await asyncio.sleep(0.1)

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]


@pytest.fixture(params=["sqlite+embedded-redis", "postgres+external-redis"])
def storage(request, tmp_path, redis_prefix) -> tuple[list[str], str]:
    """Station flags for the storage setup, and the database URL to check afterwards."""
    if request.param.startswith("postgres"):
        db_url = request.getfixturevalue("pg_url")
        return ["--db-url", db_url, "--redis-url", request.getfixturevalue("external_redis_url")], db_url
    return [], f"sqlite:///{tmp_path / 'data' / 'station.db'}"


async def test_reference_detector_imports_a_generated_card_end_to_end(tmp_path, storage, redis_prefix):
    flags, db_url = storage
    card = write_sample_card(tmp_path / "card")
    threshold = (card.largest_qr_clip + card.smallest_jump_clip) // 2
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "config.toml").write_text(f"small_file_bytes = {threshold}\nredis_prefix = \"{redis_prefix}\"\n")
    card_bytes = {f.path: (card.root / f.path).read_bytes() for f in card.files}

    with running_station("--data-dir", str(data_dir), "--token", TOKEN, *flags) as station:
        async with UiRecorder(station.port) as ui:
            first_trace = tmp_path / "first.jsonl"
            with reference_detector(station.port, card.root, first_trace):
                completed = (await ui.wait_for("pipeline:completed"))[0]
            execution_id = completed["data"]["execution_id"]

            # -- the wire, as the Detector saw it ---------------------------------------------------
            messages = wire(first_trace)
            sent = [m for d, m in messages if d == "out"]
            received = [m for d, m in messages if d == "in"]
            assert sent[0]["type"] == "hello" and received[0]["type"] == "welcome"
            listing = next(m for m in sent if m["type"] == "sd:file_list")
            assert sorted(f["path"] for f in listing["data"]["files"]) == sorted(card_bytes)
            ack = next(m for m in received if m["type"] == "sd:file_list_ack")
            imported = [f for f in card.files if f.kind not in ("proxy", "thumbnail")]
            assert ack["data"]["files_new"] == len(imported) and ack["data"]["execution_id"] == execution_id

            requests = [m["data"] for m in received if m["type"] == "sd:copy_request"]
            assert requests, "the station asked for nothing"
            qr_clips = sorted(p.qr_clip for p in card.passengers)
            # Small files first, in their own request.
            assert sorted(f["path"] for f in requests[0]["files"]) == qr_clips
            assert all(f["size"] < threshold for f in requests[0]["files"])
            asked = [f for r in requests for f in r["files"]]
            requested = [f["path"] for f in asked if "length" not in f]  # whole files
            assert sorted(requested) == sorted(f.path for f in imported)
            assert not {f["path"] for f in asked} & set(card.proxies)
            # The Detector announced `range`: big clips were searched from slices before being asked whole.
            slices = [f for f in asked if "length" in f]
            assert slices and all(f["size"] >= threshold and f["path"] in requested for f in slices)
            stored = [m["data"]["path"] for m in received if m["type"] == "sd:file_stored"]
            assert sorted(stored) == sorted(f["path"] for f in asked)
            assert not [m for m in received if m["type"] in ("sd:file_rejected", "error")]

            # -- the UI channel saw the events in order ----------------------------------------------
            gone = (await ui.wait_for("detector:disconnected"))[0]["data"]
            assert (gone["detector_id"], gone["name"]) == ("desk-e2e", "Desk e2e")
            types = ui.types()
            assert types.index("detector:connected") < types.index("pipeline:started") < types.index("pipeline:completed")
            ours = [e for e in ui.events if e["data"].get("execution_id") == execution_id
                    and not e["type"].startswith("card:")]  # the card's state follows the import's end
            assert ours[0]["type"] == "pipeline:started" and ours[-1]["type"] == "pipeline:completed"
            started_steps: set[int] = set()
            for event in ours:
                if event["type"] == "pipeline:step_started":
                    started_steps.add(event["data"]["step_id"])
                if event["type"] == "pipeline:step_completed" and event["data"]["status"] != "skipped":
                    assert event["data"]["step_id"] in started_steps, event
            progress = [e["data"] for e in ours if e["type"] == "transfer:progress"]
            assert {p["path"] for p in progress if p["bytes"] == p["total"]} == set(requested)
            qr_decoded = [e["data"]["passenger"]["booking_id"] for e in ours if e["type"] == "pipeline:qr_decoded"]
            assert sorted(qr_decoded) == sorted(p.booking_id for p in card.passengers)
            assert completed["data"]["files_imported"] == len(imported)

            # -- pipeline:list over /ui and GET /api/executions answer the same JSON --------------------
            await ui.ws.send(json.dumps({"type": "pipeline:list", "id": "list-1", "data": {"limit": 5}}))
            listed = (await ui.wait_for("pipeline:list_result"))[0]["data"]
            assert listed["ref"] == "list-1" and listed["executions"][0]["id"] == execution_id
            assert listed["executions"][0]["state"] == "succeeded"
            api = await asyncio.to_thread(api_executions, station.port, 5)
            assert api == {"executions": listed["executions"]}
            step = listed["executions"][0]["steps"][0]
            await ui.ws.send(json.dumps({"type": "pipeline:retry", "id": "retry-1", "data": {
                "execution_id": execution_id, "step_id": step["id"]}}))
            refused = (await ui.wait_for("error"))[0]["data"]
            assert refused["code"] == "conflict" and refused["ref"] == "retry-1"
            await ui.ws.send(json.dumps({"type": "pipeline:retry_failed", "id": "retry-2", "data": {
                "execution_id": execution_id}}))
            refused = (await ui.wait_for("error", count=2))[1]["data"]
            assert refused["code"] == "conflict" and refused["ref"] == "retry-2"
            assert "no failed step" in refused["message"]

            # -- the same card listed again requests nothing new --------------------------------------
            second_trace = tmp_path / "second.jsonl"
            before = len(ui.events)
            with reference_detector(station.port, card.root, second_trace):
                # Completed: a file it had asked for would have been copied first. And the Detector
                # has the station's answer to this listing on its own wire before it is stopped.
                await ui.wait_for("pipeline:completed", count=2)
                await eventually(lambda: [m for d, m in wire(second_trace) if m["type"] == "sd:file_list_ack"])
            again = wire(second_trace)
            acks = [m for d, m in again if m["type"] == "sd:file_list_ack"]
            assert acks and acks[0]["data"]["files_new"] == 0
            assert acks[0]["data"]["card_id"] == ack["data"]["card_id"]  # the same card, by its listing's hash
            assert not [m for d, m in again if m["type"] in ("sd:copy_request", "sd:upload_begin")]
            assert not [e for e in ui.events[before:] if e["type"] == "transfer:progress"]

    # -- every stored file's bytes equal the card's ---------------------------------------------------
    engine = create_engine(db_url)
    with engine.connect() as db:
        rows = db.execute(text("SELECT source_path, stored_path, sha256 FROM imported_file")).fetchall()
    engine.dispose()
    assert sorted(row[0] for row in rows) == sorted(f.path for f in imported)
    library = (data_dir / "library").resolve()
    for source_path, stored_path, sha256 in rows:
        assert Path(stored_path).resolve().is_relative_to(library)
        assert Path(stored_path).read_bytes() == card_bytes[source_path], source_path
        assert sha256 == hashlib.sha256(card_bytes[source_path]).hexdigest()
