"""The wire protocol of docs/protocol.md as plain data: no sockets, no files, no clocks.

`parse_message` turns one text frame into a validated `Message` or raises `ProtocolError`
(answered with an `error` envelope, connection kept) or `CloseConnection` (closed with a code).
`SessionMachine` keeps what one connection may do next (hello first, then the role's messages,
binary frames only inside an upload). The I/O layer (`app/net/*_session.py`) acts on the results.

Why one module of ~550 lines: it is the contract in code, every message's schema beside the
state machine that accepts it, so it can be read against docs/protocol.md top to bottom.
"""

from __future__ import annotations

import enum
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeGuard

from app.net.bounds import clip, listed, shown

PROTOCOL_VERSION = 1
HELLO_TIMEOUT_S = 10.0  # PROTOCOL.md: "hello within 10 s"; Detectors are built to it
MAX_TEXT_BYTES = 4 * 1024 * 1024
MAX_HELLO_BYTES = 16 * 1024  # any message before hello; a hello is well under 2 KiB
DEFAULT_CHUNK_SIZE = 1024 * 1024

# Close codes (docs/protocol.md).
CLOSE_TOO_LARGE = 1009
CLOSE_UNAUTHORIZED = 4401
CLOSE_HELLO_TIMEOUT = 4408
CLOSE_REPLACED = 4409

# Error codes of the `error` envelope.
BAD_MESSAGE = "bad_message"
UNAUTHORIZED = "unauthorized"
UNKNOWN_REQUEST = "unknown_request"
CONFLICT = "conflict"
TOO_LARGE = "too_large"
INTERNAL = "internal"
ERROR_CODES = (BAD_MESSAGE, UNAUTHORIZED, UNKNOWN_REQUEST, CONFLICT, TOO_LARGE, INTERNAL)

# Limits the page leaves open (written down in docs/protocol.md, "Decisions").
DETECTOR_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}")
SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")
MAX_ID_CHARS = 128
MAX_CARD_ID_CHARS = 128
MAX_LABEL_CHARS = 200
MAX_SLOT_CHARS = 32
MAX_NAME_CHARS = 200
MAX_PATH_CHARS = 1024
MAX_FILES = 100_000
MAX_ERROR_CHARS = 2000
MAX_LIST_LIMIT = 500
DEFAULT_LIST_LIMIT = 50
MAX_CAPABILITIES = 16
MAX_INTEGER = 2**53 - 1  # sizes, offsets and ids: exact in every JSON implementation
MODES = ("upload", "shared_path")  # how a copy request's files travel
# What a Detector may announce (PROTOCOL.md, "Additions"); others are ignored, not refused.
CAPABILITIES = (*MODES, "range", "cancel", "status", "wipe")
# Card times the station can file and compute with (FAT and exFAT hold 1980-2107).
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(2200, 1, 1, tzinfo=UTC)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Role(enum.StrEnum):
    DETECTOR = "detector"
    UI = "ui"


class ProtocolError(Exception):
    """Answer with an `error` envelope and keep the connection open."""

    def __init__(self, code: str, message: str, ref: Any = None) -> None:
        message = clip(message)  # an answer never grows with the input that caused it
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref

    def envelope(self) -> dict[str, Any]:
        return error_envelope(self.code, self.message, self.ref)


class CloseConnection(Exception):
    """Close the connection with this WebSocket close code."""

    def __init__(self, code: int, reason: str, error: ProtocolError | None = None) -> None:
        super().__init__(f"{code} {reason}")
        self.code = code
        self.reason = reason
        self.error = error  # sent before closing, so the peer learns why


@dataclass(frozen=True)
class Message:
    type: str
    data: dict[str, Any]
    id: str | int | None = None


# -- envelopes ------------------------------------------------------------------------------
def envelope(type_: str, data: Mapping[str, Any], ref: Any = None) -> dict[str, Any]:
    body = dict(data)
    if ref is not None:
        body["ref"] = ref
    return {"type": type_, "data": body}


def error_envelope(code: str, message: str, ref: Any = None) -> dict[str, Any]:
    assert code in ERROR_CODES, code
    return {"type": "error", "data": {"code": code, "message": message, "ref": ref}}


