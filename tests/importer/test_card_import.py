"""The card_import pipeline on a generated GoPro card, in a real station (SQLite or Postgres,
embedded or external Redis, real workers, real H.264 clips), with a loopback Detector."""

from __future__ import annotations

import json
import os
import shutil
from datetime import timedelta
from pathlib import Path

import av
import pytest
from sqlalchemy import func, select

from app.core_events import TransferRequested
from app.db.models import ExecutionFile, FileState, ImportedFile, Jump, PipelineExecution, StepState, TransferRequest
from app.media.sample_card import write_sample_card
from app.pipeline.free_space import free_bytes
from tests.importer.loopback import (
    LoopbackDetector,
    Recorder,
    start_station,
    steps_named,
    wait_execution,
    wait_step_state,
)

DAY = "2026-11-23"


@pytest.fixture(scope="module")
def card(tmp_path_factory):
    return write_sample_card(tmp_path_factory.mktemp("card"))


def threshold(card) -> int:
    return (card.largest_qr_clip + card.smallest_jump_clip) // 2


CAMERA = "GOPRO-ANA"  # the card's label: the sample clips carry no camera serial


def folder_of(library: Path, passenger) -> Path:
    return library / DAY / f"{passenger.booking_id} {passenger.passenger_name}"


def duration_s(path: Path) -> float:
    with av.open(str(path)) as container:
        return container.duration / 1_000_000


@pytest.fixture(params=["sqlite+embedded-redis", "postgres+external-redis"])
async def station(request, tmp_path, card, redis_prefix):
    if request.param.startswith("postgres"):
        db_url, redis_url = request.getfixturevalue("pg_url"), request.getfixturevalue("external_redis_url")
    else:
        db_url = redis_url = None
    station = await start_station(tmp_path / "data", small_file_bytes=threshold(card), db_url=db_url,
                                  redis_url=redis_url, redis_prefix=redis_prefix)
    yield station
    await station.stop()


async def import_card(station, card, detector: LoopbackDetector, recorder: Recorder | None = None):
    station.orchestrator.link = detector
    if recorder:
        station.bus.subscribe(recorder)
    return await station.orchestrator.file_list("desk-left", "3A1F-77C2", "GOPRO-ANA", "1", card.file_list())


async def test_card_is_filed_per_passenger_with_a_rendered_video(station, card):
    detector = LoopbackDetector(card.root, station)
    recorder = Recorder()
    ack = await import_card(station, card, detector, recorder)
    imported_kinds = [f for f in card.files if f.kind not in ("proxy", "thumbnail")]
    assert (ack.files_total, ack.files_new) == (len(card.files), len(imported_kinds))
    assert await wait_execution(station, ack.execution_id, "succeeded", "failed") == "succeeded"

    # Small clips first, in their own request, in time order; proxies never asked for.
    qr_clips = [p.qr_clip for p in card.passengers]
    assert detector.requested_paths[0] == qr_clips
    requested = [path for paths in detector.requested_paths for path in paths]
    assert sorted(requested) == sorted(f.path for f in imported_kinds)
    assert not set(requested) & set(card.proxies)

    library = station.settings.library
    for passenger in card.passengers:
        folder = folder_of(library, passenger)
        expected = {Path(p).name for p in passenger.clips + passenger.photos}
        assert expected <= {p.name for p in (folder / CAMERA).iterdir()}
        for clip in passenger.clips:  # every byte as on the card
            assert (folder / CAMERA / Path(clip).name).read_bytes() == (card.root / clip).read_bytes()
        document = json.loads((folder / "passenger.json").read_text())
        assert document["booking_id"] == passenger.booking_id
        assert document["passenger"]["instructor"] == "J. Berg"
        clips_meta = [c for c in document["clips"] if c["card_path"] in passenger.clips]
        assert all(c["metadata"] and c["metadata"].get("duration_s") for c in clips_meta)
        video = folder / f"{passenger.booking_id} {passenger.passenger_name}.mp4"
        expected_s = sum(duration_s(card.root / c) for c in passenger.clips)
        assert duration_s(video) == pytest.approx(expected_s, abs=0.15)
    unassigned = library / DAY / "_unassigned" / "3A1F-77C2"
    assert sorted(p.name for p in unassigned.iterdir() if p.suffix == ".MP4") == sorted(Path(p).name for p in card.unassigned)
    assert not (library / ".ingest-staging" / str(ack.execution_id)).exists()

    def records(session):
        jumps = session.scalars(select(Jump).where(Jump.execution_id == ack.execution_id)).all()
        imported = session.scalar(select(func.count()).select_from(ImportedFile))
        return {j.booking_id: j.passenger_name for j in jumps}, imported

    jumps, imported = await station.db.run(records)
    assert jumps == {None: None, **{p.booking_id: p.passenger_name for p in card.passengers}}
    assert imported == len(imported_kinds)

    types = recorder.types("pipeline:")  # the card's state (card:status) follows the import's end
    assert types[0] == "pipeline:started"
    assert types.count("pipeline:qr_decoded") == len(card.passengers)
    assert types[-1] == "pipeline:completed"
    completed = next(e for e in reversed(recorder.events) if e.type == "pipeline:completed").data
    assert completed["files_imported"] == len(imported_kinds)
    assert {j["passenger"]["booking_id"] for j in completed["jumps"] if j["passenger"]} == {p.booking_id for p in card.passengers}


