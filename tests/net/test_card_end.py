"""The card's end over real sockets (PROTOCOL.md additions `status` and `wipe`): a real station
(pipeline, workers, SQLite, embedded Redis) and a scripted Detector that announces the
capabilities, uploads the generated card's files and records what the station sends it."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from sqlalchemy import func, select
from websockets.asyncio.client import connect

from app.db.models import CardWipe
from app.headless import card_end_line
from app.media.sample_card import write_sample_card
from app.pipeline.steps import cleanup as cleanup_step
from tests.importer.loopback import Recorder, start_station, steps_named, wait_execution

IMPORTED_KINDS = ("qr_clip", "jump_clip", "photo")


@pytest.fixture(scope="module")
def card(tmp_path_factory):
    return write_sample_card(tmp_path_factory.mktemp("card"))


@pytest.fixture(params=["sqlite+embedded-redis", "postgres+external-redis"])
async def station(request, tmp_path, card, redis_prefix):
    shared = {}
    if request.param.startswith("postgres"):
        shared = {"db_url": request.getfixturevalue("pg_url"), "redis_url": request.getfixturevalue("external_redis_url"),
                  "redis_prefix": redis_prefix}
    station = await start_station(tmp_path / "data", small_file_bytes=(card.largest_qr_clip + card.smallest_jump_clip) // 2,
                                  **shared)
    yield station
    await station.stop()


async def until(predicate: Callable[[], Any], timeout: float = 60) -> Any:
    """The predicate's first true value, or its last one when time ran out."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := predicate()) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    return value


