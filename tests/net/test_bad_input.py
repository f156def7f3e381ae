"""Each bad input of issue 4 over a real WebSocket against a real in-process station: the error
or close code of docs/protocol.md, nothing changed, nothing written outside the data folder, and
the station keeps serving another connection."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app.pipeline.library import Library
from tests.net.conftest import TOKEN, connected_detector, eventually, files_outside, recv_json, url

CARD_FILE = "DCIM/100GOPRO/GX010231.MP4"
# Orchestrator calls that change state (begin_upload only asks whether a request is open).
CHANGING_CALLS = {"file_list", "file_stored", "file_rejected", "copy_error", "card_removed"}


def listing(path: str = CARD_FILE, **entry) -> dict:
    return {"type": "sd:file_list", "id": "L1", "data": {"card_id": "3A1F-77C2", "label": "GOPRO", "slot": "1",
            "files": [{"path": path, "size": 10, "modified": "2026-11-23T10:15:30Z", **entry}]}}


async def expect_error(ws, code: str, ref=None) -> dict:
    reply = await recv_json(ws)
    assert reply["type"] == "error", reply
    assert reply["data"]["code"] == code, reply
    if ref is not None:
        assert reply["data"]["ref"] == ref
    return reply["data"]


async def expect_close(ws, code: int, timeout: float = 5) -> None:
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    except ConnectionClosed:
        pass
    assert ws.close_code == code, (ws.close_code, ws.close_reason)


async def assert_untouched_and_serving(station, tmp_path: Path, calls_before: list) -> None:
    """Nothing reached the orchestrator, nothing was stored, and a fresh Detector is served."""
    changing = [c for c in station.orchestrator.calls if c[0] in CHANGING_CALLS]
    assert changing == [c for c in calls_before if c[0] in CHANGING_CALLS]
    staging = Library(station.settings.library).staging_root
    assert not staging.exists() or not any(p.is_file() for p in staging.rglob("*"))
    assert files_outside(tmp_path, station.settings.data_dir) == []
    other = await connected_detector(station, "other-desk")
    try:
        await other.send(json.dumps(listing()))
        ack = await recv_json(other)
        assert ack["type"] == "sd:file_list_ack" and ack["data"]["files_total"] == 1
    finally:
        await other.close()


BAD_TEXT = [
    pytest.param("{not json", "bad_message", None, id="invalid-json"),
    pytest.param(json.dumps({"type": "sd:teleport", "id": "x1", "data": {}}), "bad_message", "x1", id="unknown-type"),
    pytest.param(json.dumps({"type": "sd:file_list", "id": "x2", "data": {"card_id": "C"}}), "bad_message", "x2",
                 id="missing-field"),
    pytest.param(json.dumps({**listing(), "id": "x3", "data": {**listing()["data"], "colour": "red"}}), "bad_message",
                 "x3", id="extra-field"),
    pytest.param(json.dumps({"type": "sd:file_list", "id": "x4", "data": {"card_id": 12, "files": []}}), "bad_message",
                 "x4", id="mistyped-field"),
    pytest.param(json.dumps(listing(size="10")), "bad_message", "L1", id="mistyped-size"),
    pytest.param('{"type": "sd:card_removed", "data": {"card_id": "C"}, "id": ' + "9" * 5000 + "}", "bad_message",
                 None, id="integer-of-5000-digits"),
    pytest.param(json.dumps(listing(size=2**64)), "bad_message", "L1", id="size-beyond-2**53"),
    pytest.param(json.dumps(listing("/etc/passwd")), "bad_message", "L1", id="absolute-path"),
    pytest.param(json.dumps(listing("DCIM/../../../etc/passwd")), "bad_message", "L1", id="dotdot-path"),
    pytest.param(json.dumps(listing("DCIM\\100GOPRO\\A.MP4")), "bad_message", "L1", id="backslash-path"),
    pytest.param(json.dumps(listing("DCIM/A\u0000.MP4")), "bad_message", "L1", id="nul-in-path"),
    pytest.param(json.dumps(listing("DCIM/A\u0007.MP4")), "bad_message", "L1", id="control-char-in-path"),
    pytest.param(json.dumps(listing(modified="0001-01-01T00:00:00+01:00")), "bad_message", "L1",
                 id="modified-before-year-1-in-utc"),
    pytest.param(json.dumps(listing(modified="9999-12-31T23:59:59-01:00")), "bad_message", "L1",
                 id="modified-after-year-9999-in-utc"),
    pytest.param(json.dumps({"type": "sd:upload_begin", "id": "u1", "data": {
        "request_id": "r-never", "path": CARD_FILE, "size": 3, "offset": 0}}), "unknown_request", "u1",
        id="unknown-request-id"),
    pytest.param(json.dumps({"type": "sd:file_copied", "id": "u2", "data": {
        "request_id": "r-never", "path": CARD_FILE, "size": 3, "sha256": "0" * 64}}), "unknown_request", "u2",
        id="file-copied-unknown-request"),
]


@pytest.mark.parametrize("raw, code, ref", BAD_TEXT)
async def test_bad_message_gets_its_error_and_changes_nothing(station, tmp_path, raw, code, ref):
    ws = await connected_detector(station)
    before = list(station.orchestrator.calls)
    await ws.send(raw)
    await expect_error(ws, code, ref)
    # The connection stays open and usable.
    await ws.send(json.dumps(listing()))
    assert (await recv_json(ws))["type"] == "sd:file_list_ack"
    station.orchestrator.calls[:] = [c for c in station.orchestrator.calls if c[0] != "file_list"]
    await ws.close()
    await assert_untouched_and_serving(station, tmp_path, before)


async def test_one_bad_path_means_nothing_of_that_list_is_processed(station, tmp_path):
    ws = await connected_detector(station)
    message = listing()
    message["data"]["files"].append({"path": "../escape.MP4", "size": 1, "modified": "2026-11-23T10:15:30Z"})
    await ws.send(json.dumps(message))
    error = await expect_error(ws, "bad_message", "L1")
    assert "escape" in error["message"]
    assert station.orchestrator.args_of("file_list") == []
    await ws.close()
    await assert_untouched_and_serving(station, tmp_path, [])


async def test_text_message_over_4_mib_closes_1009(station, tmp_path):
    ws = await connected_detector(station)
    await ws.send(json.dumps(listing(label="x" * (4 * 1024 * 1024))))
    await expect_close(ws, 1009)
    await assert_untouched_and_serving(station, tmp_path, [])


async def test_binary_frame_larger_than_chunk_size_closes_1009(station, tmp_path):
    ws = await connected_detector(station)
    welcome_chunk = station.settings.chunk_size
    station.orchestrator.issue("r-1", CARD_FILE)
    await ws.send(json.dumps({"type": "sd:upload_begin", "data": {
        "request_id": "r-1", "path": CARD_FILE, "size": welcome_chunk * 4, "offset": 0}}))
    await ws.send(b"\0" * (welcome_chunk + 1))
    await expect_close(ws, 1009)
    await eventually(lambda: "detector_disconnected" in station.orchestrator.names())  # session fully closed
    assert station.orchestrator.args_of("file_stored") == []
    assert files_outside(tmp_path, station.settings.data_dir) == []
    assert not station.orchestrator.staged(CARD_FILE).exists()
    await assert_untouched_and_serving(station, tmp_path, list(station.orchestrator.calls))


async def test_binary_frames_with_no_upload_begin(station, tmp_path):
    ws = await connected_detector(station)
    await ws.send(b"stray bytes")
    error = await expect_error(ws, "bad_message")
    assert "upload_begin" in error["message"]
    await ws.close()
    await assert_untouched_and_serving(station, tmp_path, [])


async def test_more_bytes_than_announced_is_rejected_and_deleted(station, tmp_path):
    ws = await connected_detector(station)
    station.orchestrator.issue("r-1", CARD_FILE)
    await ws.send(json.dumps({"type": "sd:upload_begin", "data": {
        "request_id": "r-1", "path": CARD_FILE, "size": 4, "offset": 0}}))
    await ws.send(b"abc")
    await ws.send(b"de")  # one byte too many
    replies = [await recv_json(ws), await recv_json(ws)]
    assert replies[0] == {"type": "sd:file_rejected", "data": {
        "request_id": "r-1", "path": CARD_FILE, "reason": replies[0]["data"]["reason"]}}
    assert replies[1]["type"] == "error" and replies[1]["data"]["code"] == "too_large"
    # The rest of that upload is dropped quietly; the connection goes on.
    await ws.send(b"more")
    await ws.send(json.dumps({"type": "sd:file_copied", "data": {
        "request_id": "r-1", "path": CARD_FILE, "size": 4, "sha256": "0" * 64}}))
    await ws.send(json.dumps(listing()))
    assert (await recv_json(ws))["type"] == "sd:file_list_ack"
    assert station.orchestrator.args_of("file_rejected")[0][:2] == ("r-1", CARD_FILE)
    assert station.orchestrator.args_of("file_stored") == []
    partial = station.orchestrator.staged(CARD_FILE)
    assert not partial.exists() and not partial.with_name(partial.name + ".partial").exists()
    await ws.close()
    assert files_outside(tmp_path, station.settings.data_dir) == []


async def test_wrong_sha256_is_rejected_nothing_stored(station, tmp_path):
    ws = await connected_detector(station)
    station.orchestrator.issue("r-1", CARD_FILE)
    await ws.send(json.dumps({"type": "sd:upload_begin", "data": {
        "request_id": "r-1", "path": CARD_FILE, "size": 3, "offset": 0}}))
    await ws.send(b"abc")
    await ws.send(json.dumps({"type": "sd:file_copied", "data": {
        "request_id": "r-1", "path": CARD_FILE, "size": 3, "sha256": hashlib.sha256(b"abd").hexdigest()}}))
    reply = await recv_json(ws)
    assert reply["type"] == "sd:file_rejected" and "sha256" in reply["data"]["reason"]
    assert station.orchestrator.args_of("file_rejected") == [("r-1", CARD_FILE, reply["data"]["reason"])]
    assert station.orchestrator.args_of("file_stored") == []
    assert not any(p.is_file() for p in Library(station.settings.library).staging_root.rglob("*"))
    await ws.close()
    await assert_untouched_and_serving(station, tmp_path, list(station.orchestrator.calls))


@pytest.mark.parametrize("path", ["/detector", "/ui"])
@pytest.mark.parametrize("token", [None, "wrong-token"])
async def test_wrong_or_missing_token_closes_4401(station, tmp_path, token, path):
    ws = await connect(url(station, path), compression=None)
    data = {"role": "detector", "detector_id": "desk-left"} if path == "/detector" else {"role": "ui"}
    if token:
        data["token"] = token
    await ws.send(json.dumps({"type": "hello", "data": data}))
    await expect_error(ws, "unauthorized")
    await expect_close(ws, 4401)
    assert station.link.count() == 0
    await assert_untouched_and_serving(station, tmp_path, [])


async def test_no_hello_in_time_closes_4408(station, tmp_path):
    station.net.hello_timeout = 0.3  # the protocol's 10 s, shortened for the test
    ws = await connect(url(station), compression=None)
    await expect_close(ws, 4408)
    await assert_untouched_and_serving(station, tmp_path, [])


async def test_a_second_connection_with_the_same_id_replaces_the_first_4409(station, tmp_path):
    first = await connected_detector(station, "desk-left")
    second = await connected_detector(station, "desk-left")
    await expect_close(first, 4409)
    assert station.link.connected() == ["desk-left"]
    # Copy requests go to the newer connection.
    station.orchestrator.issue("r-2", CARD_FILE)
    assert station.link.send_copy_request("desk-left", {
        "request_id": "r-2", "card_id": "C", "mode": "upload",
        "files": [{"path": CARD_FILE, "size": 3, "offset": 0}], "dest_dir": None})
    assert (await recv_json(second))["type"] == "sd:copy_request"
    await second.close()


async def test_dest_outside_dest_dir_is_refused_and_the_file_left_alone(station, tmp_path):
    dest_dir = tmp_path / "data" / "shared-in"
    dest_dir.mkdir(parents=True)
    outside = tmp_path / "data" / "elsewhere.MP4"
    outside.write_bytes(b"abc")
    (dest_dir / "link.MP4").symlink_to(outside)  # a symlink inside that points outside
    ws = await connected_detector(station)
    station.orchestrator.issue("r-3", CARD_FILE)
    assert station.link.send_copy_request("desk-left", {
        "request_id": "r-3", "card_id": "C", "mode": "shared_path",
        "files": [{"path": CARD_FILE, "size": 3, "offset": 0}], "dest_dir": str(dest_dir)})
    assert (await recv_json(ws))["type"] == "sd:copy_request"
    sha = hashlib.sha256(b"abc").hexdigest()
    for dest in (str(outside), str(dest_dir / ".." / "elsewhere.MP4"), str(dest_dir / "link.MP4")):
        await ws.send(json.dumps({"type": "sd:file_copied", "id": "d", "data": {
            "request_id": "r-3", "path": CARD_FILE, "size": 3, "sha256": sha, "dest": dest}}))
        error = await expect_error(ws, "bad_message", "d")
        assert "dest_dir" in error["message"]
    assert outside.read_bytes() == b"abc"
    assert station.orchestrator.args_of("begin_upload") == []
    await ws.close()
    await assert_untouched_and_serving(station, tmp_path, [])


async def test_detector_disconnecting_mid_upload_keeps_the_partial_for_resume(station, tmp_path):
    ws = await connected_detector(station)
    station.orchestrator.issue("r-4", CARD_FILE)
    payload = bytes(range(256)) * 1000  # 256,000 bytes
    await ws.send(json.dumps({"type": "sd:upload_begin", "data": {
        "request_id": "r-4", "path": CARD_FILE, "size": len(payload), "offset": 0}}))
    await ws.send(payload[:100_000][:65536])
    await ws.send(payload[65536:100_000])
    await ws.close()
    # The session keeps what it received before it reports the Detector gone.
    await eventually(lambda: "detector_disconnected" in station.orchestrator.names())
    final = station.orchestrator.staged(CARD_FILE)
    partial = final.with_name(final.name + ".partial")
    assert not final.exists(), "an incomplete file must never reach its final name"
    assert partial.read_bytes() == payload[:100_000]
    assert station.orchestrator.args_of("file_stored") == []
    assert station.orchestrator.names()[-1] == "detector_disconnected"
    assert files_outside(tmp_path, station.settings.data_dir) == []

    # Reconnect and resume from the bytes the station holds; the whole file verifies.
    ws = await connected_detector(station)
    await ws.send(json.dumps({"type": "sd:upload_begin", "data": {
        "request_id": "r-4", "path": CARD_FILE, "size": len(payload), "offset": 100_000}}))
    for start in range(100_000, len(payload), 65536):
        await ws.send(payload[start:start + 65536])
    await ws.send(json.dumps({"type": "sd:file_copied", "data": {
        "request_id": "r-4", "path": CARD_FILE, "size": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}}))
    assert (await recv_json(ws))["type"] == "sd:file_stored"
    assert final.read_bytes() == payload and not partial.exists()
    assert station.orchestrator.args_of("begin_upload")[-1] == ("r-4", CARD_FILE, len(payload), 100_000)
    assert station.net._partial_locks == {}  # no lock left behind by the dropped connection
    await ws.close()


async def test_resume_from_more_bytes_than_held_is_a_conflict(station, tmp_path):
    ws = await connected_detector(station)
    station.orchestrator.issue("r-5", CARD_FILE)
    await ws.send(json.dumps({"type": "sd:upload_begin", "id": "b", "data": {
        "request_id": "r-5", "path": CARD_FILE, "size": 100, "offset": 50}}))
    await expect_error(ws, "conflict", "b")
    await ws.send(b"x" * 50)  # that upload's frames are dropped quietly
    await ws.send(json.dumps(listing()))
    assert (await recv_json(ws))["type"] == "sd:file_list_ack"
    assert not station.orchestrator.staged(CARD_FILE).exists()
    await ws.close()


async def test_a_station_that_cannot_write_says_internal_and_keeps_serving(station, tmp_path):
    blocked = station.orchestrator.staged(CARD_FILE).parent
    blocked.parent.mkdir(parents=True)
    blocked.write_text("a file where the upload's folder should be")
    ws = await connected_detector(station)
    station.orchestrator.issue("r-6", CARD_FILE)
    await ws.send(json.dumps({"type": "sd:upload_begin", "id": "b", "data": {
        "request_id": "r-6", "path": CARD_FILE, "size": 3, "offset": 0}}))
    await expect_error(ws, "internal", "b")
    await ws.send(b"abc")  # dropped quietly with the refused upload
    await ws.send(json.dumps({"type": "sd:file_copied", "data": {
        "request_id": "r-6", "path": CARD_FILE, "size": 3, "sha256": hashlib.sha256(b"abc").hexdigest()}}))
    await ws.send(json.dumps(listing()))
    assert (await recv_json(ws))["type"] == "sd:file_list_ack"
    assert station.orchestrator.args_of("file_stored") == []
    assert files_outside(tmp_path, station.settings.data_dir) == []
    await ws.close()


async def test_a_peer_that_asks_but_never_reads_is_closed_not_buffered_forever(station, tmp_path, monkeypatch):
    monkeypatch.setattr("app.net.connection.MAX_OUTBOX", 50)
    station.engine.executions = [{"id": n, "state": "succeeded", "steps": [], "note": "x" * 1000}
                                 for n in range(1, 201)]  # about 200 kB per answer
    ws = await connect(url(station, "/ui"), max_queue=1)
    await ws.send(json.dumps({"type": "hello", "data": {"role": "ui", "token": TOKEN}}))
    request = json.dumps({"type": "pipeline:list", "data": {"limit": 200}})
    try:
        for _ in range(300):
            await asyncio.wait_for(ws.send(request), 5)
    except ConnectionClosed:
        pass
    await expect_close(ws, 1008, timeout=30)
    await assert_untouched_and_serving(station, tmp_path, [])