async def test_second_insertion_requests_nothing_new(station, card):
    first = LoopbackDetector(card.root, station)
    ack = await import_card(station, card, first)
    await wait_execution(station, ack.execution_id, "succeeded")
    again = LoopbackDetector(card.root, station)
    second = await import_card(station, card, again)
    assert second.execution_id != ack.execution_id
    assert second.files_new == 0
    assert await wait_execution(station, second.execution_id, "succeeded", "failed") == "succeeded"
    assert again.requests == []

    def skipped(session):
        rows = session.scalars(select(ExecutionFile).where(ExecutionFile.execution_id == second.execution_id)).all()
        stored = dict(session.execute(select(ImportedFile.source_path, ImportedFile.stored_path)).all())
        return {f.path: f.error for f in rows if f.path in stored}, stored

    errors, stored = await station.db.run(skipped)
    assert errors and all(error == f"imported before as {stored[path]}" for path, error in errors.items())


async def test_card_listed_again_while_waiting_resumes_the_same_import(station, card):
    detector = LoopbackDetector(card.root, station, online=False)  # reader unplugged from the LAN
    ack = await import_card(station, card, detector)
    [request_step] = await steps_named(station, ack.execution_id, "request_qr_videos")
    await wait_step_state(station, request_step.id, StepState.WAITING)
    detector.online = True
    again = await station.orchestrator.file_list("desk-right", "3A1F-77C2", "GOPRO-ANA", "2", card.file_list())
    assert again.execution_id == ack.execution_id
    assert await wait_execution(station, ack.execution_id, "succeeded", "failed") == "succeeded"


async def test_a_file_gone_from_the_card_is_set_aside_and_not_recorded(station, card):
    gone = card.passengers[0].clips[-1]
    detector = LoopbackDetector(card.root, station, behaviour=lambda path: "missing" if path == gone else "ok")
    ack = await import_card(station, card, detector)
    assert await wait_execution(station, ack.execution_id, "succeeded", "failed") == "succeeded"
    state, recorded = await station.db.run(lambda s: (
        s.scalar(select(ExecutionFile.state).where(ExecutionFile.execution_id == ack.execution_id,
                                                    ExecutionFile.path == gone)),
        s.scalar(select(func.count()).select_from(ImportedFile).where(ImportedFile.source_path == gone))))
    assert (state, recorded) == (FileState.MISSING, 0)
    [session_step] = [s for s in await steps_named(station, ack.execution_id, "request_session_videos")
                      if s.output and s.output["missing"]]
    logs = await station.db.run(lambda s: [line.message for line in s.get(type(session_step), session_step.id).logs])
    assert any(gone in line and "set aside" in line for line in logs)


