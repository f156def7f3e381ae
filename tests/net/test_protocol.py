"""The protocol as plain data: validation and the per-connection state machine, no network."""

from __future__ import annotations

import json

import pytest

from app.net.protocol import (
    CLOSE_TOO_LARGE,
    CLOSE_UNAUTHORIZED,
    HELLO_TIMEOUT_S,
    MAX_TEXT_BYTES,
    CloseConnection,
    Phase,
    ProtocolError,
    Role,
    SessionMachine,
    path_problem,
    validate_copy_request,
)

TOKEN = "secret-token"


def msg(type_: str, data: dict, id_: str | None = "m1") -> str:
    body = {"type": type_, "data": data}
    if id_ is not None:
        body["id"] = id_
    return json.dumps(body)


def ready(role: Role = Role.DETECTOR, chunk_size: int = 1024) -> SessionMachine:
    machine = SessionMachine(role, TOKEN, chunk_size)
    data = {"role": role.value, "token": TOKEN}
    if role is Role.DETECTOR:
        data["detector_id"] = "desk-left"
    machine.receive_text(msg("hello", data))
    return machine


def listing(*paths: str) -> str:
    return msg("sd:file_list", {"card_id": "3A1F-77C2", "label": "GOPRO", "slot": "1", "files": [
        {"path": p, "size": 10, "modified": "2026-11-23T10:15:30Z"} for p in paths]})


def test_hello_is_required_first_within_five_seconds():
    machine = SessionMachine(Role.DETECTOR, TOKEN)
    assert machine.hello_timeout == HELLO_TIMEOUT_S == 10
    with pytest.raises(ProtocolError) as err:
        machine.receive_text(listing("DCIM/A.MP4"))
    assert err.value.code == "bad_message" and err.value.ref == "m1"
    assert machine.phase is Phase.AWAITING_HELLO


@pytest.mark.parametrize("token", [None, "", "wrong", 42])
def test_wrong_or_missing_token_closes_4401(token):
    machine = SessionMachine(Role.DETECTOR, TOKEN)
    data = {"role": "detector", "detector_id": "desk-left"}
    if token is not None:
        data["token"] = token
    with pytest.raises(CloseConnection) as close:
        machine.receive_text(msg("hello", data))
    assert close.value.code == CLOSE_UNAUTHORIZED
    assert close.value.error.code == "unauthorized"
    assert machine.phase is Phase.AWAITING_HELLO


@pytest.mark.parametrize("detector_id", ["", "a" * 65, "desk left", "desk/left", "dé", None, 5])
def test_detector_id_must_match_the_pattern(detector_id):
    machine = SessionMachine(Role.DETECTOR, TOKEN)
    with pytest.raises(ProtocolError) as err:
        machine.receive_text(msg("hello", {"role": "detector", "token": TOKEN, "detector_id": detector_id}))
    assert err.value.code == "bad_message"
    assert machine.phase is Phase.AWAITING_HELLO


def test_good_detector_ids_are_accepted():
    for detector_id in ("desk-left", "A.b_c-9", "x" * 64):
        machine = SessionMachine(Role.DETECTOR, TOKEN)
        machine.receive_text(msg("hello", {"role": "detector", "token": TOKEN, "detector_id": detector_id}))
        assert machine.detector_id == detector_id


def test_role_must_match_the_path_and_ui_sends_no_detector_fields():
    with pytest.raises(ProtocolError):
        SessionMachine(Role.UI, TOKEN).receive_text(msg("hello", {"role": "detector", "token": TOKEN, "detector_id": "x"}))
    with pytest.raises(ProtocolError) as err:
        SessionMachine(Role.UI, TOKEN).receive_text(msg("hello", {"role": "ui", "token": TOKEN, "detector_id": "x"}))
    assert "detector_id" in err.value.message
    assert ready(Role.UI).phase is Phase.READY


