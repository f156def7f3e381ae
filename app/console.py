"""The headless view: one readable line per event (time, execution, passenger, step, state,
duration), on the console and in the log file."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from app.core_events import WireEvent
from app.events import Event

if TYPE_CHECKING:
    from app.console_out import ConsoleOut

log = logging.getLogger("app.events")


class PassengerMemory:
    """Which passenger a step works for, learnt from the events themselves: a QR code names the
    jump's passenger (its steps are keyed by the jump id) and the clip that opened it."""

    def __init__(self) -> None:
        self._names: dict[tuple[Any, str], str] = {}
        self._keys: dict[Any, str] = {}  # step id -> key (`pipeline:failed` names the step, not its key)
        self._by_record: dict[int, str] = {}  # passenger record id -> name (`passenger:updated`)

    def learn(self, event: WireEvent) -> None:
        data = event.data
        if data.get("step_id") is not None and data.get("key"):
            self._keys[data["step_id"]] = str(data["key"])
        passenger = data.get("passenger")
        if event.type != "pipeline:qr_decoded" or not isinstance(passenger, dict):
            return
        name = _passenger_label(passenger)
        execution = data.get("execution_id")
        if data.get("jump_id") is not None:
            self._names[(execution, str(data["jump_id"]))] = name
        if data.get("passenger_id") is not None:  # the passenger's render is keyed by their record
            self._names[(execution, f"passenger-{data['passenger_id']}")] = name
            self._by_record[data["passenger_id"]] = name
        if data.get("clip"):
            self._names[(execution, str(data["clip"]))] = name

    def name_for(self, data: dict[str, Any]) -> str | None:
        passenger = data.get("passenger")
        if isinstance(passenger, dict) and passenger.get("passenger_name"):
            return _passenger_label(passenger)
        if isinstance(data.get("passenger_id"), int) and data["passenger_id"] in self._by_record:
            return self._by_record[data["passenger_id"]]
        return self._names.get((data.get("execution_id"), self.key_for(data)))

    def key_for(self, data: dict[str, Any]) -> str:
        return str(data.get("key") or self._keys.get(data.get("step_id"), ""))


def _passenger_label(passenger: dict[str, Any]) -> str:
    return f"{passenger.get('passenger_name', '?')} ({passenger.get('booking_id', '?')})"


def format_event(event: WireEvent, passenger: str | None = None) -> str:
    data = event.data
    ts = str(data.get("ts", ""))[11:19]
    parts = [ts, f"{event.type:<24}"]
    if "execution_id" in data:
        parts.append(f"exec {data['execution_id']}")
    if passenger is None:
        passenger = PassengerMemory().name_for(data)
    if passenger:
        parts.append(passenger)
    if data.get("step"):
        step = data["step"] + (f"[{data['key']}]" if data.get("key") else "")
        if data.get("step_id") is not None:
            step += f" #{data['step_id']}"
        parts.append(step)
    if data.get("status"):
        parts.append(str(data["status"]))
    if data.get("duration_ms") is not None:
        parts.append(f"{data['duration_ms']} ms")
    for field in ("detector_id", "card_id", "path", "error"):
        if data.get(field) and not (field == "detector_id" and event.type.startswith("pipeline:step")):
            parts.append(f"{field}={data[field]}")
    if event.type == "passenger:updated":
        reason, state = str(data.get("reason") or ""), data.get("video_state")
        parts.append(reason + (f"  video {state}" if state and str(state) not in reason else ""))
    if event.type == "transfer:progress" and data.get("total"):
        parts.append(f"{100 * data['bytes'] // data['total']}%")
    if event.type == "pipeline:completed":
        names = [_passenger_label(j["passenger"]) for j in data.get("jumps") or []
                 if isinstance(j, dict) and isinstance(j.get("passenger"), dict)]
        parts.append(f"files={data.get('files_imported', 0)}" + (f"  ready: {', '.join(names)}" if names else ""))
    return "  ".join(parts)


class ConsoleView:
    # Transfer progress arrives up to 4 times a second per file: the console shows only the ends.
    QUIET = {"transfer:progress"}

    def __init__(self, out: ConsoleOut) -> None:
        self.out = out
        self.passengers = PassengerMemory()

    def show(self, event: WireEvent) -> None:
        self.passengers.learn(event)
        if event.type in self.QUIET and event.data.get("bytes") not in (0, event.data.get("total")):
            return
        data = event.data
        if data.get("step") and not data.get("key") and self.passengers.key_for(data):
            data = {**data, "key": self.passengers.key_for(data)}
        line = format_event(Event(event.type, data), self.passengers.name_for(data))
        self.out.line(line)
        log.info("%s", line)  # the log file keeps the same story (headless logs go to the file only)
