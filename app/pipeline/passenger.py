"""The passenger QR code payload (docs/protocol.md, "Passenger QR code payload").

`parse_passenger_code(text)` turns the text of a QR code into a `Passenger`, or raises
`NotPassengerCode` saying why it is not one (a URL on a T-shirt, a sticker, a broken JSON).
`booking_id` and `passenger_name` are required non-empty strings of at most 200 characters;
every other field is optional and kept exactly as it came.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MAX_FIELD_CHARS = 200
REQUIRED_FIELDS = ("booking_id", "passenger_name")
# The optional fields the crew sees beside the name (the window's details, `passengers:list`).
SHOWN_FIELDS = ("jump_date", "package", "instructor", "camera_flyer", "email")


def shown_fields(payload: dict[str, Any] | None) -> tuple[tuple[str, str], ...]:
    """The code's optional fields the crew sees, in a fixed order, as text; empty ones left out."""
    payload = payload or {}
    return tuple((name, str(payload[name])) for name in SHOWN_FIELDS if payload.get(name))


class NotPassengerCode(ValueError):
    """The QR code's text is not a passenger object."""


@dataclass(frozen=True)
class Passenger:
    booking_id: str
    passenger_name: str
    payload: dict[str, Any]  # the whole object as decoded, optional fields included


def parse_passenger_code(text: str) -> Passenger:
    """The passenger a QR code's text names; NotPassengerCode when it names none."""
    stripped = text.lstrip("\ufeff").strip()
    if not stripped.startswith("{"):
        raise NotPassengerCode(f"not a JSON object: {_preview(stripped)}")
    try:
        payload = json.loads(stripped)
    except (ValueError, RecursionError) as exc:
        raise NotPassengerCode(f"invalid JSON ({exc}): {_preview(stripped)}") from exc
    if not isinstance(payload, dict):
        raise NotPassengerCode(f"not a JSON object: {_preview(stripped)}")
    for key in REQUIRED_FIELDS:
        value = payload.get(key)
        if not isinstance(value, str) or not value.strip():
            raise NotPassengerCode(f"{key} missing or not a non-empty string")
        if len(value) > MAX_FIELD_CHARS:
            raise NotPassengerCode(f"{key} longer than {MAX_FIELD_CHARS} characters")
    return Passenger(booking_id=payload["booking_id"], passenger_name=payload["passenger_name"], payload=payload)


def is_passenger_code(text: str) -> bool:
    try:
        parse_passenger_code(text)
    except NotPassengerCode:
        return False
    return True


def _preview(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")