class ScriptedDetector:
    """Serves copy requests one file after another (upload mode); `misbehave(path)` may say
    "hold" (never sent) or "gone" (sd:copy_error, not retryable)."""

    def __init__(self, port: int, token: str, root: Path, capabilities: list[str],
                 misbehave: Callable[[str], str] = lambda path: "ok") -> None:
        self.url = f"ws://127.0.0.1:{port}/detector"
        self.token, self.root, self.capabilities, self.misbehave = token, root, capabilities, misbehave
        self.received: list[dict[str, Any]] = []
        self._requests: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._tasks: list[asyncio.Task] = []

    async def __aenter__(self) -> ScriptedDetector:
        self.ws = await connect(self.url, max_size=None)
        await self.ws.send(json.dumps({"type": "hello", "data": {
            "role": "detector", "detector_id": "desk-end", "token": self.token, "capabilities": self.capabilities}}))
        assert json.loads(await self.ws.recv())["type"] == "welcome"
        self._tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._serve())]
        return self

    async def __aexit__(self, *exc) -> None:
        for task in self._tasks:
            task.cancel()
        await self.ws.close()

    async def send(self, type_: str, data: dict[str, Any]) -> None:
        await self.ws.send(json.dumps({"type": type_, "data": data}))

    async def _read(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            self.received.append(message)
            if message["type"] == "sd:copy_request":
                self._requests.put_nowait(message["data"])

    async def _serve(self) -> None:
        while True:
            request = await self._requests.get()
            for entry in request["files"]:
                what = self.misbehave(entry["path"])
                if what == "hold":
                    continue
                if what == "gone":
                    await self.send("sd:copy_error", {"request_id": request["request_id"], "path": entry["path"],
                                                      "error": "no such file", "retryable": False})
                    continue
                data = (self.root / entry["path"]).read_bytes()
                await self.send("sd:upload_begin", {"request_id": request["request_id"], "path": entry["path"],
                                                    "size": len(data), "offset": 0})
                for start in range(0, len(data), 1024 * 1024):
                    await self.ws.send(data[start:start + 1024 * 1024])
                await self.send("sd:file_copied", {"request_id": request["request_id"], "path": entry["path"],
                                                   "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})

    def of_type(self, type_: str) -> list[dict[str, Any]]:
        return [m["data"] for m in self.received if m["type"] == type_]

    async def wait_for(self, type_: str, where: Callable[[dict], bool] = lambda d: True, timeout: float = 120) -> dict:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            found = [d for d in self.of_type(type_) if where(d)]
            if found:
                return found[0]
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {type_} in time; received {[m['type'] for m in self.received]}")


def statuses(detector: ScriptedDetector, execution_id: int) -> list[str]:
    return [d["state"] for d in detector.of_type("sd:card_status") if d["execution_id"] == execution_id]


def clip_of(proxy: str) -> str:
    """GL010002.LRV and GX010002.THM belong to GX010002.MP4."""
    path = PurePosixPath(proxy)
    return str(path.with_name("GX" + path.stem[2:] + ".MP4"))


async def test_a_complete_card_is_safe_to_format_and_its_wipe_lists_exactly_the_verified_files(station, card):
    station.settings.wipe_after_import = True
    recorder = Recorder()
    station.bus.subscribe(recorder)
    imported = [f for f in card.files if f.kind in IMPORTED_KINDS]
    async with ScriptedDetector(station.port, station.settings.token, card.root, ["upload", "status", "wipe"]) as detector:
        await detector.send("sd:file_list", {"card_id": "CARD-END-1", "files": card.file_list()})
        ack = await detector.wait_for("sd:file_list_ack")
        execution_id = ack["execution_id"]
        complete = await detector.wait_for("sd:card_status", lambda d: d["state"] == "complete")
        assert statuses(detector, execution_id) == ["importing", "complete"]
        assert complete == {"card_id": "CARD-END-1", "execution_id": execution_id, "state": "complete",
                            "files_total": len(imported), "files_verified": len(imported), "safe_to_format": True}
        [verify] = await steps_named(station, execution_id, "verify_copies")
        assert verify.output["verified"] == verify.output["read_whole"] == len(imported)  # read back, this import

        wipe = await detector.wait_for("sd:wipe_request")
        types = [m["type"] for m in detector.received]
        assert types.index("sd:wipe_request") > types.index("sd:card_status", types.index("sd:file_list_ack") + 1)
        listed = {f["path"]: f for f in card.file_list()}
        verified = {f.path for f in imported}
        companions = {p for p in card.proxies if clip_of(p) in verified}
        assert companions  # the card has proxies and thumbnails of its clips
        assert wipe["card_id"] == "CARD-END-1"
        assert [e["path"] for e in wipe["files"]] == sorted(verified | companions)
        for entry in wipe["files"]:
            assert (entry["size"], entry["modified"]) == (listed[entry["path"]]["size"], listed[entry["path"]]["modified"])
            if entry["path"] in verified:
                assert entry["sha256"] == hashlib.sha256((card.root / entry["path"]).read_bytes()).hexdigest()
            else:
                assert "sha256" not in entry  # never imported, so no hash of the station's to give

        await detector.send("sd:wipe_done", {"request_id": "w-999-deadbeef", "card_id": "CARD-END-1",
                                             "deleted": [], "kept": []})
        refused = await detector.wait_for("error")
        assert refused["code"] == "unknown_request"
        await detector.send("sd:wipe_done", {"request_id": wipe["request_id"], "card_id": "CARD-END-1",
                                             "deleted": ["../../etc/passwd"], "kept": []})
        malformed = await detector.wait_for("error", lambda d: d["code"] == "bad_message")
        assert "'..' segment" in malformed["message"]
        assert await station.db.read(lambda s: s.get(CardWipe, wipe["request_id"]).done_at) is None  # nothing recorded
        kept = [{"path": wipe["files"][0]["path"], "reason": "modified time changed"}]
        deleted = [e["path"] for e in wipe["files"][1:]]
        await detector.send("sd:wipe_done", {"request_id": wipe["request_id"], "card_id": "CARD-END-1",
                                             "deleted": deleted, "kept": kept})
        wiped = await until(lambda: [e for e in recorder.events if e.type == "card:wiped"])
        assert [e.data["deleted"] for e in wiped] == [len(deleted)] and wiped[0].data["kept"] == kept
        row = await station.db.read(lambda s: (lambda r: (r.done_at, r.deleted, r.kept))(s.get(CardWipe, wipe["request_id"])))
        assert row[0] is not None and row[1:] == (deleted, kept)

        # The window and the console hear of it too.
        [safe] = [e for e in recorder.events if e.type == "card:status" and e.data["safe_to_format"]]
        assert card_end_line(safe) == f"card CARD-END-1 safe to format: all {len(imported)} files verified in the library"
        assert card_end_line(wiped[0]) == f"card CARD-END-1 wiped by desk-end: {len(deleted)} files deleted, 1 kept"

        # Listed again (its files all imported before): it is told at once, and complete again.
        await detector.send("sd:file_list", {"card_id": "CARD-END-1", "files": card.file_list()})
        again = await detector.wait_for("sd:file_list_ack", lambda d: d["execution_id"] != execution_id)
        assert again["files_new"] == 0
        second = await detector.wait_for("sd:card_status", lambda d: d["execution_id"] == again["execution_id"]
                                         and d["state"] == "complete")
        assert statuses(detector, again["execution_id"]) == ["importing", "complete"]
        assert second["files_verified"] == second["files_total"] == len(imported) and second["safe_to_format"]
        [again_verify] = await steps_named(station, again["execution_id"], "verify_copies")
        assert again_verify.output == {"verified": len(imported), "read_whole": 0, "not_in_library": 0}  # checked before


async def test_a_cancelled_import_is_incomplete_and_nothing_is_wiped(station, card):
    station.settings.wipe_after_import = True
    jump_clips = {c for p in card.passengers for c in p.clips} - {p.qr_clip for p in card.passengers}
    async with ScriptedDetector(station.port, station.settings.token, card.root, ["upload", "status", "wipe"],
                                misbehave=lambda path: "hold" if path in jump_clips else "ok") as detector:
        await detector.send("sd:file_list", {"card_id": "CARD-END-2", "files": card.file_list()})
        execution_id = (await detector.wait_for("sd:file_list_ack"))["execution_id"]
        await detector.wait_for("sd:copy_request", lambda d: any(f["path"] in jump_clips for f in d["files"]))
        await station.engine.cancel(execution_id)
        incomplete = await detector.wait_for("sd:card_status", lambda d: d["state"] == "incomplete")
        assert statuses(detector, execution_id) == ["importing", "incomplete"]
        assert incomplete["safe_to_format"] is False and incomplete["files_verified"] < incomplete["files_total"]
        # The wipe is decided with the status, in the same step: none was asked for.
        assert detector.of_type("sd:wipe_request") == []
        assert await station.db.read(lambda s: s.scalar(select(func.count()).select_from(CardWipe))) == 0


async def test_a_file_gone_from_the_card_leaves_it_incomplete_without_a_wipe(station, card):
    station.settings.wipe_after_import = True
    gone = card.passengers[0].clips[-1]
    async with ScriptedDetector(station.port, station.settings.token, card.root, ["upload", "status", "wipe"],
                                misbehave=lambda path: "gone" if path == gone else "ok") as detector:
        await detector.send("sd:file_list", {"card_id": "CARD-END-3", "files": card.file_list()})
        execution_id = (await detector.wait_for("sd:file_list_ack"))["execution_id"]
        assert await wait_execution(station, execution_id, "succeeded", "failed") == "succeeded"  # the rest imports
        incomplete = await detector.wait_for("sd:card_status", lambda d: d["state"] != "importing")
        imported = [f for f in card.files if f.kind in IMPORTED_KINDS]
        assert incomplete == {"card_id": "CARD-END-3", "execution_id": execution_id, "state": "incomplete",
                              "files_total": len(imported), "files_verified": len(imported) - 1,
                              "safe_to_format": False}
        assert detector.of_type("sd:wipe_request") == []
        assert await station.db.read(lambda s: s.scalar(select(func.count()).select_from(CardWipe))) == 0


async def test_a_library_copy_that_does_not_read_back_identical_leaves_the_card_incomplete(station, card, monkeypatch):
    station.settings.wipe_after_import = True
    ana = card.passengers[0]
    folder = station.settings.library / "2026-11-23" / f"{ana.booking_id} {ana.passenger_name}"
    real_clean = cleanup_step.clean_staging

    def clean_and_damage(staging):  # the disk flips a bit after the file was stored and filed
        [damaged] = folder.rglob(Path(ana.clips[-1]).name)  # in its camera's subfolder
        data = bytearray(damaged.read_bytes())
        data[len(data) // 3] ^= 0x10
        damaged.write_bytes(bytes(data))
        return real_clean(staging)

    monkeypatch.setattr(cleanup_step, "clean_staging", clean_and_damage)
    async with ScriptedDetector(station.port, station.settings.token, card.root, ["upload", "status", "wipe"]) as detector:
        await detector.send("sd:file_list", {"card_id": "CARD-END-4", "files": card.file_list()})
        execution_id = (await detector.wait_for("sd:file_list_ack"))["execution_id"]
        incomplete = await detector.wait_for("sd:card_status", lambda d: d["state"] != "importing")
        assert incomplete["state"] == "incomplete" and incomplete["safe_to_format"] is False
        [verify] = await steps_named(station, execution_id, "verify_copies")
        assert verify.state == "failed" and Path(ana.clips[-1]).name in verify.error and "sha256" in verify.error
        assert detector.of_type("sd:wipe_request") == []
        assert await station.db.read(lambda s: s.scalar(select(func.count()).select_from(CardWipe))) == 0


async def test_a_detector_that_did_not_announce_status_or_wipe_is_sent_neither(station, card):
    station.settings.wipe_after_import = True
    recorder = Recorder()
    station.bus.subscribe(recorder)
    async with ScriptedDetector(station.port, station.settings.token, card.root, ["upload"]) as detector:
        await detector.send("sd:file_list", {"card_id": "CARD-END-5", "files": card.file_list()})
        execution_id = (await detector.wait_for("sd:file_list_ack"))["execution_id"]
        # The station decided (card:status is announced just before the Detector would be told).
        complete = await until(lambda: [e for e in recorder.events if e.type == "card:status"
                                        and e.data["execution_id"] == execution_id and e.data["state"] == "complete"])
        assert complete and complete[0].data["safe_to_format"]
        assert detector.of_type("sd:card_status") == [] and detector.of_type("sd:wipe_request") == []
        assert await station.db.read(lambda s: s.scalar(select(func.count()).select_from(CardWipe))) == 0
