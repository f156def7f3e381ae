"""The passengers of a day, as the crew sees them: one module of queries for every view (the
`/ui` channel's `passengers:list`, `GET /api/passengers`, the window's Passengers view).

Plain JSON-ready dicts; read-only (use it through `Database.read`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import ExecutionFile, Jump, Passenger, PipelineExecution
from app.pipeline.day_rule import plausible_clock
from app.pipeline.file_kinds import VIDEO
from app.pipeline.passenger import shown_fields

# A clip filmed this long after its jump's code is likely the next passenger's (their code missed).
LONG_AFTER_CODE = timedelta(minutes=30)


def passengers_of_day(session: Session, day: str) -> list[dict[str, Any]]:
    """Every passenger of `day` (YYYY-MM-DD), in the order their first code was read."""
    records = session.scalars(select(Passenger).where(Passenger.day == day).order_by(Passenger.id)).all()
    return [passenger_view(session, p) for p in records]


def unassigned_of_day(session: Session, day: str) -> list[dict[str, Any]]:
    """The day's clips no passenger claims (each card's clips filmed before its first code, and
    those the crew moved out), for the crew to give to a passenger."""
    jumps = session.scalars(select(Jump).where(Jump.unassigned.is_(True), Jump.jump_date == day)
                            .order_by(Jump.id)).all()
    return [_clip(f, jump) for jump in jumps for f in sorted(jump.files, key=lambda f: (f.modified, f.path))]


def days_with_passengers(session: Session) -> list[str]:
    """Every day that has passengers, newest first."""
    return list(session.scalars(select(Passenger.day).distinct().order_by(Passenger.day.desc())))


def passenger_by_id(session: Session, passenger_id: int) -> dict[str, Any] | None:
    record = session.get(Passenger, passenger_id)
    return passenger_view(session, record) if record is not None else None


def passenger_view(session: Session, passenger: Passenger) -> dict[str, Any]:
    clips: list[dict[str, Any]] = []
    warnings: list[dict[str, Any]] = []
    for jump in passenger.jumps:
        imported_at = session.get_one(PipelineExecution, jump.execution_id).created_at
        code_time = _code_time(jump)
        for f in sorted(jump.files, key=lambda f: (f.modified, f.path)):
            clips.append(_clip(f, jump))
            warnings += _clip_warnings(f, jump, code_time, imported_at)
    if passenger.conflict:
        others = session.scalars(select(Passenger.passenger_name).where(
            Passenger.booking_id == passenger.booking_id, Passenger.day == passenger.day,
            Passenger.id != passenger.id)).all()
        warnings.append({"kind": "conflict", "message": f"booking {passenger.booking_id} is also "
                         f"{', '.join(others)} on this day: check the code"})
    return {
        "passenger_id": passenger.id,
        "booking_id": passenger.booking_id,
        "passenger_name": passenger.passenger_name,
        "day": passenger.day,
        "conflict": passenger.conflict,
        "booking": dict(shown_fields(passenger.payload)),
        "folder": passenger.folder,
        "cameras": sorted({j.camera for j in passenger.jumps if j.camera}),
        "clips": clips,
        "video": {"state": passenger.video_state, "path": passenger.video_path, "duration_s": passenger.duration_s,
                  "error": passenger.video_error},
        "qr_frame": passenger.qr_frame_path,
        "warnings": warnings,
    }


def _clip(f: ExecutionFile, jump: Jump) -> dict[str, Any]:
    return {
        "file_id": f.id, "execution_id": f.execution_id, "camera": jump.camera, "card_id": jump.card_id,
        "path": f.path, "name": Path(f.stored_path).name if f.stored_path else Path(f.path).name,
        "stored_path": f.stored_path, "kind": f.kind, "size": f.size, "modified": f.modified.isoformat(),
        "state": f.state, "search": f.search, "placed_by_hand": f.placed_by_hand,
        "readable": not (f.media or {}).get("error"),
    }


def _code_time(jump: Jump) -> datetime | None:
    opener = next((f for f in jump.files if f.path == jump.qr_clip), None)
    return opener.modified if opener is not None else None


def _clip_warnings(f: ExecutionFile, jump: Jump, code_time: datetime | None,
                   imported_at: datetime) -> list[dict[str, Any]]:
    warnings = []
    name = Path(f.path).name
    if code_time is not None and f.modified - code_time > LONG_AFTER_CODE:
        minutes = int((f.modified - code_time).total_seconds() // 60)
        warnings.append({"kind": "long_after_code", "file_id": f.id,
                         "message": f"{name} was filmed {minutes} min after the code: another passenger's?"})
    if not plausible_clock(f.modified, imported_at):
        warnings.append({"kind": "clock_reset", "file_id": f.id, "camera": jump.camera,
                         "message": f"{name}: camera {jump.camera}'s clock looks reset ({f.modified.date()})"})
    if f.kind == VIDEO and (f.search is None or f.search.get("method") == "none"):
        warnings.append({"kind": "never_searched", "file_id": f.id,
                         "message": f"{name} was never searched for a code"})
    if f.kind == VIDEO and (f.media or {}).get("error"):
        warnings.append({"kind": "unreadable", "file_id": f.id, "message": f"{name} cannot be read: left out of the video"})
    return warnings


def clip_durations(session: Session, file_ids: list[int]) -> dict[int, float]:
    """Each clip's length in seconds, as its metadata step measured it (the window's clip rows);
    clips not measured (yet, or unreadable) are left out."""
    if not file_ids:
        return {}
    rows = session.execute(select(ExecutionFile.id, ExecutionFile.media).where(ExecutionFile.id.in_(file_ids)))
    return {file_id: float(media["duration_s"]) for file_id, media in rows
            if isinstance(media, dict) and isinstance(media.get("duration_s"), int | float)}
