"""The headless view: one readable line per event (time, execution, passenger, step, state)."""

from __future__ import annotations

from typing import TextIO

from app.events import Event


def format_event(event: Event) -> str:
    data = event.data
    ts = str(data.get("ts", ""))[11:19]
    parts = [ts, f"{event.type:<24}"]
    if "execution_id" in data:
        parts.append(f"exec {data['execution_id']}")
    passenger = data.get("passenger")
    if isinstance(passenger, dict) and passenger.get("passenger_name"):
        parts.append(f"{passenger['passenger_name']} ({passenger.get('booking_id', '?')})")
    if data.get("step"):
        step = data["step"] + (f"[{data['key']}]" if data.get("key") else "")
        parts.append(step)
    if data.get("status"):
        parts.append(str(data["status"]))
    if data.get("duration_ms") is not None:
        parts.append(f"{data['duration_ms']} ms")
    for field in ("detector_id", "card_id", "path", "error"):
        if data.get(field) and not (field == "detector_id" and event.type.startswith("pipeline:step")):
            parts.append(f"{field}={data[field]}")
    if event.type == "transfer:progress" and data.get("total"):
        parts.append(f"{100 * data['bytes'] // data['total']}%")
    return "  ".join(parts)


class ConsoleView:
    # Transfer progress arrives up to 4 times a second per file: the console shows only the ends.
    QUIET = {"transfer:progress"}

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def show(self, event: Event) -> None:
        if event.type in self.QUIET and event.data.get("bytes") not in (0, event.data.get("total")):
            return
        print(format_event(event), file=self.out, flush=True)
