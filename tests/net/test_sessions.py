"""Good paths over real WebSockets: listing, verified uploads, shared-path copies, the UI channel,
and `GET /api/executions`."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import urllib.error
import urllib.request
from datetime import UTC, datetime

import pytest
from websockets.asyncio.client import connect

from app.net.errors import refusal_error
from app.net.protocol import ERROR_CODES, INTERNAL
from app.refusals import MoveRefused, NotFound, PassengerNotFound, Refused, RetryRefused
from tests.net.conftest import TOKEN, connected_detector, files_outside, recv_json, url

CARD_FILE = "DCIM/100GOPRO/GX010231.MP4"


async def ui_client(station):
    ws = await connect(url(station, "/ui"))
    await ws.send(json.dumps({"type": "hello", "data": {"role": "ui", "token": TOKEN, "name": "test"}}))
    assert (await recv_json(ws))["type"] == "welcome"
    return ws


async def upload(ws, request_id: str, path: str, payload: bytes, chunk: int, offset: int = 0) -> None:
    await ws.send(json.dumps({"type": "sd:upload_begin", "data": {
        "request_id": request_id, "path": path, "size": len(payload), "offset": offset}}))
    for start in range(offset, len(payload), chunk):
        await ws.send(payload[start:start + chunk])
    await ws.send(json.dumps({"type": "sd:file_copied", "data": {
        "request_id": request_id, "path": path, "size": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}}))


async def test_welcome_announces_the_protocol_and_chunk_size(station):
    ws = await connect(url(station), compression=None)
    await ws.send(json.dumps({"type": "hello", "id": "h1", "data": {
        "role": "detector", "detector_id": "desk-left", "token": TOKEN, "capabilities": ["upload"]}}))
    assert await recv_json(ws) == {"type": "welcome", "data": {
        "station_id": station.settings.station_id, "version": station.health()["version"], "protocol": 1,
        "chunk_size": station.settings.chunk_size, "ref": "h1"}}
    await ws.close()


async def test_listing_is_acked_with_the_orchestrators_counts(station):
    ws = await connected_detector(station)
    await ws.send(json.dumps({"type": "sd:file_list", "id": "c0ffee-01", "data": {
        "card_id": "3A1F-77C2", "label": "GOPRO-ANA", "slot": "1",
        "files": [{"path": CARD_FILE, "size": 48211456, "modified": "2026-11-23T10:15:30Z"}]}}))
    ack = await recv_json(ws)
    assert ack == {"type": "sd:file_list_ack", "data": {
        "card_id": "3A1F-77C2", "execution_id": 7, "files_total": 1, "files_new": 1, "ref": "c0ffee-01"}}
    # The time reaches the orchestrator as sent and parsed (once, by the net layer).
    assert station.orchestrator.args_of("file_list") == [("desk-left", "3A1F-77C2", "GOPRO-ANA", "1", [
        {"path": CARD_FILE, "size": 48211456, "modified": "2026-11-23T10:15:30Z",
         "modified_at": datetime(2026, 11, 23, 10, 15, 30, tzinfo=UTC)}])]
    assert station.health()["detectors"] == 1
    await ws.close()


async def test_the_ack_goes_out_before_the_copy_requests_a_listing_causes(station):
    station.orchestrator.link = station.link
    station.orchestrator.resend_on_list = [{"request_id": "r-open", "card_id": "3A1F-77C2", "mode": "upload",
                                            "files": [{"path": CARD_FILE, "size": 10, "offset": 4}], "dest_dir": None}]
    ws = await connected_detector(station)
    await ws.send(json.dumps({"type": "sd:file_list", "data": {
        "card_id": "3A1F-77C2", "files": [{"path": CARD_FILE, "size": 10, "modified": "2026-11-23T10:15:30Z"}]}}))
    first, second = await recv_json(ws), await recv_json(ws)
    assert first["type"] == "sd:file_list_ack"
    assert second["type"] == "sd:copy_request" and second["data"]["files"][0]["offset"] == 4
    await ws.close()


async def test_upload_is_verified_moved_into_place_and_reported_to_every_ui_client(station, tmp_path):
    ui_a, ui_b = await ui_client(station), await ui_client(station)
    ws = await connected_detector(station)
    payload = os.urandom(300_000)
    station.orchestrator.issue("r-81", CARD_FILE)
    assert station.link.send_copy_request("desk-left", {
        "request_id": "r-81", "card_id": "3A1F-77C2", "mode": "upload",
        "files": [{"path": CARD_FILE, "size": len(payload), "offset": 0}], "dest_dir": None})
    request = await recv_json(ws)
    assert request["type"] == "sd:copy_request" and request["data"]["files"][0]["path"] == CARD_FILE
    await upload(ws, "r-81", CARD_FILE, payload, station.settings.chunk_size)
    assert await recv_json(ws) == {"type": "sd:file_stored", "data": {"request_id": "r-81", "path": CARD_FILE}}

    final = station.orchestrator.staged(CARD_FILE)
    assert final.read_bytes() == payload
    assert station.orchestrator.args_of("file_stored") == [
        ("r-81", CARD_FILE, str(final), hashlib.sha256(payload).hexdigest(), len(payload))]
    assert files_outside(tmp_path, station.settings.data_dir) == []

    for ui in (ui_a, ui_b):
        events = []
        while True:
            try:
                events.append(await recv_json(ui, timeout=0.5))
            except TimeoutError:
                break
        kinds = [e["type"] for e in events]
        assert kinds[0] == "detector:connected" and events[0]["data"]["detector_id"] == "desk-left"
        progress = [e["data"] for e in events if e["type"] == "transfer:progress"]
        assert progress[-1]["bytes"] == progress[-1]["total"] == len(payload)
        assert all(p["execution_id"] == 7 and p["request_id"] == "r-81" and p["path"] == CARD_FILE and p["ts"]
                   for p in progress)
        assert [p["bytes"] for p in progress] == sorted(p["bytes"] for p in progress)
    for ws_ in (ws, ui_a, ui_b):
        await ws_.close()


async def test_progress_events_are_at_most_four_a_second_per_file(station):
    seen = []
    station.bus.subscribe(lambda e: seen.append((asyncio.get_running_loop().time(), e)) if e.type == "transfer:progress" else None)
    ws = await connected_detector(station)
    payload = os.urandom(2_000_000)
    station.orchestrator.issue("r-1", CARD_FILE)
    await ws.send(json.dumps({"type": "sd:upload_begin", "data": {
        "request_id": "r-1", "path": CARD_FILE, "size": len(payload), "offset": 0}}))
    for start in range(0, len(payload), 65536):  # slowed down: about 1.2 s in all
        await ws.send(payload[start:start + 65536])
        await asyncio.sleep(0.04)
    await ws.send(json.dumps({"type": "sd:file_copied", "data": {
        "request_id": "r-1", "path": CARD_FILE, "size": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}}))
    assert (await recv_json(ws))["type"] == "sd:file_stored"  # the final progress event went out before
    times = [t for t, _ in seen]
    assert len(times) >= 4
    assert max(sum(1 for t in times if start <= t < start + 1.0) for start in times) <= 4
    assert seen[-1][1].data["bytes"] == len(payload)
    assert [e.data["bytes"] for _, e in seen] == sorted(e.data["bytes"] for _, e in seen)
    await ws.close()


async def test_copy_error_and_card_removed_reach_the_orchestrator(station):
    ws = await connected_detector(station)
    station.orchestrator.issue("r-2", CARD_FILE)
    await ws.send(json.dumps({"type": "sd:copy_error", "data": {
        "request_id": "r-2", "path": CARD_FILE, "error": "read error at 0x3f000", "retryable": True}}))
    await ws.send(json.dumps({"type": "sd:card_removed", "data": {"card_id": "3A1F-77C2"}}))
    await ws.send(json.dumps({"type": "sd:copy_error", "id": "e", "data": {
        "request_id": "r-never", "path": CARD_FILE, "error": "x", "retryable": False}}))
    error = await recv_json(ws)
    assert error["data"]["code"] == "unknown_request" and error["data"]["ref"] == "e"
    assert station.orchestrator.args_of("copy_error")[0] == ("r-2", CARD_FILE, "read error at 0x3f000", True)
    assert station.orchestrator.args_of("card_removed") == [("desk-left", "3A1F-77C2")]
    await ws.close()


async def test_shared_path_copy_inside_dest_dir_is_verified_and_moved(station, tmp_path):
    dest_dir = tmp_path / "data" / "shared-in"
    copied = dest_dir / CARD_FILE  # exactly dest_dir/<path>
    copied.parent.mkdir(parents=True)
    copied.write_bytes(b"shared bytes")
    ws = await connected_detector(station)
    station.orchestrator.issue("r-9", CARD_FILE)
    station.link.send_copy_request("desk-left", {
        "request_id": "r-9", "card_id": "C", "mode": "shared_path",
        "files": [{"path": CARD_FILE, "size": 12, "offset": 0}], "dest_dir": str(dest_dir)})
    assert (await recv_json(ws))["data"]["mode"] == "shared_path"
    await ws.send(json.dumps({"type": "sd:file_copied", "data": {
        "request_id": "r-9", "path": CARD_FILE, "size": 12, "sha256": hashlib.sha256(b"shared bytes").hexdigest(),
        "dest": str(copied)}}))
    assert (await recv_json(ws))["type"] == "sd:file_stored"
    assert station.orchestrator.staged(CARD_FILE).read_bytes() == b"shared bytes"
    assert not copied.exists()
    await ws.close()


async def test_shared_path_copy_with_a_wrong_hash_is_rejected_and_left_in_place(station, tmp_path):
    dest_dir = tmp_path / "data" / "shared-in"
    (dest_dir / CARD_FILE).parent.mkdir(parents=True)
    (dest_dir / CARD_FILE).write_bytes(b"abc")
    ws = await connected_detector(station)
    station.orchestrator.issue("r-9", CARD_FILE)
    station.link.send_copy_request("desk-left", {
        "request_id": "r-9", "card_id": "C", "mode": "shared_path",
        "files": [{"path": CARD_FILE, "size": 3, "offset": 0}], "dest_dir": str(dest_dir)})
    await recv_json(ws)
    await ws.send(json.dumps({"type": "sd:file_copied", "data": {
        "request_id": "r-9", "path": CARD_FILE, "size": 3, "sha256": "0" * 64, "dest": str(dest_dir / CARD_FILE)}}))
    reply = await recv_json(ws)
    assert reply["type"] == "sd:file_rejected" and "sha256" in reply["data"]["reason"]
    assert not station.orchestrator.staged(CARD_FILE).exists()
    assert (dest_dir / CARD_FILE).read_bytes() == b"abc"
    await ws.close()


async def test_send_copy_request_says_false_when_the_detector_is_gone(station):
    data = {"request_id": "r-1", "card_id": "C", "mode": "upload",
            "files": [{"path": CARD_FILE, "size": 1, "offset": 0}], "dest_dir": None}
    assert station.link.send_copy_request("nobody", data) is False
    with pytest.raises(ValueError):
        station.link.send_copy_request("nobody", {**data, "files": [{"path": "/etc/x", "size": 1, "offset": 0}]})


async def test_ui_requests_are_served_through_the_engine(station):
    station.engine.executions = [{"id": 3, "state": "failed", "steps": []}, {"id": 2, "state": "succeeded", "steps": []}]
    ui = await ui_client(station)
    await ui.send(json.dumps({"type": "pipeline:list", "id": "l", "data": {"limit": 1}}))
    assert await recv_json(ui) == {"type": "pipeline:list_result", "data": {
        "executions": [{"id": 3, "state": "failed", "steps": []}], "ref": "l"}}
    await ui.send(json.dumps({"type": "pipeline:retry", "id": "r", "data": {"execution_id": 3, "step_id": 11}}))
    assert await recv_json(ui) == {"type": "pipeline:retry_result", "data": {
        "execution_id": 3, "step_id": 11, "reset_step_ids": [11, 12], "ref": "r"}}
    await ui.send(json.dumps({"type": "pipeline:retry_failed", "id": "rf", "data": {"execution_id": 3}}))
    assert await recv_json(ui) == {"type": "pipeline:retry_failed_result", "data": {
        "execution_id": 3, "reset_step_ids": [11, 12], "ref": "rf"}}
    await ui.send(json.dumps({"type": "pipeline:cancel", "id": "c", "data": {"execution_id": 99}}))
    error = await recv_json(ui)
    assert error["type"] == "error" and error["data"]["code"] == "bad_message" and error["data"]["ref"] == "c"
    await ui.send(json.dumps({"type": "sd:file_list", "id": "x", "data": {"card_id": "C", "files": []}}))
    assert (await recv_json(ui))["data"]["code"] == "bad_message"
    assert station.engine.calls == [("list_executions", (1,)), ("retry", (3, 11)), ("retry_failed", (3,)),
                                    ("cancel", (99,))]
    await ui.close()


RETRY = {"type": "pipeline:retry", "id": "r", "data": {"execution_id": 3, "step_id": 11}}
MOVE = {"type": "passenger:move_clip", "id": "m", "data": {"file_id": 5, "passenger_id": 2}}


@pytest.mark.parametrize(("request_", "refusal", "code"), [
    (RETRY, NotFound("execution 3 has no step 11"), "bad_message"),
    (RETRY, RetryRefused("step 11 (decode_qr) is succeeded, not failed"), "conflict"),
    (MOVE, PassengerNotFound("no passenger 2"), "bad_message"),
    (MOVE, MoveRefused("DCIM/GX010231.MP4 is already Ana Silva's"), "conflict"),
    # Not a refusal: the station's own failure, never blamed on the client (`conflict`, `bad_message`).
    (RETRY, ValueError("invalid literal for int()"), "internal"),
    (MOVE, KeyError("passenger"), "internal"),
], ids=["not-found", "retry-refused", "passenger-not-found", "move-refused", "value-error", "key-error"])
async def test_each_refusal_reaches_the_ui_client_as_its_protocol_code(station, request_, refusal, code):
    station.engine.refuse = station.orchestrator.refuse = refusal
    ui = await ui_client(station)
    await ui.send(json.dumps(request_))
    error = await recv_json(ui)
    assert error["type"] == "error" and error["data"]["code"] == code and error["data"]["ref"] == request_["id"]
    if code == "internal":
        assert str(refusal) not in error["data"]["message"]  # the station's insides stay in its log
    else:
        assert error["data"]["message"] == str(refusal)  # the reason, as the core gave it
    await ui.send(json.dumps({"type": "pipeline:list", "id": "l", "data": {"limit": 1}}))
    assert (await recv_json(ui))["type"] == "pipeline:list_result"  # answered; the session goes on
    await ui.close()


def test_every_refusal_of_the_core_has_a_protocol_code():
    def leaves(cls: type[Refused]) -> list[type[Refused]]:
        return [cls, *(c for sub in cls.__subclasses__() for c in leaves(sub))]

    for cls in leaves(Refused)[1:]:
        assert refusal_error(cls("why")).code in set(ERROR_CODES) - {INTERNAL}, cls


def _get(station, path: str, token: str | None):
    request = urllib.request.Request(f"http://127.0.0.1:{station.port}{path}")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def test_api_executions_answers_like_pipeline_list_with_a_bearer_token(station):
    station.engine.executions = [{"id": 5, "state": "running", "steps": [{"id": 1, "name": "decode_qr"}]}]
    ok = await asyncio.to_thread(_get, station, "/api/executions?limit=10", TOKEN)
    assert ok == (200, {"executions": station.engine.executions})
    assert station.engine.calls == [("list_executions", (10,))]
    for token in (None, "wrong"):
        status, body = await asyncio.to_thread(_get, station, "/api/executions", token)
        assert status == 401 and "Bearer" in body["error"]
    status, _ = await asyncio.to_thread(_get, station, "/api/executions?limit=zero", TOKEN)
    assert status == 400
    assert len(station.engine.calls) == 1