async def test_three_rejected_copies_fail_the_step_and_retry_fetches_again(station, card):
    bad = card.passengers[1].qr_clip
    broken = True
    detector = LoopbackDetector(card.root, station, behaviour=lambda path: "bad_hash" if broken and path == bad else "ok")
    ack = await import_card(station, card, detector)
    assert await wait_execution(station, ack.execution_id, "failed", "succeeded") == "failed"
    assert sum(paths.count(bad) for paths in detector.requested_paths) == 3
    [step] = await steps_named(station, ack.execution_id, "request_qr_videos")
    assert step.state == StepState.FAILED and bad in step.error
    assert (await steps_named(station, ack.execution_id, "assign_jumps"))[0].state == StepState.UPSTREAM_FAILED

    broken = False  # the crew reseats the card, then right-clicks "Retry from here"
    await station.engine.retry(ack.execution_id, step.id)
    assert await wait_execution(station, ack.execution_id, "succeeded", "failed") == "succeeded"
    assert (folder_of(station.settings.library, card.passengers[1]) / CAMERA / Path(bad).name).exists()


async def test_a_library_disk_without_room_stops_the_import_before_anything_is_asked_and_retry_goes_on(station, card):
    # The disk as good as full: what is free is less than the reserve the station keeps.
    station.settings.library_reserve_bytes = free_bytes(station.settings.library) + 10**12
    detector = LoopbackDetector(card.root, station)
    ack = await import_card(station, card, detector)
    assert await wait_execution(station, ack.execution_id, "failed", "succeeded") == "failed"
    [step] = await steps_named(station, ack.execution_id, "request_qr_videos")
    assert step.state == StepState.FAILED
    assert "library's disk" in step.error and "Free some space" in step.error and "Traceback" not in step.error
    assert detector.requests == []  # nothing asked for, nothing written
    assert not [p for p in station.settings.library.rglob("*") if p.is_file() and not p.name.startswith(".ingest")]
    card_state = await station.db.read(lambda s: s.get(PipelineExecution, ack.execution_id).state)
    assert card_state == "failed"

    station.settings.library_reserve_bytes = 0  # the crew frees space, then right-clicks "Retry"
    await station.engine.retry(ack.execution_id, step.id)
    assert await wait_execution(station, ack.execution_id, "succeeded", "failed") == "succeeded"
    for passenger in card.passengers:
        assert (folder_of(station.settings.library, passenger) / f"{passenger.booking_id} {passenger.passenger_name}.mp4").is_file()


async def test_failed_render_is_retried_from_that_step(station, card):
    passenger = card.passengers[0]
    folder = folder_of(station.settings.library, passenger)
    blocker = folder / f"{passenger.booking_id} {passenger.passenger_name}.mp4"
    blocker.mkdir(parents=True)  # a folder where the video should go: the render cannot finish
    leftover = folder / f"{blocker.name}.4242-c0ffee.partial.mp4"  # what a killed render leaves
    leftover.write_bytes(b"half a video")
    notes = folder / "notes from the crew.txt"
    notes.write_text("not ours to delete")
    detector = LoopbackDetector(card.root, station)
    ack = await import_card(station, card, detector)
    assert await wait_execution(station, ack.execution_id, "failed", "succeeded") == "failed"
    renders = await steps_named(station, ack.execution_id, "render_final")
    [failed] = [r for r in renders if r.state == StepState.FAILED]
    others_before = {r.id: r.finished_at for r in renders if r.id != failed.id}
    fetched_before = len(detector.requests)

    blocker.rmdir()
    await station.engine.retry(ack.execution_id, failed.id)
    assert await wait_execution(station, ack.execution_id, "succeeded", "failed") == "succeeded"
    assert blocker.is_file() and duration_s(blocker) > 0
    assert not leftover.exists() and notes.read_text() == "not ours to delete"
    after = {r.id: r.finished_at for r in await steps_named(station, ack.execution_id, "render_final") if r.id != failed.id}
    assert after == others_before  # the other passenger's render did not run again
    assert len(detector.requests) == fetched_before  # nothing fetched again


