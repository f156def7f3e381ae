"""Every event the core announces, one frozen dataclass each (the catalogue: docs/protocol.md,
"UI channel").

To add an event: a class here with its wire name in `TYPE` and its fields named as on the wire,
then publish it with `bus.publish(TheEvent(...))`. Subscribers (the window, the headless console,
the `/ui` socket, the core's own services) receive the object itself: match on its class, or read
`.type` / `.data`, the wire form made by `to_wire` below, the one place events become JSON.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, ClassVar, Protocol


def utc_timestamp() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class WireEvent(Protocol):
    """What a view reads of any event: its wire name and its fields."""

    @property
    def type(self) -> str: ...

    @property
    def data(self) -> dict[str, Any]: ...


@dataclass(frozen=True, kw_only=True)
class CoreEvent:
    TYPE: ClassVar[str] = ""
    # Optional fields left out of the wire form while they are None.
    OMIT_WHEN_NONE: ClassVar[frozenset[str]] = frozenset()
    # A mapping field whose items are sent as fields of their own (hook-made extras).
    FLATTEN: ClassVar[str | None] = None

    ts: str = field(default_factory=utc_timestamp)

    @property
    def type(self) -> str:
        return self.TYPE

    @property
    def data(self) -> dict[str, Any]:
        return to_wire(self)

    def to_message(self) -> dict[str, Any]:
        return {"type": self.type, "data": self.data}

    def ui_messages(self) -> list[dict[str, Any]]:
        """What a /ui client is sent for this event (one message, but where PROTOCOL.md's table
        must still be told in its own words)."""
        return [self.to_message()]


# -- detectors -------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class DetectorConnected(CoreEvent):
    TYPE = "detector:connected"
    detector_id: str
    name: str


@dataclass(frozen=True, kw_only=True)
class DetectorDisconnected(CoreEvent):
    TYPE = "detector:disconnected"
    detector_id: str
    name: str


@dataclass(frozen=True, kw_only=True)
class CardRemoved(CoreEvent):
    TYPE = "detector:card_removed"
    detector_id: str
    card_id: str


# -- executions and their steps --------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class PipelineStarted(CoreEvent):
    TYPE = "pipeline:started"
    execution_id: int
    card_id: str
    detector_id: str
    files_total: int
    files_new: int


@dataclass(frozen=True, kw_only=True)
class StepStarted(CoreEvent):
    TYPE = "pipeline:step_started"
    execution_id: int
    step_id: int
    step: str
    key: str
    attempt: int  # 1 on a first run; the window shows "attempt N" from it, never by counting


@dataclass(frozen=True, kw_only=True)
class StepCompleted(CoreEvent):
    TYPE = "pipeline:step_completed"
    execution_id: int
    step_id: int
    step: str
    key: str
    status: str  # succeeded | failed | skipped
    duration_ms: int
    progress: Mapping[str, int] | None = None  # {done, total} of the execution, once settled


@dataclass(frozen=True, kw_only=True)
class PipelineCompleted(CoreEvent):
    TYPE = "pipeline:completed"
    FLATTEN = "summary"
    execution_id: int
    summary: Mapping[str, Any] = field(default_factory=dict)  # the pipeline's on_completed fields


@dataclass(frozen=True, kw_only=True)
class PipelineFailed(CoreEvent):
    TYPE = "pipeline:failed"
    execution_id: int
    step_id: int | None
    step: str | None
    error: str


@dataclass(frozen=True, kw_only=True)
class PipelineCancelled(CoreEvent):
    """The crew cancelled the execution: its unfinished steps are `cancelled`."""
    TYPE = "pipeline:cancelled"
    execution_id: int
    cancelled_steps: int

    def ui_messages(self) -> list[dict[str, Any]]:
        # PROTOCOL.md ends an execution with `pipeline:completed` or `pipeline:failed`: a UI client
        # built to it also hears the cancel as a failure (`cancelled: true` tells them apart).
        failed = {"execution_id": self.execution_id, "step_id": None, "step": None, "error": "cancelled",
                  "cancelled": True, "ts": self.ts}
        return [self.to_message(), {"type": PipelineFailed.TYPE, "data": failed}]


@dataclass(frozen=True, kw_only=True)
class QrDecoded(CoreEvent):
    TYPE = "pipeline:qr_decoded"
    execution_id: int
    jump_id: int
    clip: str
    passenger: Mapping[str, Any]
    passenger_id: int | None
    camera: str | None


@dataclass(frozen=True, kw_only=True)
class ClipsAssigned(CoreEvent):
    TYPE = "pipeline:clips_assigned"
    execution_id: int
    jump_id: int
    file_ids: Sequence[int]


# -- transfers -------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class TransferRequested(CoreEvent):
    TYPE = "transfer:requested"
    execution_id: int
    request_id: str


@dataclass(frozen=True, kw_only=True)
class TransferProgress(CoreEvent):
    TYPE = "transfer:progress"
    execution_id: int | None  # None only when the transfer's execution cannot be found
    request_id: str
    path: str
    bytes: int
    total: int


# -- passengers and cards --------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class PassengerUpdated(CoreEvent):
    TYPE = "passenger:updated"
    OMIT_WHEN_NONE = frozenset({"execution_id", "day"})
    passenger_id: int
    video_state: str | None
    reason: str
    execution_id: int | None = None  # when a step sent it
    day: str | None = None  # when a command sent it


@dataclass(frozen=True, kw_only=True)
class CardStatusChanged(CoreEvent):
    TYPE = "card:status"
    execution_id: int
    card_id: str
    detector_id: str | None
    state: str
    files_total: int
    files_verified: int
    safe_to_format: bool


@dataclass(frozen=True, kw_only=True)
class CardWiped(CoreEvent):
    TYPE = "card:wiped"
    execution_id: int
    card_id: str
    detector_id: str
    request_id: str
    deleted: int
    kept: Sequence[Mapping[str, Any]]


EVENT_TYPES: dict[str, type[CoreEvent]] = {cls.TYPE: cls for cls in (
    DetectorConnected, DetectorDisconnected, CardRemoved, PipelineStarted, StepStarted, StepCompleted,
    PipelineCompleted, PipelineFailed, PipelineCancelled, QrDecoded, ClipsAssigned, TransferRequested,
    TransferProgress, PassengerUpdated, CardStatusChanged, CardWiped,
)}


# -- the wire form ---------------------------------------------------------------------------
def to_wire(event: CoreEvent) -> dict[str, Any]:
    """The event's `data` as docs/protocol.md spells it (JSON-ready, `ts` included)."""
    data: dict[str, Any] = {}
    for f in dataclasses.fields(event):
        value = _plain(getattr(event, f.name))
        if f.name == event.FLATTEN:
            data.update(value)
        elif not (value is None and f.name in event.OMIT_WHEN_NONE):
            data[f.name] = value
    data["ts"] = data.pop("ts")  # last, as the bus always wrote it
    return data


def from_wire(type_: str, data: Mapping[str, Any]) -> CoreEvent:
    """An event relayed as JSON (a remote worker's, over Redis) made typed again.
    Raises ValueError for an unknown type or fields that do not fit."""
    cls = EVENT_TYPES.get(type_)
    if cls is None:
        raise ValueError(f"unknown event type {type_!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    fields = {k: v for k, v in data.items() if k in names}
    if cls.FLATTEN is not None:
        fields[cls.FLATTEN] = {k: v for k, v in data.items() if k not in names}
    try:
        return cls(**fields)
    except TypeError as exc:
        raise ValueError(f"{type_}: {exc}") from exc


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):  # Sequence would take str
        return [_plain(v) for v in value]
    return value
