"""The seam between the net layer and the orchestrator (docs/architecture.md, "Orchestrator").

The net layer validates messages and moves bytes; the orchestrator decides what they mean.
These Protocols say what the net layer calls, so it is typed without importing the pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class FileListAckLike(Protocol):
    execution_id: int
    files_total: int
    files_new: int


class UploadTargetLike(Protocol):
    partial_path: Any  # str or Path
    final_path: Any


class OrchestratorPort(Protocol):
    async def file_list(self, detector_id: str, card_id: str, label: str | None, slot: str | None,
                        files: Sequence[dict[str, Any]]) -> FileListAckLike: ...

    # Each call names the Detector that sent the message: a request is answered only from the
    # Detector it was sent to. Refusals are `app.refusals.TransferRefused` (answered with its code).
    async def begin_upload(self, detector_id: str, request_id: str, path: str, size: int,
                           offset: int) -> UploadTargetLike: ...

    async def file_stored(self, detector_id: str, request_id: str, path: str, final_path: str, sha256: str,
                          size: int) -> None: ...

    async def file_rejected(self, detector_id: str, request_id: str, path: str, reason: str) -> None: ...

    async def storage_failed(self, detector_id: str, request_id: str, path: str, reason: str) -> None: ...

    async def copy_error(self, detector_id: str, request_id: str, path: str, error: str, retryable: bool) -> None: ...

    async def card_removed(self, detector_id: str, card_id: str) -> None: ...

    async def detector_connected(self, detector_id: str) -> None: ...

    async def detector_disconnected(self, detector_id: str) -> None: ...

    async def wipe_done(self, detector_id: str, data: dict[str, Any]) -> None: ...
    async def passengers(self, day: str) -> dict[str, Any]: ...

    async def move_clip(self, file_id: int, passenger_id: int | None) -> dict[str, Any]: ...

    async def rerender(self, passenger_id: int) -> int: ...


class EnginePort(Protocol):
    async def list_executions(self, limit: int) -> list[dict[str, Any]]: ...

    async def retry(self, execution_id: int, step_id: int) -> Any: ...

    async def retry_failed(self, execution_id: int) -> list[int]: ...

    async def cancel(self, execution_id: int) -> Any: ...


def is_named(exc: BaseException, *names: str) -> bool:
    """True when `exc` is (a subclass of) an exception class with one of these names.

    The orchestrator's `UnknownRequest` lives in app/pipeline; matching by name keeps this
    layer free of a pipeline import (the pipeline imports the net layer's `DetectorLink`)."""
    return any(cls.__name__ in names for cls in type(exc).__mro__)
