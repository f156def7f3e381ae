"""What the Detectors panel shows, kept from events: who is connected, which card each one
holds, and every transfer's bytes, speed and time left. Plain Python so it is easy to test."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from PySide6.QtCore import QObject, Signal

from app.events import Event

# Speed is smoothed so the time left does not jump with every progress message.
SPEED_SMOOTHING = 0.3
# A finished transfer stays visible this long so the crew sees it reach 100 %.
FINISHED_VISIBLE_S = 4.0


@dataclass
class Transfer:
    request_id: str
    path: str
    total: int
    bytes: int = 0
    speed: float = 0.0  # bytes per second
    started: float = 0.0
    updated: float = 0.0
    finished: float | None = None

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name

    @property
    def fraction(self) -> float:
        return min(1.0, self.bytes / self.total) if self.total else 1.0

    @property
    def seconds_left(self) -> float | None:
        if self.finished is not None:
            return 0.0
        if self.speed <= 0:
            return None
        return max(0.0, (self.total - self.bytes) / self.speed)


@dataclass
class CardInfo:
    card_id: str
    execution_id: int
    label: str = ""
    files_total: int = 0
    files_new: int = 0
    files_received: int = 0
    state: str = "importing"


@dataclass
class DetectorInfo:
    detector_id: str
    name: str = ""
    connected: bool = True
    card: CardInfo | None = None
    transfers: dict[tuple[str, str], Transfer] = field(default_factory=dict)


class DetectorsState(QObject):
    changed = Signal(str)  # detector id
    removed = Signal(str)

    def __init__(self, clock: Callable[[], float] = time.monotonic, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._clock = clock
        self.detectors: dict[str, DetectorInfo] = {}
        self._detector_of_execution: dict[int, str] = {}

    def get(self, detector_id: str) -> DetectorInfo | None:
        return self.detectors.get(detector_id)

    def _detector(self, detector_id: str) -> DetectorInfo:
        info = self.detectors.get(detector_id)
        if info is None:
            info = self.detectors[detector_id] = DetectorInfo(detector_id, name=detector_id)
        return info

    def apply_event(self, event: Event) -> None:
        data = event.data
        kind = event.type
        if kind == "detector:connected":
            info = self._detector(str(data.get("detector_id")))
            info.name = str(data.get("name") or info.detector_id)
            info.connected = True
            self.changed.emit(info.detector_id)
        elif kind == "detector:disconnected":
            info = self.detectors.get(str(data.get("detector_id")))
            if info is not None:
                info.connected = False
                for transfer in info.transfers.values():
                    transfer.speed = 0.0  # stalled until it reconnects and resumes
                self.changed.emit(info.detector_id)
        elif kind == "pipeline:started" and data.get("detector_id"):
            info = self._detector(str(data["detector_id"]))
            execution_id = int(data["execution_id"])
            self._detector_of_execution[execution_id] = info.detector_id
            info.card = CardInfo(
                card_id=str(data.get("card_id") or ""), execution_id=execution_id,
                files_total=int(data.get("files_total") or 0), files_new=int(data.get("files_new") or 0),
                label=info.card.label if info.card and info.card.card_id == data.get("card_id") else "",
            )
            info.transfers.clear()
            self.changed.emit(info.detector_id)
        elif kind == "transfer:progress":
            self._progress(data)
        elif kind in ("pipeline:completed", "pipeline:failed", "pipeline:cancelled"):
            info = self._by_execution(data.get("execution_id"))
            if info is not None and info.card is not None and info.card.execution_id == data.get("execution_id"):
                info.card.state = {"pipeline:completed": "done", "pipeline:cancelled": "cancelled"}.get(kind, "failed")
                # copies that never finished (rejected, cancelled) are over with the import
                for key in [k for k, t in info.transfers.items() if t.finished is None]:
                    del info.transfers[key]
                self.changed.emit(info.detector_id)
        elif kind in ("card:status", "card:wiped"):
            info = self._by_execution(data.get("execution_id"))
            if info is not None and info.card is not None and info.card.execution_id == data.get("execution_id"):
                if kind == "card:wiped":
                    info.card.state = "wiped"
                elif data.get("safe_to_format"):
                    info.card.state = "safe"  # every file read back from the library and matched
                elif data.get("state") == "incomplete" and info.card.state not in ("cancelled", "failed"):
                    info.card.state = "incomplete"  # (a cancelled or failed card already says why)
                self.changed.emit(info.detector_id)
        elif kind == "pipeline:step_started":
            info = self._by_execution(data.get("execution_id"))
            if info is not None and info.card is not None and info.card.state != "importing":
                info.card.state = "importing"  # a retry brought it back to life
                self.changed.emit(info.detector_id)

    def set_card_label(self, execution_id: int, label: str) -> None:
        info = self._by_execution(execution_id)
        if info is None or info.card is None or info.card.execution_id != execution_id or not label:
            return
        if info.card.label != label:
            info.card.label = label
            self.changed.emit(info.detector_id)

    def _by_execution(self, execution_id: object) -> DetectorInfo | None:
        detector_id = self._detector_of_execution.get(execution_id) if isinstance(execution_id, int) else None
        return self.detectors.get(detector_id) if detector_id else None

    def _progress(self, data: dict) -> None:
        info = self._by_execution(data.get("execution_id"))
        if info is None:
            return
        now = self._clock()
        key = (str(data.get("request_id")), str(data.get("path")))
        done, total = int(data.get("bytes") or 0), int(data.get("total") or 0)
        transfer = info.transfers.get(key)
        if transfer is None:
            # a new copy of the same file replaces the earlier, rejected one
            for old in [k for k, t in info.transfers.items() if k[1] == key[1] and t.finished is None]:
                del info.transfers[old]
            transfer = info.transfers[key] = Transfer(key[0], key[1], total, started=now, updated=now)
            transfer.bytes = done
        else:
            elapsed = now - transfer.updated
            if elapsed > 0 and done >= transfer.bytes:
                instant = (done - transfer.bytes) / elapsed
                transfer.speed = instant if transfer.speed == 0 else (
                    SPEED_SMOOTHING * instant + (1 - SPEED_SMOOTHING) * transfer.speed)
            transfer.bytes, transfer.total, transfer.updated = done, total, now
        if total and done >= total and transfer.finished is None:
            transfer.finished = now
            if info.card is not None:
                info.card.files_received += 1
        self.changed.emit(info.detector_id)

    def prune(self) -> None:
        """Drop transfers that finished a while ago (called by the panel's timer)."""
        now = self._clock()
        for info in self.detectors.values():
            stale = [key for key, t in info.transfers.items()
                     if t.finished is not None and now - t.finished > FINISHED_VISIBLE_S]
            for key in stale:
                del info.transfers[key]
            if stale:
                self.changed.emit(info.detector_id)

    def transfers_active(self) -> int:
        return sum(1 for info in self.detectors.values() for t in info.transfers.values() if t.finished is None)
