"""The rows of the Passengers view: plain, frozen values made from the read model's day of
passengers (`app.pipeline.read_model.passengers`: the dicts the `/ui` channel answers, with durations)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.pipeline.read_model import PassengerRead, PassengersDay

VIDEO_STATES = ("waiting", "rendering", "ready", "failed")


@dataclass(frozen=True)
class RowWarning:
    kind: str  # long_after_code, clock_reset, never_searched, unreadable, conflict
    message: str
    file_id: int | None = None


@dataclass(frozen=True)
class ClipRow:
    id: int  # the file's id
    name: str
    camera: str | None
    kind: str
    size: int
    stored_path: str | None
    duration_s: float | None
    placed_by_hand: bool
    readable: bool
    searched: bool  # a video looked at for a code (the proxy, slices or the whole clip)

    @property
    def marks(self) -> tuple[str, ...]:
        """What the crew should know about this clip, in words."""
        marks = []
        if not self.readable:
            marks.append("unreadable")
        if self.placed_by_hand:
            marks.append("placed by hand")
        if self.kind == "video" and not self.searched:
            marks.append("never searched")
        return tuple(marks)


@dataclass(frozen=True)
class PassengerRow:
    id: int
    booking_id: str
    passenger_name: str
    day: str
    conflict: bool
    folder: str
    cameras: tuple[str, ...]
    video_state: str
    video_path: str | None
    video_duration_s: float | None
    video_error: str | None
    qr_frame: str | None
    warnings: tuple[RowWarning, ...]
    clips: tuple[ClipRow, ...]
    booking: tuple[tuple[str, str], ...] = ()  # the code's other fields: package, instructor...


@dataclass(frozen=True)
class DayView:
    day: str
    days: tuple[str, ...]  # every day with passengers, newest first
    passengers: tuple[PassengerRow, ...]
    unassigned: tuple[ClipRow, ...]


def clip_row(clip: dict[str, Any], durations: dict[int, float] | None = None) -> ClipRow:
    search = clip.get("search")
    return ClipRow(
        id=int(clip["file_id"]), name=str(clip["name"]), camera=clip.get("camera"), kind=str(clip.get("kind") or ""),
        size=int(clip.get("size") or 0), stored_path=clip.get("stored_path"),
        duration_s=(durations or {}).get(int(clip["file_id"])), placed_by_hand=bool(clip.get("placed_by_hand")),
        readable=bool(clip.get("readable", True)),
        searched=isinstance(search, dict) and search.get("method") not in (None, "none"),
    )


def passenger_row(view: dict[str, Any], durations: dict[int, float] | None = None) -> PassengerRow:
    video = view.get("video") or {}
    return PassengerRow(
        id=int(view["passenger_id"]), booking_id=str(view["booking_id"]), passenger_name=str(view["passenger_name"]),
        day=str(view["day"]), conflict=bool(view.get("conflict")), folder=str(view.get("folder") or ""),
        cameras=tuple(view.get("cameras") or ()), video_state=str(video.get("state") or "waiting"),
        video_path=video.get("path"), video_duration_s=video.get("duration_s"), video_error=video.get("error"),
        qr_frame=view.get("qr_frame"),
        warnings=tuple(RowWarning(str(w["kind"]), str(w["message"]), w.get("file_id")) for w in view.get("warnings") or ()),
        clips=tuple(clip_row(c, durations) for c in view.get("clips") or ()),
        booking=tuple((str(k), str(v)) for k, v in (view.get("booking") or {}).items()),
    )


def day_view(read: PassengersDay) -> DayView:
    return DayView(read.day, read.days, tuple(passenger_row(v, read.durations) for v in read.passengers),
                   tuple(clip_row(c, read.durations) for c in read.unassigned))


def passenger_of(read: PassengerRead | None) -> PassengerRow | None:
    return passenger_row(read.view, read.durations) if read is not None else None
