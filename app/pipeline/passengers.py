"""The passenger record (DESIGN.md, "The passenger is the unit"): one per (booking id, day),
made by the first code read for it, whichever card or camera it came from.

A code whose booking id is already a passenger of that day under another name is not merged
silently: it makes (or finds) a second record flagged `conflict`, for the crew to settle.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.models import ExecutionFile, Jump, Passenger, PipelineExecution, VideoState
from app.media.mp4_boxes import read_udta_strings
from app.pipeline.library import Library, safe_component


def same_name(a: str, b: str) -> bool:
    """Names as a person reads them: case, accents' encoding and spacing aside."""
    def norm(text: str) -> str:
        return " ".join(unicodedata.normalize("NFC", text).casefold().split())

    return norm(a) == norm(b)


def passenger_for(session: Session, payload: dict[str, Any], day: str, library: Library,
                  frame: str | None = None) -> Passenger:
    """The record of this code's passenger on `day`, created when it is the first code read for it."""
    booking_id, name = payload["booking_id"], payload["passenger_name"]
    same_booking = session.scalars(select(Passenger).where(Passenger.booking_id == booking_id,
                                                           Passenger.day == day).order_by(Passenger.id)).all()
    for record in same_booking:
        if same_name(record.passenger_name, name):
            if record.qr_frame_path is None and frame:
                record.qr_frame_path = frame
            return record
    record = Passenger(booking_id=booking_id, passenger_name=name, day=day, payload=payload,
                       folder=str(library.jump_dir(day, booking_id, name)), conflict=bool(same_booking),
                       qr_frame_path=frame, video_state=VideoState.WAITING)
    try:
        with session.begin_nested():  # another worker may make the same record at the same moment
            session.add(record)
    except IntegrityError:
        return session.scalars(select(Passenger).where(Passenger.booking_id == booking_id, Passenger.day == day,
                                                       Passenger.passenger_name == name)).one()
    return record


def camera_of(opener: ExecutionFile | None, execution: PipelineExecution) -> str:
    """The camera a jump was filmed with: its serial from the clip's GoPro metadata (read when
    the clip was searched, or from the clip when it is here), else the card's label, else its id."""
    serial = ((opener.search or {}).get("camera_serial") if opener is not None else None)
    if serial:
        return safe_component(serial)
    if opener is not None and opener.stored_path and Path(opener.stored_path).is_file():
        serial = read_udta_strings(Path(opener.stored_path)).get("CASN")
        if serial:
            return safe_component(serial)
    return safe_component(execution.card_label or execution.card_id or "card")


def camera_dir(passenger: Passenger, camera: str) -> Path:
    return Path(passenger.folder) / safe_component(camera)


def edit_order(passenger: Passenger) -> list[Jump]:
    """The passenger's jumps as an editor cuts them: each camera's footage in one piece, the
    cameras in the order they filmed the code (the outside flyer films the passenger's code
    before the exit, the handcam's comes with it), a camera's jumps in time order."""
    def code_time(jump: Jump) -> datetime:
        times = [f.modified for f in jump.files]
        return min(times) if times else jump.created_at

    by_camera: dict[str, list[Jump]] = {}
    for jump in passenger.jumps:
        by_camera.setdefault(jump.camera or "", []).append(jump)
    cameras = sorted(by_camera, key=lambda c: min(code_time(j) for j in by_camera[c]))
    return [jump for camera in cameras for jump in sorted(by_camera[camera], key=code_time)]