@pytest.mark.parametrize("raw, needle", [
    ("{not json", "invalid JSON"),
    ("[1, 2]", "one JSON object"),
    (json.dumps({"type": "sd:nope", "data": {}}), "unknown type"),
    (json.dumps({"data": {}}), "type is required"),
    (json.dumps({"type": "sd:card_removed"}), "data is required"),
    (json.dumps({"type": "sd:card_removed", "data": []}), "data must be an object"),
    (json.dumps({"type": "sd:card_removed", "data": {"card_id": "C"}, "extra": 1}), "unexpected envelope"),
    (json.dumps({"type": "sd:card_removed", "data": {}}), "missing field"),
    (json.dumps({"type": "sd:card_removed", "data": {"card_id": "C", "x": 1}}), "unexpected field"),
    (json.dumps({"type": "sd:card_removed", "data": {"card_id": 5}}), "must be a string"),
    (json.dumps({"type": "sd:card_removed", "id": {"a": 1}, "data": {"card_id": "C"}}), "id must be"),
])
def test_malformed_messages_are_bad_message_and_change_no_state(raw, needle):
    machine = ready()
    with pytest.raises(ProtocolError) as err:
        machine.receive_text(raw)
    assert err.value.code == "bad_message"
    assert needle in err.value.message
    assert machine.phase is Phase.READY and machine.upload is None


def test_the_error_echoes_the_message_id_as_ref():
    with pytest.raises(ProtocolError) as err:
        ready().receive_text(msg("sd:card_removed", {}, id_="c0ffee-01"))
    assert err.value.envelope() == {"type": "error", "data": {
        "code": "bad_message", "message": err.value.message, "ref": "c0ffee-01"}}


@pytest.mark.parametrize("path", [
    "/DCIM/A.MP4", "C:/DCIM/A.MP4", "DCIM/../../etc/passwd", "..", "DCIM\\A.MP4", "DCIM/A\x00.MP4",
    "DCIM/A\n.MP4", "DCIM/A\x1b.MP4", "DCIM//A.MP4", "./A.MP4", "", "a" * 1025,
])
def test_unsafe_paths_reject_the_whole_listing(path):
    machine = ready()
    with pytest.raises(ProtocolError) as err:
        machine.receive_text(listing("DCIM/OK.MP4", path))
    assert err.value.code == "bad_message"
    assert path_problem(path)


def test_listing_fields_are_checked():
    machine = ready()
    good = machine.receive_text(listing("DCIM/100GOPRO/GX010231.MP4", "DCIM/100GOPRO/My clip (1).MP4"))
    assert [f["path"] for f in good.data["files"]] == ["DCIM/100GOPRO/GX010231.MP4", "DCIM/100GOPRO/My clip (1).MP4"]
    for entry in ({"path": "A", "size": -1, "modified": "2026-11-23T10:15:30Z"},
                  {"path": "A", "size": True, "modified": "2026-11-23T10:15:30Z"},
                  {"path": "A", "size": 1.5, "modified": "2026-11-23T10:15:30Z"},
                  {"path": "A", "size": 1, "modified": "2026-11-23T10:15:30"},  # no zone
                  {"path": "A", "size": 1, "modified": "yesterday"},
                  {"path": "A", "size": 1}):
        with pytest.raises(ProtocolError):
            machine.receive_text(msg("sd:file_list", {"card_id": "C", "files": [entry]}))
    with pytest.raises(ProtocolError, match="twice"):
        machine.receive_text(listing("A", "A"))


def test_text_over_four_mib_closes_1009():
    machine = ready()
    with pytest.raises(CloseConnection) as close:
        machine.receive_text(msg("sd:card_removed", {"card_id": "x" * MAX_TEXT_BYTES}))
    assert close.value.code == CLOSE_TOO_LARGE


def test_binary_frames_need_an_open_upload_and_respect_chunk_size():
    machine = ready(chunk_size=1024)
    with pytest.raises(ProtocolError, match="no sd:upload_begin"):
        machine.receive_binary(10)
    with pytest.raises(CloseConnection) as close:
        machine.receive_binary(1025)
    assert close.value.code == CLOSE_TOO_LARGE


