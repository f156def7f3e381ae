"""Step names as the crew reads them in the tree ("decode_qr" -> "Read QR code")."""

from __future__ import annotations

from pathlib import PurePosixPath

FRIENDLY = {
    "receive_file_list": "Receive file list",
    "filter_new_files": "Find new files",
    "request_qr_videos": "Fetch short clips",
    "decode_qr": "Read QR code",
    "assign_jumps": "Group clips by passenger",
    "request_session_videos": "Fetch jump clips",
    "extract_metadata": "Read clip details",
    "mark_file_imported": "Record file",
    "render_final": "Render passenger video",
    "cleanup": "Clean up",
    "write_report": "Write offload report",
}

STATE_TEXT = {
    "pending": "pending",
    "queued": "queued",
    "running": "running",
    "waiting": "waiting",
    "succeeded": "done",
    "failed": "failed",
    "upstream_failed": "blocked",
    "cancelled": "cancelled",
    "skipped": "skipped",
}


def step_title(name: str, key: str) -> str:
    title = FRIENDLY.get(name, name.replace("_", " ").capitalize())
    if not key or key.isdigit():  # a jump's id says nothing the row's place does not
        return title
    shown = PurePosixPath(key).name if "/" in key else key
    return f"{title} · {shown}"


def state_text(state: str) -> str:
    return STATE_TEXT.get(state, state)