def encode(message: Mapping[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False, default=str)


def welcome(station_id: str, version: str, chunk_size: int) -> dict[str, Any]:
    return {"type": "welcome", "data": {"station_id": station_id, "version": version,
                                        "protocol": PROTOCOL_VERSION, "chunk_size": chunk_size}}


# -- field checks ---------------------------------------------------------------------------
Check = Callable[[str, Any], Any]  # (field name, raw value) -> cleaned value, or raises ValueError


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def text(max_chars: int, *, pattern: re.Pattern[str] | None = None, allow_empty: bool = False) -> Check:
    def check(name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a string")
        if not value and not allow_empty:
            raise ValueError(f"{name} must not be empty")
        if len(value) > max_chars:
            raise ValueError(f"{name} is longer than {max_chars} characters")
        if pattern is not None and not pattern.fullmatch(value):
            raise ValueError(f"{name} {shown(value)} does not match {pattern.pattern}")
        if pattern is None and _CONTROL.search(value):
            raise ValueError(f"{name} contains control characters")
        return value

    return check


def optional(check: Check) -> Check:
    def wrapped(name: str, value: Any) -> Any:
        return None if value is None else check(name, value)

    wrapped.optional = True  # type: ignore[attr-defined]
    return wrapped


def integer(minimum: int = 0, maximum: int = MAX_INTEGER) -> Check:
    def check(name: str, value: Any) -> int:
        if not _is_int(value):
            raise ValueError(f"{name} must be an integer")
        if not minimum <= value <= maximum:
            raise ValueError(f"{name} must be {minimum}..{maximum}, got {str(value)[:40]}")
        return value

    return check


def boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false")
    return value


def sha256_hex(name: str, value: Any) -> str:
    if not isinstance(value, str) or not SHA256_RE.fullmatch(value):
        raise ValueError(f"{name} must be 64 hexadecimal characters")
    return value.lower()


def timestamp(name: str, value: Any) -> datetime:
    """ISO 8601 with a zone, parsed once here: the aware datetime is what the station carries."""
    moment = _moment(value)
    if moment is not None:
        return moment
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError(f"{name} must be an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        raise ValueError(f"{name} {value!r} is not ISO 8601") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{name} {value!r} has no time zone")
    raise ValueError(f"{name} {value!r} is outside {EARLIEST_TIME:%Y-%m-%d}..{LATEST_TIME:%Y-%m-%d} (UTC)")


def _moment(value: Any) -> datetime | None:
    """The aware datetime of an acceptable `modified`, or None (then `timestamp` says why).
    Aware datetimes compare as instants, so 0001-01-01T00:00:00+01:00 is simply out of range."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        return None
    if parsed.tzinfo is None or not EARLIEST_TIME <= parsed < LATEST_TIME:
        return None
    return parsed


def card_path(name: str, value: Any) -> str:
    """A relative POSIX path on a card, safe to join under a folder of the station."""
    problem = path_problem(value)
    if problem:
        raise ValueError(f"{name} {shown(value)}: {problem}" if isinstance(value, str) else f"{name}: {problem}")
    return str(value)  # path_problem accepts only a str


def path_problem(value: Any) -> str | None:
    """Why `value` is not an acceptable card path, or None (used by the Detector too)."""
    if not isinstance(value, str):
        return "must be a string"
    if not value:
        return "must not be empty"
    if len(value) > MAX_PATH_CHARS:
        return f"longer than {MAX_PATH_CHARS} characters"
    if _CONTROL.search(value):
        return "contains NUL or control characters"
    if "\\" in value:
        return "contains a backslash (use /)"
    if value.startswith("/") or re.match(r"[A-Za-z]:", value):
        return "is absolute"
    parts = value.split("/")
    if ".." in parts:
        return "has a '..' segment"
    if any(part in ("", ".") for part in parts):
        return "has an empty or '.' segment"
    return None


def absolute_path(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 4096:
        raise ValueError(f"{name} must be a non-empty string")
    if _CONTROL.search(value):
        raise ValueError(f"{name} contains NUL or control characters")
    if not (value.startswith("/") or re.match(r"[A-Za-z]:[\\/]", value)):
        raise ValueError(f"{name} must be an absolute path on the station")
    return value


def string_list(max_items: int, item: Check) -> Check:
    def check(name: str, value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise ValueError(f"{name} must be a list")
        if len(value) > max_items:
            raise ValueError(f"{name} has more than {max_items} entries")
        return [item(f"{name}[{i}]", v) for i, v in enumerate(value)]

    return check


@dataclass(frozen=True)
class Schema:
    """The fields of one object: every required one present, no others, each checked."""

    required: Mapping[str, Check]
    optional: Mapping[str, Check] = field(default_factory=dict)

    def __call__(self, name: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise ValueError(f"{name} must be an object")
        extra = sorted(set(value) - set(self.required) - set(self.optional))
        if extra:
            raise ValueError(f"{name}: unexpected field(s) {listed(extra)}")
        missing = sorted(set(self.required) - set(value))
        if missing:
            raise ValueError(f"{name}: missing field(s) {', '.join(map(repr, missing))}")
        out: dict[str, Any] = {}
        for key, check in self.required.items():
            out[key] = check(f"{name}.{key}", value[key])
        for key, check in self.optional.items():
            out[key] = check(f"{name}.{key}", value[key]) if key in value else None
        return out


FILE_ENTRY = Schema({"path": card_path, "size": integer(0), "modified": timestamp})
_FILE_KEYS = frozenset(FILE_ENTRY.required)
_SEGMENT = r"(?!\.\.?(?:/|\Z))[^/\\\x00-\x1f\x7f]+"  # not "." or "..", no slash, backslash or control
# Every path `path_problem` accepts, in one match (no drive letter, no empty segment).
_PLAIN_PATH = re.compile(rf"(?![A-Za-z]:){_SEGMENT}(?:/{_SEGMENT})*")


def _file_entry(name: str, value: Any) -> dict[str, Any]:
    """One entry through the Schema: raises with the exact reason."""
    clean = FILE_ENTRY(name, value)
    return {**clean, "modified": value["modified"], "modified_at": clean["modified"]}


def file_entries(name: str, value: Any) -> list[dict[str, Any]]:
    """A card's listing. Each entry keeps `modified` as sent (what the station stores) and
    adds `modified_at`, its aware datetime: parsed once, here, and carried on.

    A card lists tens of thousands of files, so the common entry is checked inline on plain
    values (one precompiled match for the path, one parse for the time); any entry that fails
    that goes through FILE_ENTRY, which raises with the exact reason and names the entry.
    """
    if not isinstance(value, list):
        raise ValueError(f"{name} must be a list")
    if len(value) > MAX_FILES:
        raise ValueError(f"{name} has more than {MAX_FILES} entries")
    plain_path, keys, max_size = _PLAIN_PATH.fullmatch, _FILE_KEYS, MAX_INTEGER
    entries: list[dict[str, Any]] = []
    seen: set[str] = set()
    for entry in value:
        if type(entry) is dict and entry.keys() == keys:
            path, size = entry["path"], entry["size"]
            modified = _moment(entry["modified"])
            if (modified is not None and type(path) is str and len(path) <= MAX_PATH_CHARS and plain_path(path)
                    and type(size) is int and 0 <= size <= max_size):
                clean = {"path": path, "size": size, "modified": entry["modified"], "modified_at": modified}
            else:
                clean = _file_entry(f"{name}[{len(entries)}]", entry)
        else:
            clean = _file_entry(f"{name}[{len(entries)}]", entry)
        if clean["path"] in seen:
            raise ValueError(f"{name}: path {shown(clean['path'])} is listed twice")
        seen.add(clean["path"])
        entries.append(clean)
    return entries


REQUEST_ID = text(64, pattern=REQUEST_ID_RE)
CARD_ID = text(MAX_CARD_ID_CHARS)
DETECTOR_ID = text(64, pattern=DETECTOR_ID_RE)

HELLO_DETECTOR = Schema(
    {"role": text(16), "token": text(256), "detector_id": DETECTOR_ID},
    {"name": optional(text(MAX_NAME_CHARS)), "version": optional(text(64)),
     "capabilities": optional(string_list(MAX_CAPABILITIES, text(32)))},
)
HELLO_UI = Schema(
    {"role": text(16), "token": text(256)},
    {"name": optional(text(MAX_NAME_CHARS)), "version": optional(text(64))},
)

# The messages each role may send after hello.
DETECTOR_MESSAGES: dict[str, Schema] = {
    "sd:file_list": Schema(
        {"card_id": CARD_ID, "files": file_entries},
        {"label": optional(text(MAX_LABEL_CHARS, allow_empty=True)), "slot": optional(text(MAX_SLOT_CHARS, allow_empty=True))},
    ),
    "sd:upload_begin": Schema({"request_id": REQUEST_ID, "path": card_path, "size": integer(0), "offset": integer(0)},
                              {"length": optional(integer(1))}),  # `range`: a slice of the file
    "sd:file_copied": Schema(
        {"request_id": REQUEST_ID, "path": card_path, "size": integer(0), "sha256": sha256_hex},
        {"dest": optional(absolute_path), "offset": optional(integer(0)), "length": optional(integer(1))},
    ),
    "sd:copy_error": Schema(
        {"request_id": REQUEST_ID, "path": card_path, "error": text(MAX_ERROR_CHARS, allow_empty=True),
         "retryable": boolean},
    ),
    "sd:card_removed": Schema({"card_id": CARD_ID}),
    "sd:wipe_done": Schema({
        "request_id": REQUEST_ID, "card_id": CARD_ID, "deleted": string_list(MAX_FILES, card_path),
        "kept": string_list(MAX_FILES, Schema({"path": card_path, "reason": text(MAX_ERROR_CHARS, allow_empty=True)})),
    }),
}
def day(name: str, value: Any) -> str:
    """A library day, YYYY-MM-DD."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError(f"{name} must be a day as YYYY-MM-DD")
    try:
        datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        raise ValueError(f"{name} {value!r} is not a real day") from None
    return value


UI_MESSAGES: dict[str, Schema] = {
    "pipeline:list": Schema({}, {"limit": optional(integer(1, MAX_LIST_LIMIT))}),
    "passengers:list": Schema({"day": day}),
    # passenger_id null: to the card's unassigned clips (the field must be there, to say so).
    "passenger:move_clip": Schema({"file_id": integer(1), "passenger_id": optional(integer(1))}),
    "passenger:rerender": Schema({"passenger_id": integer(1)}),
    "pipeline:retry": Schema({"execution_id": integer(1), "step_id": integer(1)}),
    "pipeline:cancel": Schema({"execution_id": integer(1)}),
    "pipeline:retry_failed": Schema({"execution_id": integer(1)}),
}
ALL_TYPES = {"hello", *DETECTOR_MESSAGES, *UI_MESSAGES}

# What the station sends (checked before sending, so a bug never reaches a Detector).
COPY_REQUEST = Schema(
    {"request_id": REQUEST_ID, "card_id": CARD_ID, "mode": text(16), "files": string_list(
        MAX_FILES, Schema({"path": card_path, "size": integer(0), "offset": integer(0)},
                          {"length": optional(integer(1))}))},
    {"dest_dir": optional(absolute_path)},
)


def validate_copy_request(data: Mapping[str, Any]) -> dict[str, Any]:
    try:
        clean = COPY_REQUEST("sd:copy_request", dict(data))
    except ValueError as exc:
        raise ProtocolError(BAD_MESSAGE, str(exc)) from None
    if clean["mode"] not in MODES:
        raise ProtocolError(BAD_MESSAGE, f"mode must be one of {MODES}")
    if (clean["mode"] == "shared_path") != (clean["dest_dir"] is not None):
        raise ProtocolError(BAD_MESSAGE, "dest_dir is given exactly in shared_path mode")
    for entry in clean["files"]:
        if entry["offset"] > entry["size"]:
            raise ProtocolError(BAD_MESSAGE, f"offset beyond the size of {entry['path']}")
        if entry["length"] is None:
            del entry["length"]  # a whole file: exactly the entry of protocol 1 (no `range`)
    return clean


# -- parsing --------------------------------------------------------------------------------
def parse_envelope(raw: str | bytes) -> Message:
    """JSON text → `Message` with the envelope checked (not yet the body)."""
    if isinstance(raw, bytes):
        if len(raw) > MAX_TEXT_BYTES:
            raise CloseConnection(CLOSE_TOO_LARGE, "text message over 4 MiB")
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(BAD_MESSAGE, f"not UTF-8 at byte {exc.start}") from None
    if len(raw) > MAX_TEXT_BYTES or len(raw.encode("utf-8")) > MAX_TEXT_BYTES:
        raise CloseConnection(CLOSE_TOO_LARGE, "text message over 4 MiB")
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # ValueError: bad JSON, or an integer of over 4300 digits
        raise ProtocolError(BAD_MESSAGE, f"invalid JSON: {str(exc)[:200]}") from None
    if not isinstance(obj, dict):
        raise ProtocolError(BAD_MESSAGE, "a message is one JSON object")
    ref = obj.get("id")
    if ref is not None and not (
        (isinstance(ref, str) and 0 < len(ref) <= MAX_ID_CHARS and not _CONTROL.search(ref)) or _is_int(ref)
    ):
        raise ProtocolError(BAD_MESSAGE, f"id must be a string of 1..{MAX_ID_CHARS} characters or an integer")
    extra = sorted(set(obj) - {"type", "id", "data"})
    if extra:
        raise ProtocolError(BAD_MESSAGE, f"unexpected envelope field(s) {listed(extra)}", ref)
    type_ = obj.get("type")
    if not isinstance(type_, str):
        raise ProtocolError(BAD_MESSAGE, "type is required and must be a string", ref)
    if type_ not in ALL_TYPES:
        raise ProtocolError(BAD_MESSAGE, f"unknown type {shown(type_, 64)}", ref)
    if "data" not in obj:
        raise ProtocolError(BAD_MESSAGE, "data is required", ref)
    if not isinstance(obj["data"], dict):
        raise ProtocolError(BAD_MESSAGE, "data must be an object", ref)
    return Message(type_, obj["data"], ref)


def check_body(message: Message, schema: Schema) -> Message:
    try:
        clean = schema("data", message.data)
    except ValueError as exc:
        raise ProtocolError(BAD_MESSAGE, f"{message.type}: {exc}", message.id) from None
    return Message(message.type, clean, message.id)


# -- per-connection state --------------------------------------------------------------------
class Phase(enum.Enum):
    AWAITING_HELLO = "awaiting_hello"
    READY = "ready"
    UPLOADING = "uploading"  # between sd:upload_begin and sd:file_copied
    DISCARDING = "discarding"  # an upload the station refused: its frames are dropped quietly


@dataclass
class Upload:
    request_id: str
    path: str
    size: int
    offset: int
    received: int = 0  # bytes after `offset`
    # A slice (`range`): `size` and `offset` then count within the slice; these place it in the file.
    slice_offset: int | None = None
    slice_length: int | None = None
    file_size: int | None = None

    @property
    def is_slice(self) -> bool:
        return self.slice_offset is not None

    @property
    def held(self) -> int:
        return self.offset + self.received


class SessionMachine:
    """What one connection (a Detector or a UI client) may send next.

    The path fixes the role: `/detector` accepts only `role:"detector"`, `/ui` only `role:"ui"`.
    """

    def __init__(self, role: Role, token: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        self.role = role
        self.token = token
        self.chunk_size = chunk_size
        self.phase = Phase.AWAITING_HELLO
        self.hello: dict[str, Any] | None = None
        self.upload: Upload | None = None

    @property
    def hello_timeout(self) -> float:
        return HELLO_TIMEOUT_S

    @property
    def detector_id(self) -> str | None:
        return self.hello.get("detector_id") if self.hello else None

    def receive_text(self, raw: str | bytes) -> Message:
        """A validated message the session may act on; raises ProtocolError or CloseConnection."""
        message = parse_envelope(raw)
        if self.phase is Phase.AWAITING_HELLO:
            return self._hello(message)
        if message.type == "hello":
            raise ProtocolError(CONFLICT, "hello was already received on this connection", message.id)
        allowed = DETECTOR_MESSAGES if self.role is Role.DETECTOR else UI_MESSAGES
        if message.type not in allowed:
            raise ProtocolError(BAD_MESSAGE, f"{message.type} is not accepted on the {self.role} path", message.id)
        message = check_body(message, allowed[message.type])
        self._check_upload_order(message)
        return message

    def _hello(self, message: Message) -> Message:
        if message.type != "hello":
            raise ProtocolError(BAD_MESSAGE, "send hello first", message.id)
        token = message.data.get("token")
        if not isinstance(token, str) or not hmac.compare_digest(token.encode(), self.token.encode()):
            error = ProtocolError(UNAUTHORIZED, "wrong or missing pairing token", message.id)
            raise CloseConnection(CLOSE_UNAUTHORIZED, "wrong or missing token", error)
        role = message.data.get("role")
        if role != self.role.value:
            raise ProtocolError(BAD_MESSAGE, f"role must be {self.role.value!r} on this path", message.id)
        message = check_body(message, HELLO_DETECTOR if self.role is Role.DETECTOR else HELLO_UI)
        capabilities = message.data.get("capabilities") or []
        # A Detector newer than the station still connects: what it cannot use is left out.
        message.data["capabilities"] = [c for c in capabilities if c in CAPABILITIES]
        self.hello = message.data
        self.phase = Phase.READY
        return message

    def _check_upload_order(self, message: Message) -> None:
        data = message.data
        if message.type == "sd:upload_begin":
            if self.phase is Phase.UPLOADING:
                assert self.upload is not None
                raise ProtocolError(CONFLICT, f"an upload of {self.upload.path} is still open; "
                                    "send its sd:file_copied or sd:copy_error first", message.id)
            if data["offset"] > data["size"]:
                raise ProtocolError(BAD_MESSAGE, "offset is beyond size", message.id)

    # -- uploads --------------------------------------------------------------------------
    def start_upload(self, data: Mapping[str, Any]) -> Upload:
        """The station accepted an `sd:upload_begin`: binary frames go to this upload now."""
        if data.get("length") is not None:  # the slice's bytes alone, cut at the end of the file
            length = min(data["length"], data["size"] - data["offset"])
            self.upload = Upload(data["request_id"], data["path"], length, 0, slice_offset=data["offset"],
                                 slice_length=data["length"], file_size=data["size"])
        else:
            self.upload = Upload(data["request_id"], data["path"], data["size"], data["offset"])
        self.phase = Phase.UPLOADING
        return self.upload

    def refuse_upload(self) -> None:
        """The station refused an `sd:upload_begin`: drop that upload's frames quietly."""
        self.upload = None
        self.phase = Phase.DISCARDING

    def end_upload(self) -> None:
        self.upload = None
        self.phase = Phase.READY

    def matches_upload(self, data: Mapping[str, Any]) -> bool:
        return self.upload is not None and (self.upload.request_id, self.upload.path) == (
            data["request_id"], data["path"])

    def receive_binary(self, length: int) -> Upload | None:
        """Account for one binary frame. Returns the upload it belongs to, or None to drop it."""
        if self.phase is Phase.AWAITING_HELLO:
            raise CloseConnection(CLOSE_UNAUTHORIZED, "binary frame before hello",
                                  ProtocolError(UNAUTHORIZED, "send hello first"))
        if length > self.chunk_size:
            raise CloseConnection(CLOSE_TOO_LARGE, f"binary frame of {length} bytes is over chunk_size {self.chunk_size}")
        if self.role is not Role.DETECTOR:
            raise ProtocolError(BAD_MESSAGE, "binary frames are accepted only from Detectors")
        if self.phase is Phase.DISCARDING:
            return None
        if self.phase is not Phase.UPLOADING or self.upload is None:
            raise ProtocolError(BAD_MESSAGE, "binary frame with no sd:upload_begin")
        upload = self.upload
        if upload.held + length > upload.size:
            raise ProtocolError(TOO_LARGE, f"{upload.path}: more bytes than the {upload.size} announced")
        upload.received += length
        return upload
