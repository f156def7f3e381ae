"""Property-based fuzzing of the session machine and the message schemas (issue 12, "Fuzzing"):
any byte string or JSON value yields a protocol error or a close, never another exception, a
short error text, and no change to the connection's state."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.net.bounds import MAX_ERROR_TEXT
from app.net.protocol import (
    ALL_TYPES,
    DETECTOR_MESSAGES,
    HELLO_DETECTOR,
    HELLO_UI,
    UI_MESSAGES,
    CloseConnection,
    Message,
    Phase,
    ProtocolError,
    Role,
    SessionMachine,
    path_problem,
    validate_copy_request,
)

TOKEN = "fuzz-token-0123456789"
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SCHEMAS = [HELLO_DETECTOR, HELLO_UI, *DETECTOR_MESSAGES.values(), *UI_MESSAGES.values()]
FIELD_NAMES = sorted({name for schema in SCHEMAS for name in (*schema.required, *schema.optional)}
                     | {"request_id", "card_id", "mode", "files", "dest_dir", "path", "size", "offset", "modified"})

# Values near the edges of what the schemas accept, mixed with anything at all.
PLAUSIBLE = st.sampled_from([
    TOKEN, "detector", "ui", "desk-left", "r-1", "DCIM/100GOPRO/GX010231.MP4", "../etc/passwd", "/abs", "a//b",
    "C:\\x", "DCIM/A\u0000.MP4", "2026-11-23T10:15:30Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
    "2026-11-23T10:15:30", "0" * 64, "g" * 64, "upload", "shared_path", "/srv/in", 0, 1, -1, 2**53, 2**64, True,
    None, 1.5, float("nan"), "", "x" * 300, ["upload"], ["teleport"],
])
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40) | PLAUSIBLE
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=12) | st.sampled_from(FIELD_NAMES), inner, max_size=6), max_leaves=10)
FILE_ENTRY = st.fixed_dictionaries({"path": JSON, "size": JSON, "modified": JSON})
DATA = st.dictionaries(st.sampled_from(FIELD_NAMES), JSON | st.lists(FILE_ENTRY, max_size=3), max_size=8)
ENVELOPE = st.fixed_dictionaries(
    {"type": st.sampled_from(sorted(ALL_TYPES)) | st.text(max_size=20), "data": DATA | JSON},
    optional={"id": JSON, "extra": JSON})


def awaiting(role: Role) -> SessionMachine:
    return SessionMachine(role, TOKEN, 1024)


def ready(role: Role) -> SessionMachine:
    machine = awaiting(role)
    data = {"role": role.value, "token": TOKEN, **({"detector_id": "desk-left"} if role is Role.DETECTOR else {})}
    machine.receive_text(json.dumps({"type": "hello", "data": data}))
    return machine


def uploading() -> SessionMachine:
    machine = ready(Role.DETECTOR)
    machine.start_upload({"request_id": "r-1", "path": "DCIM/A.MP4", "size": 4096, "offset": 0})
    return machine


MACHINES: list[Callable[[], SessionMachine]] = [
    lambda: awaiting(Role.DETECTOR), lambda: awaiting(Role.UI), lambda: ready(Role.DETECTOR), lambda: ready(Role.UI),
    uploading,
]


def state(machine: SessionMachine) -> tuple:
    return machine.phase, copy.deepcopy(machine.hello), copy.deepcopy(machine.upload)


def feed(raw: str | bytes) -> None:
    """`raw` to a machine in every phase: a protocol error or a close, or a message it may act on."""
    for make in MACHINES:
        machine = make()
        before = state(machine)
        try:
            message = machine.receive_text(raw)
        except ProtocolError as error:
            assert len(error.message) <= MAX_ERROR_TEXT + 60
            assert state(machine) == before
        except CloseConnection as close:
            assert close.error is None or len(close.error.message) <= MAX_ERROR_TEXT + 60
            assert state(machine) == before
        else:
            assert isinstance(message, Message)
            if before[0] is Phase.AWAITING_HELLO:  # only a hello with the token gets through
                assert message.type == "hello" and machine.phase is Phase.READY
            else:
                assert state(machine) == before
                assert message.type in (DETECTOR_MESSAGES if machine.role is Role.DETECTOR else UI_MESSAGES)


@FUZZ
@given(st.binary(max_size=4096))
def test_any_bytes_as_a_text_frame(raw):
    feed(raw)


@FUZZ
@given(JSON)
def test_any_json_value_as_a_message(value):
    feed(json.dumps(value))


@FUZZ
@given(ENVELOPE)
def test_envelopes_of_known_types_with_any_fields(envelope):
    feed(json.dumps(envelope))


@FUZZ
@given(st.integers(min_value=0, max_value=2**40))
def test_any_binary_frame_length_in_every_phase(length):
    for make in MACHINES:
        machine = make()
        before = state(machine)
        try:
            upload = machine.receive_binary(length)
        except (ProtocolError, CloseConnection):
            assert state(machine) == before
        else:
            # Only an open upload takes bytes, and only as many as it announced.
            assert upload is not None and upload.held <= upload.size


@FUZZ
@given(st.sampled_from(SCHEMAS), DATA | JSON)
def test_schemas_refuse_with_value_error_only(schema, value):
    try:
        schema("data", value)
    except ValueError:
        pass


@FUZZ
@given(DATA | JSON)
def test_copy_requests_are_checked_with_protocol_errors_only(value):
    try:
        validate_copy_request(value if isinstance(value, dict) else {"files": value})
    except ProtocolError:
        pass


# Paths made of the pieces the rules are about: separators, dots, drive letters, controls.
CARD_PATH = st.lists(st.sampled_from(["DCIM", "a", "é", ".", "..", "...", "/", "\\", "C:", "z:", " ", "\x00", "\n",
                                      "\x7f", "GX010001.MP4"]), max_size=8).map("".join) | st.text(max_size=30)


@settings(max_examples=2000, deadline=None)
@given(CARD_PATH)
def test_a_listing_takes_exactly_the_paths_the_page_allows(path):
    # A listing is checked entry by entry in a fast inline loop; it must agree with the rules.
    machine = ready(Role.DETECTOR)
    raw = json.dumps({"type": "sd:file_list", "id": "L", "data": {"card_id": "C", "files": [
        {"path": "DCIM/OK.MP4", "size": 1, "modified": "2026-11-23T10:15:30Z"},
        {"path": path, "size": 1, "modified": "2026-11-23T10:15:30Z"}]}})
    try:
        message = machine.receive_text(raw)
    except ProtocolError as error:
        assert path_problem(path) is not None or path == "DCIM/OK.MP4"
        assert error.code == "bad_message" and "data.files[1]" in error.message or "twice" in error.message
    else:
        assert path_problem(path) is None
        assert [f["path"] for f in message.data["files"]] == ["DCIM/OK.MP4", path]
