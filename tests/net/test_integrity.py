"""Never lose or misfile a clip (issue 12, station side): a real in-process station (real
orchestrator and workers; SQLite and embedded Redis, Postgres and external Redis) over real WebSockets, with the reference
Detector or a Detector speaking the protocol by hand (an honest one and a rogue one)."""

from __future__ import annotations

import asyncio
import json
import os
import unicodedata
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from websockets.asyncio.client import connect

from app.db.models import (
    ExecutionFile,
    FileState,
    ImportedFile,
    PipelineExecution,
    PipelineStep,
    StepState,
    TransferRequest,
)
from app.detector.agent import DetectorAgent
from app.detector.sources import SingleCard
from app.pipeline.library import MAX_COMPONENT
from tests.importer.loopback import (
    TOKEN,  # start_station's token
    start_station,
    steps_named,
    wait_execution,
    wait_step_state,
)
from tests.support.wire_detector import WireDetector, copied

WHEN = "2026-11-23T10:15:30Z"


@pytest.fixture(params=["sqlite+embedded-redis", "postgres+external-redis"])
async def desk(request, tmp_path, redis_prefix):
    db_url = redis_url = None
    if request.param.startswith("postgres"):
        db_url, redis_url = request.getfixturevalue("pg_url"), request.getfixturevalue("external_redis_url")
    station = await start_station(tmp_path / "data", small_file_bytes=10 * 1024 * 1024, db_url=db_url,
                                  redis_url=redis_url, redis_prefix=redis_prefix)
    yield station
    await station.stop()


@asynccontextmanager
async def reference_detector(station, card: Path, detector_id: str = "desk-ref"):
    agent = DetectorAgent(f"ws://127.0.0.1:{station.port}", TOKEN, SingleCard(card, "CARD-1"),
                          detector_id=detector_id, scan_interval=0.1)
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    try:
        yield agent
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


@dataclass(frozen=True)
class Listed:
    id: int
    files_new: int


async def newest_execution(station, card_id: str, after: int = 0, timeout: float = 30) -> Listed:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await station.db.read(lambda s: s.execute(select(PipelineExecution.id, PipelineExecution.files_new).where(
            PipelineExecution.card_id == card_id, PipelineExecution.id > after).order_by(PipelineExecution.id.desc())).first())
        if found is not None:
            return Listed(*found)
        assert asyncio.get_running_loop().time() < deadline, f"no import of {card_id} in time"
        await asyncio.sleep(0.05)


