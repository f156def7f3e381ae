"""A day of passengers for a view that shows clip durations (the window): the JSON views of
`app.pipeline.passengers_read` (the same the `/ui` channel answers) with the clips' durations."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from app.pipeline.passengers_read import (
    clip_durations,
    days_with_passengers,
    passenger_by_id,
    passengers_of_day,
    unassigned_of_day,
)


@dataclass(frozen=True)
class PassengersDay:
    day: str
    days: tuple[str, ...]  # every day with passengers, newest first
    passengers: tuple[dict[str, Any], ...]  # `passenger_view` dicts
    unassigned: tuple[dict[str, Any], ...]  # clip dicts no passenger claims
    durations: dict[int, float] = field(default_factory=dict)  # file id -> seconds


@dataclass(frozen=True)
class PassengerRead:
    view: dict[str, Any]
    durations: dict[int, float] = field(default_factory=dict)


def _durations_of(session: Session, clips: list[dict[str, Any]]) -> dict[int, float]:
    return clip_durations(session, [int(c["file_id"]) for c in clips])


def passengers_day(session: Session, day: str | None, fallback_day: str) -> PassengersDay:
    """The passengers of `day`; with None, of the newest day that has passengers (else
    `fallback_day`, the desk's today)."""
    days = tuple(days_with_passengers(session))
    shown = day or (days[0] if days else fallback_day)
    views = passengers_of_day(session, shown)
    loose = unassigned_of_day(session, shown)
    durations = _durations_of(session, [c for v in views for c in v["clips"]] + loose)
    return PassengersDay(shown, days, tuple(views), tuple(loose), durations)


def passenger(session: Session, passenger_id: int) -> PassengerRead | None:
    view = passenger_by_id(session, passenger_id)
    if view is None:
        return None
    return PassengerRead(view, _durations_of(session, view["clips"]))
