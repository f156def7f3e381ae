"""What the station sends a Detector, checked before the Detector acts on it.

A station is a peer on the LAN, not a trusted party: every field the Detector uses is checked
(type, range, card path); fields it does not know are ignored (docs/protocol.md, "Additions").
A message that fails a check raises `BadStationMessage`; the agent logs it and goes on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.net.protocol import (
    CARD_ID, DEFAULT_CHUNK_SIZE, MAX_FILES, REQUEST_ID, Check, absolute_path, boolean, card_path, integer,
    optional, path_problem, sha256_hex, text, timestamp,
)

# Frames the Detector sends: never fewer bytes than this (a station announcing 1 byte would make
# a card cost a frame per byte), never more (a frame is held in memory on both ends).
MIN_CHUNK_SIZE = 4 * 1024
MAX_CHUNK_SIZE = 16 * 1024 * 1024
MAX_LOGGED_CHARS = 300  # of a station's text in the Detector's log


class BadStationMessage(ValueError):
    """The station sent something the Detector cannot act on."""


def shorten(value: Any, limit: int = MAX_LOGGED_CHARS) -> str:
    """A bounded, single-line rendering of a station's value for the log."""
    rendered = value if isinstance(value, str) else repr(value)
    rendered = rendered.replace("\n", "\\n").replace("\r", "\\r")
    return rendered if len(rendered) <= limit else f"{rendered[:limit]}… ({len(rendered)} characters)"


def pick(name: str, value: Any, required: Mapping[str, Check], optional_fields: Mapping[str, Check] | None = None,
         ) -> dict[str, Any]:
    """The checked fields of an object; unknown fields are ignored."""
    if not isinstance(value, dict):
        raise BadStationMessage(f"{name} must be an object")
    out: dict[str, Any] = {}
    try:
        for key, check in required.items():
            if key not in value:
                raise BadStationMessage(f"{name}: missing field {key!r}")
            out[key] = check(f"{name}.{key}", value[key])
        for key, check in (optional_fields or {}).items():
            out[key] = check(f"{name}.{key}", value.get(key))
    except ValueError as exc:
        raise BadStationMessage(shorten(str(exc))) from None
    return out


@dataclass(frozen=True)
class CopyEntry:
    path: str
    size: int
    offset: int
    length: int | None  # `range`: only [offset, offset + length)


@dataclass(frozen=True)
class CopyRequest:
    request_id: str
    card_id: str
    mode: str
    files: tuple[CopyEntry, ...]
    dest_dir: str | None


@dataclass(frozen=True)
class WipeEntry:
    path: str
    size: int
    modified: datetime  # aware: as the protocol's timestamp check parsed it


@dataclass(frozen=True)
class WipeRequest:
    request_id: str
    card_id: str
    files: tuple[WipeEntry, ...]
    malformed: tuple[str, ...]  # card paths of entries whose other fields failed their checks: kept
    ignored: int = 0  # entries without a card path: neither acted on nor answered


def _entries(name: str, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise BadStationMessage(f"{name} must be a list")
    if len(value) > MAX_FILES:
        raise BadStationMessage(f"{name} has more than {MAX_FILES} entries")
    return value


def copy_request(data: Any) -> CopyRequest:
    head = pick("sd:copy_request", data, {"request_id": REQUEST_ID, "card_id": CARD_ID, "mode": text(16)},
                {"dest_dir": optional(absolute_path)})
    files = []
    for i, raw in enumerate(_entries("sd:copy_request.files", data.get("files"))):
        entry = pick(f"files[{i}]", raw, {"path": card_path, "size": integer(0)},
                     {"offset": optional(integer(0)), "length": optional(integer(1))})
        files.append(CopyEntry(entry["path"], entry["size"], entry["offset"] or 0, entry["length"]))
    return CopyRequest(head["request_id"], head["card_id"], head["mode"], tuple(files), head["dest_dir"])


def copy_cancel(data: Any) -> str:
    """The request id to stop."""
    request_id: str = pick("sd:copy_cancel", data, {"request_id": REQUEST_ID})["request_id"]
    return request_id


def card_status(data: Any) -> dict[str, Any]:
    return pick("sd:card_status", data, {"card_id": CARD_ID, "state": text(32), "safe_to_format": boolean},
                {"execution_id": optional(integer(0)), "files_total": optional(integer(0)),
                 "files_verified": optional(integer(0))})


def wipe_request(data: Any) -> WipeRequest:
    head = pick("sd:wipe_request", data, {"request_id": REQUEST_ID, "card_id": CARD_ID})
    files: list[WipeEntry] = []
    malformed: list[str] = []
    ignored = 0
    for i, raw in enumerate(_entries("sd:wipe_request.files", data.get("files"))):
        try:
            entry = pick(f"files[{i}]", raw, {"path": card_path, "size": integer(0), "modified": timestamp},
                         {"sha256": optional(sha256_hex)})
        except BadStationMessage:
            path = raw.get("path") if isinstance(raw, dict) else None
            if isinstance(path, str) and path_problem(path) is None:  # kept; a bad path is neither echoed nor acted on
                malformed.append(path)
            else:
                ignored += 1
            continue
        files.append(WipeEntry(entry["path"], entry["size"], entry["modified"]))
    return WipeRequest(head["request_id"], head["card_id"], tuple(files), tuple(malformed), ignored)


def chunk_size(welcome_data: Any) -> int:
    """The frame size the station announced, held to [MIN_CHUNK_SIZE, MAX_CHUNK_SIZE]."""
    raw = welcome_data.get("chunk_size") if isinstance(welcome_data, dict) else None
    if not isinstance(raw, int) or isinstance(raw, bool):
        return DEFAULT_CHUNK_SIZE
    return min(max(raw, MIN_CHUNK_SIZE), MAX_CHUNK_SIZE)