def test_upload_counts_bytes_and_refuses_more_than_announced():
    machine = ready(chunk_size=1024)
    begin = machine.receive_text(msg("sd:upload_begin", {"request_id": "r-1", "path": "A", "size": 1500, "offset": 500}))
    upload = machine.start_upload(begin.data)
    assert machine.receive_binary(1000) is upload and upload.held == 1500
    with pytest.raises(ProtocolError) as err:
        machine.receive_binary(1)
    assert err.value.code == "too_large"
    with pytest.raises(ProtocolError) as err:
        machine.receive_text(msg("sd:upload_begin", {"request_id": "r-1", "path": "B", "size": 1, "offset": 0}))
    assert err.value.code == "conflict"


def test_a_refused_upload_drops_its_frames_quietly_until_the_next_begin():
    machine = ready()
    machine.receive_text(msg("sd:upload_begin", {"request_id": "r-9", "path": "A", "size": 5, "offset": 0}))
    machine.refuse_upload()
    assert machine.receive_binary(5) is None
    machine.end_upload()
    with pytest.raises(ProtocolError):
        machine.receive_binary(5)


def test_offset_beyond_size_and_bad_sha256_are_bad_message():
    machine = ready()
    with pytest.raises(ProtocolError, match="offset"):
        machine.receive_text(msg("sd:upload_begin", {"request_id": "r-1", "path": "A", "size": 5, "offset": 6}))
    with pytest.raises(ProtocolError, match="hexadecimal"):
        machine.receive_text(msg("sd:file_copied", {"request_id": "r-1", "path": "A", "size": 5, "sha256": "xyz"}))
    with pytest.raises(ProtocolError, match="absolute"):
        machine.receive_text(msg("sd:file_copied", {"request_id": "r-1", "path": "A", "size": 5,
                                                    "sha256": "a" * 64, "dest": "relative/file"}))


def test_detector_messages_are_refused_on_the_ui_path_and_vice_versa():
    with pytest.raises(ProtocolError, match="not accepted"):
        ready(Role.UI).receive_text(listing("A"))
    with pytest.raises(ProtocolError, match="not accepted"):
        ready(Role.DETECTOR).receive_text(msg("pipeline:list", {"limit": 5}))
    ui = ready(Role.UI)
    assert ui.receive_text(msg("pipeline:list", {})).data == {"limit": None}
    with pytest.raises(ProtocolError):
        ui.receive_text(msg("pipeline:list", {"limit": 0}))
    with pytest.raises(ProtocolError):
        ui.receive_text(msg("pipeline:retry", {"execution_id": "1", "step_id": 2}))


def test_copy_requests_are_checked_before_they_leave():
    good = {"request_id": "r-81", "card_id": "C", "mode": "upload",
            "files": [{"path": "DCIM/A.MP4", "size": 10, "offset": 0}], "dest_dir": None}
    assert validate_copy_request(good)["files"][0]["path"] == "DCIM/A.MP4"
    for bad in ({**good, "mode": "teleport"}, {**good, "dest_dir": "/srv/x"},
                {**good, "files": [{"path": "../x", "size": 1, "offset": 0}]},
                {**good, "files": [{"path": "A", "size": 1, "offset": 2}]}):
        with pytest.raises(ProtocolError):
            validate_copy_request(bad)


@pytest.mark.parametrize("raw", [
    '{"type": "sd:card_removed", "data": {"card_id": "C"}, "id": ' + "9" * 5000 + "}",
    json.dumps({"type": "sd:upload_begin", "data": {"request_id": "r-1", "path": "A", "size": 2**64, "offset": 0}}),
    json.dumps({"type": "sd:file_list", "data": {"card_id": "C", "files": [
        {"path": "A", "size": 10**30, "modified": "2026-11-23T10:15:30Z"}]}}),
])
def test_huge_numbers_are_bad_message_not_a_crash(raw):
    with pytest.raises(ProtocolError) as err:
        ready().receive_text(raw)
    assert err.value.code == "bad_message"
