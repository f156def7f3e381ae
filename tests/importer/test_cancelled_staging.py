"""A cancelled import runs no more steps, so nothing of its own clears what it left in the
library's staging folder; the station does when it starts: partial uploads and scratch bytes go,
a complete file never filed is kept, and an import still open keeps its partial (for a resume)."""

from __future__ import annotations

from app.db.models import ExecutionState, PipelineExecution
from app.pipeline.library import Library
from tests.importer.loopback import LoopbackDetector, start_station, wait_execution


def listing() -> list[dict]:
    return [{"path": f"DCIM/100GOPRO/GX01000{n}.MP4", "size": 1_000 + n, "modified": f"2026-11-23T10:0{n}:00Z"}
            for n in range(3)]


async def test_a_cancelled_imports_partial_files_go_when_the_station_starts(tmp_path):
    data = tmp_path / "data"
    station = await start_station(data, small_file_bytes=10_000_000)
    try:
        station.orchestrator.link = LoopbackDetector(tmp_path / "card", station, online=False)  # asked, never served
        cancelled = await station.orchestrator.file_list("desk-left", "CARD-X", None, None, listing())
        still_open = await station.orchestrator.file_list("desk-left", "CARD-Y", None, None, listing())
        await station.engine.cancel(cancelled.execution_id)
        assert await wait_execution(station, cancelled.execution_id, ExecutionState.CANCELLED.value) == "cancelled"
        assert await station.db.read(lambda s: s.get(PipelineExecution, still_open.execution_id).state) != "cancelled"
    finally:
        await station.stop()

    library = Library(station.settings.library)
    left = library.staging_dir(cancelled.execution_id)
    partial = library.partial_path(cancelled.execution_id, 7, "DCIM/100GOPRO/GX010007.MP4")
    probe = left / "probes" / "3.bin"
    complete = library.staged_path(cancelled.execution_id, 9, "DCIM/100GOPRO/GX010009.MP4")
    resumable = library.partial_path(still_open.execution_id, 4, "DCIM/100GOPRO/GX010004.MP4")
    for path in (partial, probe, complete, resumable):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\0" * 4096)

    station = await start_station(data, small_file_bytes=10_000_000)
    await station.stop()
    assert not partial.exists() and not probe.exists()
    assert complete.read_bytes() == b"\0" * 4096, "a complete file is never deleted"
    assert resumable.exists(), "an open import keeps its partial upload for a resume"
