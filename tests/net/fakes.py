"""A test double of the orchestrator (docs/architecture.md, "Orchestrator") that records every
call and hands out partial/final paths inside the station's library, like the real one."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.refusals import NotFound, UnknownRequest


@dataclass
class Ack:
    execution_id: int
    files_total: int
    files_new: int


@dataclass
class Target:
    partial_path: Path
    final_path: Path
    execution_id: int = 7


@dataclass
class RecordingOrchestrator:
    library: Path
    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    issued: dict[str, set[str]] = field(default_factory=dict)
    link: Any = None
    resend_on_list: list[dict[str, Any]] = field(default_factory=list)
    refuse: Exception | None = None  # what `move_clip` raises, when set

    def issue(self, request_id: str, *paths: str) -> None:
        self.issued[request_id] = set(paths)

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def args_of(self, name: str) -> list[tuple[Any, ...]]:
        return [args for called, args in self.calls if called == name]

    def staged(self, path: str) -> Path:
        return self.library / ".ingest-staging" / "7" / "files" / path

    async def file_list(self, detector_id, card_id, label, slot, files):
        self.calls.append(("file_list", (detector_id, card_id, label, slot, files)))
        if self.link is not None:  # like a resumed import: open requests go out during the listing
            for request in self.resend_on_list:
                self.link.send_copy_request(detector_id, request)
        return Ack(7, len(files), len(files))

    async def begin_upload(self, detector_id, request_id, path, size, offset, length=None):
        self.calls.append(("begin_upload", (request_id, path, size, offset)))
        if path not in self.issued.get(request_id, ()):
            raise UnknownRequest(f"no open request {request_id} for {path}")
        final = self.staged(path)
        return Target(final.with_name(final.name + ".partial"), final)

    async def file_stored(self, detector_id, request_id, path, final_path, sha256, size, offset=0, length=None):
        self.calls.append(("file_stored", (request_id, path, final_path, sha256, size)))

    async def file_rejected(self, detector_id, request_id, path, reason, offset=0, length=None):
        self.calls.append(("file_rejected", (request_id, path, reason)))

    async def storage_failed(self, detector_id, request_id, path, reason):
        self.calls.append(("storage_failed", (request_id, path, reason)))

    async def copy_error(self, detector_id, request_id, path, error, retryable):
        self.calls.append(("copy_error", (request_id, path, error, retryable)))
        if request_id not in self.issued:
            raise UnknownRequest(request_id)

    async def card_removed(self, detector_id, card_id):
        self.calls.append(("card_removed", (detector_id, card_id)))

    async def detector_connected(self, detector_id):
        self.calls.append(("detector_connected", (detector_id,)))

    async def detector_disconnected(self, detector_id):
        self.calls.append(("detector_disconnected", (detector_id,)))

    async def move_clip(self, file_id, passenger_id):
        self.calls.append(("move_clip", (file_id, passenger_id)))
        if self.refuse is not None:
            raise self.refuse
        return {"file_id": file_id, "passenger_id": passenger_id, "jump_id": 1, "stored_path": "/library/x.MP4"}


@dataclass
class RecordingEngine:
    executions: list[dict[str, Any]] = field(default_factory=list)
    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    refuse: Exception | None = None  # what `retry` raises, when set

    async def list_executions(self, limit: int) -> list[dict[str, Any]]:
        self.calls.append(("list_executions", (limit,)))
        return self.executions[:limit]

    async def retry(self, execution_id: int, step_id: int) -> list[int]:
        self.calls.append(("retry", (execution_id, step_id)))
        if self.refuse is not None:
            raise self.refuse
        if not any(e["id"] == execution_id for e in self.executions):
            raise NotFound(f"no execution {execution_id}")
        return [step_id, step_id + 1]

    async def retry_failed(self, execution_id: int) -> list[int]:
        self.calls.append(("retry_failed", (execution_id,)))
        if not any(e["id"] == execution_id for e in self.executions):
            raise LookupError(f"no execution {execution_id}")
        return [11, 12]

    async def cancel(self, execution_id: int) -> int:
        self.calls.append(("cancel", (execution_id,)))
        if not any(e["id"] == execution_id for e in self.executions):
            raise NotFound(f"no execution {execution_id}")
        return 2
