"""Filing stored files into their jump's folder, and the folder's passenger.json."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.db.models import ExecutionFile, FileState, Jump
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


def write_passenger_json(jump: Jump) -> Path:
    folder = Path(jump.output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "passenger.json"
    tmp = folder / ".passenger.json.tmp"
    tmp.write_text(json.dumps(passenger_document(jump), indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    os.replace(tmp, target)
    return target
