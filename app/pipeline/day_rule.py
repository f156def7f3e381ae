"""Which day a passenger's jump (or a card's unassigned clips) is filed under.

One rule, for passengers and unassigned clips alike (DESIGN.md, "Day"):
1. the booking date from the passenger's code;
2. else the day the clip was filmed, when the camera's clock is plausible;
3. else the day the card's other clips agree on (the most common plausible day);
4. else the import day, only when nothing else is known.

Pure: the import time is given, never read from the machine's clock, so a card filmed 40 days
ago lands under its own day whatever day the station runs on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone

# Cameras whose battery ran flat restart at their firmware's epoch (GoPro: 2016-01-01 or
# 2015-01-01, many others 2000-01-01 or 1970): nothing before this is a real drop-zone day.
EARLIEST_PLAUSIBLE = datetime(2016, 1, 2, tzinfo=timezone.utc)
# A clip "from the future" by more than a time zone's worth is a camera clock set wrong.
FUTURE_SLACK = timedelta(hours=14)


def plausible_clock(clip_time: datetime, imported_at: datetime) -> bool:
    """Whether a camera's timestamp can be believed: not a reset date, not in the future."""
    when = _utc(clip_time)
    return EARLIEST_PLAUSIBLE <= when <= _utc(imported_at) + FUTURE_SLACK


def code_day(code_date: str | None) -> str | None:
    """The booking date of a passenger code, when it is a real date."""
    if not code_date:
        return None
    try:
        return date.fromisoformat(str(code_date)).isoformat()
    except ValueError:
        return None


def card_day(clip_times: Iterable[datetime], imported_at: datetime) -> str | None:
    """The day most of a card's plausible clip times agree on (ties: the earlier day)."""
    days = Counter(_utc(t).date() for t in clip_times if plausible_clock(t, imported_at))
    if not days:
        return None
    best = max(days.values())
    return min(day for day, count in days.items() if count == best).isoformat()


def jump_day(code_date: str | None, clip_time: datetime | None, card_times: Iterable[datetime],
             imported_at: datetime) -> str:
    """The folder day of one jump: see the module's rule."""
    from_code = code_day(code_date)
    if from_code is not None:
        return from_code
    if clip_time is not None and plausible_clock(clip_time, imported_at):
        return _utc(clip_time).date().isoformat()
    return card_day(card_times, imported_at) or _utc(imported_at).date().isoformat()


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
