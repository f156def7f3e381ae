"""Filing stored files into their jump's folder, and the folder's passenger.json."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.db.models import ExecutionFile, FileState, Jump, Passenger
from app.pipeline.library import already_filed, move_into
from app.pipeline.records import update_stored_path


def file_into_jump(session: Session, card_file: ExecutionFile, jump: Jump) -> Path | None:
    """Move a stored file from staging into its jump's folder (idempotent after a crash)."""
    if card_file.state != FileState.STORED or not card_file.stored_path or not jump.output_dir:
        return None
    folder, current = Path(jump.output_dir), Path(card_file.stored_path)
    if current.parent == folder:
        return current
    name = Path(card_file.path).name  # the staged file is named by its id: file it under the card's name
    moved = None if current.exists() else already_filed(folder, name, card_file.size, card_file.sha256)
    target = moved or move_into(current, folder, name)  # `moved`: before a crash, not recorded yet
    mtime = card_file.modified.timestamp()
    os.utime(target, (mtime, mtime))  # file managers then sort the clips in time order
    update_stored_path(session, card_file, target)
    return target


def passenger_document(jump: Jump) -> dict[str, Any]:
    return {
        "booking_id": jump.booking_id,
        "passenger_name": jump.passenger_name,
        "jump_date": jump.jump_date,
        "passenger": jump.passenger,
        "card_id": jump.card_id,
        "video": Path(jump.video_path).name if jump.video_path else None,
        "duration_s": jump.duration_s,
        "clips": [
            {"name": Path(f.stored_path).name if f.stored_path else Path(f.path).name, "card_path": f.path,
             "size": f.size, "modified": f.modified.isoformat(), "sha256": f.sha256, "state": f.state,
             "metadata": f.media}
            for f in sorted(jump.files, key=lambda f: (f.modified, f.path))
        ],
    }


def passenger_record_document(passenger: Passenger) -> dict[str, Any]:
    """passenger.json at the passenger's folder: every clip of every camera and card."""
    folder = Path(passenger.folder)
    clips = []
    for jump in passenger.jumps:
        for f in sorted(jump.files, key=lambda f: (f.modified, f.path)):
            stored = Path(f.stored_path) if f.stored_path else None
            name = (stored.relative_to(folder).as_posix() if stored and stored.is_relative_to(folder)
                    else Path(f.path).name)
            clips.append({"name": name, "camera": jump.camera, "card_id": jump.card_id, "card_path": f.path,
                          "size": f.size, "modified": f.modified.isoformat(), "sha256": f.sha256, "state": f.state,
                          "metadata": f.media})
    return {
        "booking_id": passenger.booking_id,
        "passenger_name": passenger.passenger_name,
        "jump_date": passenger.day,
        "passenger": passenger.payload,
        "conflict": passenger.conflict,
        "cameras": sorted({j.camera for j in passenger.jumps if j.camera}),
        "video": Path(passenger.video_path).name if passenger.video_path else None,
        "duration_s": passenger.duration_s,
        "clips": sorted(clips, key=lambda c: (c["modified"], c["card_path"])),
    }


def write_passenger_json(jump: Jump) -> Path:
    """The jump's passenger.json: the passenger's (all cameras) when it has a record, else the
    jump's own (a card's unassigned clips)."""
    if jump.passenger_record is not None:
        return _write_json(Path(jump.passenger_record.folder), passenger_record_document(jump.passenger_record))
    return _write_json(Path(jump.output_dir), passenger_document(jump))


def _write_json(folder: Path, document: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "passenger.json"
    # Its own temporary name: two cards of one passenger may write it at the same moment.
    tmp = folder / f".passenger.json.{os.getpid()}-{secrets.token_hex(4)}.tmp"
    tmp.write_text(json.dumps(document, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    os.replace(tmp, target)
    return target
