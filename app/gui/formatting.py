"""Numbers as the crew reads them: sizes, speeds, durations, times of day."""

from __future__ import annotations

from datetime import datetime, timezone

from app.units import human_bytes

__all__ = ["human_bytes", "human_duration", "human_speed", "local_time", "parse_ts"]


def human_speed(bytes_per_s: float) -> str:
    return f"{human_bytes(bytes_per_s)}/s"


def human_duration(seconds: float | None) -> str:
    """0.4 s -> '0.4 s', 75 -> '1:15', 3725 -> '1:02:05'."""
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def local_time(moment: datetime | None) -> str:
    """A UTC timestamp as local wall-clock time; the date only when it is not today."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    local = moment.astimezone()
    if local.date() == datetime.now().astimezone().date():
        return local.strftime("%H:%M:%S")
    return local.strftime("%Y-%m-%d %H:%M")


def parse_ts(text: str | None) -> datetime | None:
    """An event's ISO 8601 `ts` ('...Z') as an aware datetime."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