async def until(check, timeout: float = 30) -> None:
    """Poll the awaitable `check()` until it is true; fail after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def imported(station) -> dict[str, str]:
    """Card path -> library path of every file recorded as imported."""
    rows = await station.db.read(lambda s: s.execute(select(ImportedFile.source_path, ImportedFile.stored_path)).all())
    return dict(rows)


def listing(files: dict[str, bytes]) -> list[dict]:
    return [{"path": path, "size": len(payload), "modified": WHEN} for path, payload in files.items()]


# -- 1. names that clean to one ------------------------------------------------------------------
async def test_card_names_that_clean_to_one_name_each_keep_their_own_bytes(desk, tmp_path):
    long_stem = "GOPRO-" + "x" * 120  # two names equal in their first 100 bytes
    names = ["a?b.MP4", "a_b.MP4", f"{long_stem}-1.MP4", f"{long_stem}-2.MP4",
             unicodedata.normalize("NFC", "Benoît.MP4"), unicodedata.normalize("NFD", "Benoît.MP4"), "CON .MP4"]
    card = tmp_path / "card"
    (card / "DCIM" / "100GOPRO").mkdir(parents=True)
    payloads = {}
    for n, name in enumerate(names):
        payloads[f"DCIM/100GOPRO/{name}"] = payload = os.urandom(150_000 + n)  # several frames each
        (card / "DCIM" / "100GOPRO" / name).write_bytes(payload)
    assert len(list((card / "DCIM" / "100GOPRO").iterdir())) == len(names)

    async with reference_detector(desk, card):
        execution = await newest_execution(desk, "CARD-1")
        assert execution.files_new == len(names)
        assert await wait_execution(desk, execution.id, "succeeded", "failed") == "succeeded"

    stored = await imported(desk)
    assert sorted(stored) == sorted(payloads)
    assert len(set(stored.values())) == len(names), "two clips share one library file"
    library = desk.settings.library.resolve()
    for card_path, library_path in stored.items():
        path = Path(library_path)
        assert path.resolve().is_relative_to(library) and ".ingest-staging" not in path.parts
        assert path.read_bytes() == payloads[card_path], card_path
        assert path.suffix == ".MP4" and len(path.name.encode()) <= MAX_COMPONENT
        assert not path.name.upper().startswith("CON")  # a Windows device name never reaches the library
    # Listed again: every clip is known (the second of each pair was not lost behind the first).
    async with reference_detector(desk, card):
        again = await newest_execution(desk, "CARD-1", after=execution.id)
        assert again.files_new == 0
        assert await wait_execution(desk, again.id, "succeeded", "failed") == "succeeded"


# -- 3. a cancel stops the bytes -----------------------------------------------------------------
@pytest.mark.parametrize("capabilities", [("upload",), ("upload", "cancel")])
async def test_after_a_cancel_no_upload_of_the_import_is_stored_and_the_card_is_new_again(desk, capabilities):
    files = {f"DCIM/100GOPRO/GX01000{n}.MP4": os.urandom(120_000 + n) for n in range(3)}
    first, second, third = files
    async with WireDetector(desk.port, TOKEN, "desk-left", capabilities) as detector:
        await detector.send("sd:file_list", {"card_id": "CARD-C", "files": listing(files)})
        execution_id = (await detector.next("sd:file_list_ack"))["execution_id"]
        request = await detector.next("sd:copy_request")
        assert [f["path"] for f in request["files"]] == list(files)
        request_id = request["request_id"]
        await detector.upload(request_id, first, files[first])
        await detector.next("sd:file_stored", lambda d: d["path"] == first)
        # The second upload is under way (accepted: the marker after it is answered, nothing before) ...
        await detector.begin(request_id, second, files[second])
        assert (await detector.answer_to("sd:card_removed", {"card_id": ""}, "marker"))["type"] == "error"
        assert len(detector.received("error")) == 1

        # ... when the crew cancels the import.
        ui = await connect(f"ws://127.0.0.1:{desk.port}/ui")
        await ui.send(json.dumps({"type": "hello", "data": {"role": "ui", "token": TOKEN}}))
        assert json.loads(await ui.recv())["type"] == "welcome"
        await ui.send(json.dumps({"type": "pipeline:cancel", "id": "c1", "data": {"execution_id": execution_id}}))
        heard = []  # every message, the events that come before the answer too
        while (reply := json.loads(await asyncio.wait_for(ui.recv(), 10)))["data"].get("ref") != "c1":
            heard.append(reply)
        assert reply["type"] == "pipeline:cancel_result"
        # The UI hears the cancel as its own event, and in PROTOCOL.md's words (an execution ends
        # `completed` or `failed`) for clients built to it.
        while not any(m["type"] == "pipeline:failed" for m in heard):
            heard.append(json.loads(await asyncio.wait_for(ui.recv(), 10)))
        ends = [m for m in heard if m["type"] in ("pipeline:cancelled", "pipeline:failed")]
        assert [m["type"] for m in ends] == ["pipeline:cancelled", "pipeline:failed"]
        assert ends[1]["data"]["error"] == "cancelled" and ends[1]["data"]["cancelled"] is True
        assert ends[1]["data"]["execution_id"] == execution_id
        await ui.close()

        if "cancel" in capabilities:  # told to stop; a Detector without it learns from the refusals below
            told = await detector.next("sd:copy_cancel")
            assert told == {"request_id": request_id, "card_id": "CARD-C", "reason": "cancelled"}
        # The upload that was under way ends, and is not stored.
        await detector.frames(files[second])
        answer = await detector.answer_to("sd:file_copied", copied(request_id, second, files[second]), "copied-2")
        assert answer["type"] == "error" and answer["data"]["code"] == "conflict", answer
        # Every later upload of that request: conflict, nothing stored.
        answer = await detector.answer_to("sd:upload_begin", {
            "request_id": request_id, "path": third, "size": len(files[third]), "offset": 0}, "begin-3")
        assert answer["type"] == "error" and answer["data"]["code"] == "conflict", answer
        assert detector.received("sd:file_stored") == [{"request_id": request_id, "path": first}]

    # The station closes the import's requests (the marker that its cancel was carried out) ...
    await until(lambda: desk.db.read(lambda s: s.get(TransferRequest, request_id).state == "cancelled"))
    # ... and nothing of it is recorded: not the uploads after it, nor the clip stored but never filed.
    assert await imported(desk) == {}
    states = await desk.db.read(lambda s: dict(s.execute(select(ExecutionFile.path, ExecutionFile.state).where(
        ExecutionFile.execution_id == execution_id)).all()))
    assert FileState.STORED not in states.values()
    staging = desk.settings.library / ".ingest-staging" / str(execution_id)
    assert not [p for p in staging.rglob("*") if p.is_file() and not p.name.endswith(".partial")]
    # The card listed again: all three are new.
    async with WireDetector(desk.port, TOKEN, "desk-left", ("upload", "cancel")) as detector:
        await detector.send("sd:file_list", {"card_id": "CARD-C", "files": listing(files)})
        ack = await detector.next("sd:file_list_ack")
        assert ack["execution_id"] != execution_id and ack["files_new"] == 3


# -- 4. a storage fault reaches the step ---------------------------------------------------------
async def test_a_library_that_cannot_be_written_fails_the_step_with_the_cause_then_retry_imports(desk, tmp_path):
    desk.orchestrator.storage_retry_s = 0.05  # the pause before asking again, shortened for the test
    blocker = desk.settings.library / ".ingest-staging"
    desk.settings.library.mkdir(parents=True, exist_ok=True)
    blocker.write_text("a file where the staging folder should be")
    card = tmp_path / "card"
    clip = "DCIM/100GOPRO/GX010001.MP4"
    (card / clip).parent.mkdir(parents=True)
    (card / clip).write_bytes(payload := os.urandom(200_000))

    async with reference_detector(desk, card):
        execution = await newest_execution(desk, "CARD-1")
        [step] = await steps_named(desk, execution.id, "request_qr_videos")
        await wait_step_state(desk, step.id, StepState.FAILED, timeout=60)
        error, logs = await desk.db.read(lambda s: (s.get(PipelineStep, step.id).error,
                                                    [line.message for line in s.get(PipelineStep, step.id).logs]))
        assert "cannot store" in error and "Not a directory" in error, error
        assert any(clip in line and "Not a directory" in line for line in logs), logs
        attempts = await desk.db.read(lambda s: s.scalar(select(ExecutionFile.copy_attempts).where(
            ExecutionFile.execution_id == execution.id, ExecutionFile.path == clip)))
        assert attempts == 3

        blocker.unlink()  # the crew fixes the disk and retries the step
        await desk.engine.retry(execution.id, step.id)
        assert await wait_execution(desk, execution.id, "succeeded", "failed") == "succeeded"
    assert Path((await imported(desk))[clip]).read_bytes() == payload


# -- 6. a request belongs to the Detector it was sent to -----------------------------------------
async def test_a_rogue_detector_cannot_act_for_another_and_a_moved_card_is_taken_over(desk):
    files = {f"DCIM/100GOPRO/GX01000{n}.MP4": os.urandom(100_000 + n) for n in range(2)}
    first, second = files
    async with WireDetector(desk.port, TOKEN, "desk-a") as reader_a, WireDetector(desk.port, TOKEN, "desk-b") as reader_b:
        await reader_a.send("sd:file_list", {"card_id": "CARD-M", "files": listing(files)})
        execution_id = (await reader_a.next("sd:file_list_ack"))["execution_id"]
        request_id = (await reader_a.next("sd:copy_request"))["request_id"]

        # B uploads under A's request: refused, nothing stored; nor can it report A's file gone.
        await reader_b.upload(request_id, first, files[first])
        answer = await reader_b.answer_to("sd:copy_error", {"request_id": request_id, "path": first,
                                                            "error": "gone", "retryable": False}, "err")
        assert answer["type"] == "error" and answer["data"]["code"] == "unknown_request"
        refusals = reader_b.received("error")
        assert [e["code"] for e in refusals] == ["unknown_request", "unknown_request"], refusals
        # B lists the same card while A holds it: told which import it is, but it takes nothing over.
        await reader_b.send("sd:file_list", {"card_id": "CARD-M", "files": listing(files)})
        assert (await reader_b.next("sd:file_list_ack"))["execution_id"] == execution_id
        marker = await reader_b.answer_to("sd:card_removed", {"card_id": ""}, "marker")  # answered after anything queued before
        assert marker["type"] == "error"
        assert reader_b.received("sd:copy_request") == [] and reader_b.received("sd:file_stored") == []
        assert await imported(desk) == {}
        state = await desk.db.read(lambda s: s.scalar(select(ExecutionFile.state).where(
            ExecutionFile.execution_id == execution_id, ExecutionFile.path == first)))
        assert state == FileState.REQUESTED  # B's copy_error changed nothing

        # A still owns it: its upload is stored.
        await reader_a.upload(request_id, first, files[first])
        await reader_a.next("sd:file_stored", lambda d: d["path"] == first)
        # The card moves: A says it left, B (standing by) gets the open request and finishes it.
        await reader_a.send("sd:card_removed", {"card_id": "CARD-M"})
        handed = await reader_b.next("sd:copy_request")
        assert [f["path"] for f in handed["files"]] == [second]
        answer = await reader_a.answer_to("sd:upload_begin", {"request_id": handed["request_id"], "path": second,
                                                              "size": len(files[second]), "offset": 0}, "late-a")
        assert answer["type"] == "error" and answer["data"]["code"] == "unknown_request"
        await reader_b.upload(handed["request_id"], second, files[second])
        await reader_b.next("sd:file_stored", lambda d: d["path"] == second)
        assert await wait_execution(desk, execution_id, "succeeded", "failed") == "succeeded"
    stored = await imported(desk)
    assert {path: Path(p).read_bytes() for path, p in stored.items()} == files
