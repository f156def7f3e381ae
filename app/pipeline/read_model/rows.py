"""The plain rows the views read (frozen: a view converts them to its own items, never edits them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any


@dataclass(frozen=True)
class ExecutionRow:
    id: int
    card_id: str
    card_label: str
    detector_id: str
    state: str
    files_total: int
    files_new: int
    created_at: datetime | None
    finished_at: datetime | None
    error: str | None = None


@dataclass(frozen=True)
class JumpRow:
    id: int
    execution_id: int
    unassigned: bool
    passenger_name: str
    booking_id: str
    qr_frame_path: str | None
    output_dir: str | None
    video_path: str | None
    clip_count: int
    total_duration_s: float | None
    # The rest of the QR payload the crew may want (instructor, camera flyer, package, e-mail).
    extra: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class StepRow:
    id: int
    execution_id: int
    name: str
    key: str
    state: str
    attempt: int
    progress_done: int
    progress_total: int
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    jump_id: int | None  # the passenger this step works for, None for card-wide steps


@dataclass(frozen=True)
class ClipRow:
    id: int
    execution_id: int
    jump_id: int | None
    path: str
    size: int
    state: str
    stored_path: str | None
    modified: datetime | None
    duration_s: float | None

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name


@dataclass(frozen=True)
class ExecutionSnapshot:
    execution: ExecutionRow
    jumps: tuple[JumpRow, ...]
    steps: tuple[StepRow, ...]
    clips: tuple[ClipRow, ...]  # only the unassigned jumps' clips: the crew assigns those by hand


@dataclass(frozen=True)
class StepDetails:
    step: StepRow
    worker_id: str | None
    params: dict[str, Any]
    inputs: dict[str, Any]
    output: dict[str, Any] | None
    logs: tuple[tuple[datetime | None, str, int, str], ...]  # (time, level, attempt, message)
    depends_on: tuple[str, ...] = field(default=())
