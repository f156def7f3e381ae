"""The seam between the net layer and the orchestrator (docs/architecture.md, "Orchestrator").

The net layer validates messages and moves bytes; the orchestrator decides what they mean.
These Protocols say what the net layer calls, so it is typed without importing the pipeline.
What they refuse is raised as `app.refusals.Refused`; `app/net/errors.py` maps it to a code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class FileListAckLike(Protocol):
    @property
    def execution_id(self) -> int: ...
    @property
    def files_total(self) -> int: ...
    @property
    def files_new(self) -> int: ...


class UploadTargetLike(Protocol):
    @property
    def partial_path(self) -> Any: ...  # str or Path
    @property
    def final_path(self) -> Any: ...
    @property
    def execution_id(self) -> int: ...


class OrchestratorPort(Protocol):
    # `files`: the listing's entries, `modified` as sent and `modified_at` its aware datetime
    # (parsed once, by app/net/protocol.py).
    async def file_list(self, detector_id: str, card_id: str, label: str | None, slot: str | None,
                        files: Sequence[dict[str, Any]]) -> FileListAckLike: ...

    # Each call names the Detector that sent the message: a request is answered only from the
    # Detector it was sent to. Refusals are `app.refusals.TransferRefused`. With `length`, the
    # upload is a slice (`range`) of the file from `offset`.
    async def begin_upload(self, detector_id: str, request_id: str, path: str, size: int,
                           offset: int, length: int | None = None) -> UploadTargetLike: ...

    async def file_stored(self, detector_id: str, request_id: str, path: str, final_path: str, sha256: str,
                          size: int, offset: int = 0, length: int | None = None) -> None: ...

    async def file_rejected(self, detector_id: str, request_id: str, path: str, reason: str, offset: int = 0,
                            length: int | None = None) -> None: ...

    async def storage_failed(self, detector_id: str, request_id: str, path: str, reason: str) -> None: ...

    async def copy_error(self, detector_id: str, request_id: str, path: str, error: str, retryable: bool) -> None: ...

    async def card_removed(self, detector_id: str, card_id: str) -> None: ...

    async def detector_connected(self, detector_id: str) -> None: ...

    async def detector_disconnected(self, detector_id: str) -> None: ...

    async def wipe_done(self, detector_id: str, data: dict[str, Any]) -> None: ...

    # UI commands: PassengerNotFound, MoveRefused.
    async def passengers(self, day: str) -> dict[str, Any]: ...

    async def move_clip(self, file_id: int, passenger_id: int | None) -> dict[str, Any]: ...

    async def rerender(self, passenger_id: int) -> int: ...


class EnginePort(Protocol):
    async def list_executions(self, limit: int) -> list[dict[str, Any]]: ...

    # Refusals: NotFound (no such execution or step), RetryRefused (the step is not failed).
    async def retry(self, execution_id: int, step_id: int) -> list[int]: ...

    async def retry_failed(self, execution_id: int) -> list[int]: ...

    async def cancel(self, execution_id: int) -> int: ...