async def test_crew_assigns_an_unassigned_clip_to_a_passenger(station, card):
    detector = LoopbackDetector(card.root, station)
    ack = await import_card(station, card, detector)
    await wait_execution(station, ack.execution_id, "succeeded")
    clip = card.unassigned[0]

    def ids(session):
        file_id = session.scalar(select(ExecutionFile.id).where(ExecutionFile.execution_id == ack.execution_id,
                                                                ExecutionFile.path == clip))
        jump_id = session.scalar(select(Jump.id).where(Jump.execution_id == ack.execution_id,
                                                       Jump.booking_id == card.passengers[0].booking_id))
        return file_id, jump_id

    file_id, jump_id = await station.db.run(ids)
    await station.orchestrator.assign_clips(ack.execution_id, [file_id], jump_id=jump_id)
    folder = folder_of(station.settings.library, card.passengers[0])
    assert (folder / CAMERA / Path(clip).name).read_bytes() == (card.root / clip).read_bytes()
    assert not (station.settings.library / DAY / "_unassigned" / "3A1F-77C2" / Path(clip).name).exists()
    document = json.loads((folder / "passenger.json").read_text())
    assert clip in [c["card_path"] for c in document["clips"]]
    stored = await station.db.run(lambda s: s.scalar(select(ImportedFile.stored_path).where(ImportedFile.source_path == clip)))
    assert Path(stored) == folder / CAMERA / Path(clip).name
    # Her video is rendered again with it (a passenger_render import of its own).
    [render] = await station.db.run(lambda s: s.scalars(select(PipelineExecution.id).where(
        PipelineExecution.pipeline == "passenger_render")).all())
    assert await wait_execution(station, render, "succeeded", "failed") == "succeeded"
    ana = card.passengers[0]
    video = folder / f"{ana.booking_id} {ana.passenger_name}.mp4"
    assert duration_s(video) == pytest.approx(sum(duration_s(card.root / c) for c in (*ana.clips, clip)), abs=0.2)


async def test_a_clip_that_is_not_a_video_is_set_aside_and_the_rest_imports(station, card, tmp_path):
    # A broken file inside Ana's jump (a camera that lost power while writing, say).
    broken_card = tmp_path / "broken-card"
    shutil.copytree(card.root, broken_card)
    ana = card.passengers[0]
    junk = "DCIM/100GOPRO/GX019999.MP4"
    (broken_card / junk).write_bytes(os.urandom(40_000))
    when = next(f.modified for f in card.files if f.path == ana.clips[1]) + timedelta(seconds=10)
    os.utime(broken_card / junk, (when.timestamp(), when.timestamp()))
    listing = card.file_list() + [{"path": junk, "size": 40_000, "modified": when.strftime("%Y-%m-%dT%H:%M:%SZ")}]

    station.orchestrator.link = LoopbackDetector(broken_card, station)
    ack = await station.orchestrator.file_list("desk-left", "BROKEN-1", "GOPRO", "1", listing)
    assert await wait_execution(station, ack.execution_id, "succeeded", "failed") == "succeeded"

    folder = folder_of(station.settings.library, ana)
    assert (folder / "GOPRO" / Path(junk).name).read_bytes() == (broken_card / junk).read_bytes()  # kept, as copied
    video = folder / f"{ana.booking_id} {ana.passenger_name}.mp4"
    assert duration_s(video) == pytest.approx(sum(duration_s(card.root / c) for c in ana.clips), abs=0.15)
    document = json.loads((folder / "passenger.json").read_text())
    [entry] = [c for c in document["clips"] if c["card_path"] == junk]
    assert "error" in entry["metadata"]
    [decode] = [s for s in await steps_named(station, ack.execution_id, "decode_qr") if s.key == junk]
    assert decode.state == StepState.SUCCEEDED and decode.output["passenger"] is None


async def test_a_copy_request_whose_message_was_lost_is_still_sent_and_the_import_completes(station, card):
    # As from a worker on another machine whose `transfer:requested` message Redis pub/sub
    # dropped: the rows are written, the message never arrives.
    pool = station.engine.pool
    forward = pool.emit
    pool.emit = lambda event: None if isinstance(event, TransferRequested) else forward(event)
    detector = LoopbackDetector(card.root, station)
    recorder = Recorder()
    ack = await import_card(station, card, detector, recorder)
    assert await wait_execution(station, ack.execution_id, "succeeded", "failed") == "succeeded"
    assert "transfer:requested" not in recorder.types()
    requests = await station.db.read(lambda s: s.execute(
        select(TransferRequest.id, TransferRequest.sent_to, TransferRequest.sent_at)
        .where(TransferRequest.execution_id == ack.execution_id)).all())
    # Each sent once: the reconciler never sends a request again on the connection it went out on.
    assert requests and sorted(r.id for r in requests) == sorted(r["request_id"] for r in detector.requests)
    assert all(r.sent_to == "loopback" and r.sent_at is not None for r in requests)
