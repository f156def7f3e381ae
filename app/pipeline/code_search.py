"""How one clip is searched for its passenger code, cheapest way first (DESIGN.md, "Where a
code can be"):

1. a clip already here (a small clip, fetched first) is read where it lies;
2. a big clip's GoPro proxy of the same chapter (`GL…LRV` beside `GX…MP4`), when the card has
   one; a proxy that shows no code falls through;
3. slices of the clip from a Detector that announced `range`: its head, and its MP4 index
   when that sits beyond the head (the tail), read as one sparse local file;
4. else the whole clip (which is then imported, as it would be anyway).

`next_move` decides, from the database alone, what the `decode_qr` step does next, so the step
can be run again after any wake, crash or retry.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.db.models import ExecutionFile, FileProbe, FileState, PipelineExecution
from app.media.mp4_boxes import index_range_beyond
from app.pipeline import probes
from app.pipeline.base import StepContext
from app.pipeline.fetching import fetch_files
from app.pipeline.import_options import ImportOptions
from app.pipeline.library import Library

WHOLE, PROXY, SLICES, NONE = "whole", "proxy", "slices", "none"


@dataclass
class Move:
    """`wait` for bytes, `scan` a file, or `done` without a scan (the clip cannot be had)."""

    action: str
    method: str = NONE
    path: Path | None = None  # the file to scan
    slices: list[FileProbe] = field(default_factory=list)  # assembled into `path` before the scan
    probe_ids: list[int] = field(default_factory=list)  # the probes this scan uses up
    cost: int = 0  # bytes moved to search this clip so far
    reason: str = ""
    request_id: str | None = None  # opened now: to announce
    size: int = 0
    failed: bool = False  # the clip's copy failed for good (the step fails; retry fetches again)


def next_move(session: Session, ctx: StepContext, file_id: int, library: Library) -> Move:
    clip = session.get_one(ExecutionFile, file_id)
    execution = session.get_one(PipelineExecution, clip.execution_id)
    options = ImportOptions.of(execution, ctx.settings)
    mine = probes.probes_of(session, file_id)
    cost = probes.stored_bytes(mine)
    if clip.state == FileState.STORED and clip.stored_path:
        return Move("scan", WHOLE, Path(clip.stored_path), cost=cost + clip.size, size=clip.size)
    big = clip.size >= options.small_file_bytes
    if big and clip.state == FileState.LISTED:
        listing = {f["path"]: f["size"] for f in execution.params.get("files", [])}
        proxy = probes.proxy_path(clip.path, list(listing))
        if proxy is not None:
            move = _proxy_move(session, ctx, execution, clip, [p for p in mine if p.kind == probes.PROXY],
                               proxy, listing[proxy], cost)
            if move is not None:
                return move
        if probes.RANGE in execution.params.get("capabilities", []) and clip.size > options.probe_head_bytes:
            move = _slices_move(session, ctx, execution, clip, mine, options.probe_head_bytes, library, cost)
            if move is not None:
                return move
    progress = fetch_files(session, ctx, [clip])
    if progress.failed:
        return Move("done", NONE, cost=cost, reason="; ".join(progress.failed), failed=True)
    if progress.missing:
        return Move("done", NONE, cost=cost, reason="; ".join(progress.missing))
    return Move("wait", WHOLE, cost=cost, reason="the whole clip", request_id=progress.request_id, size=clip.size)


def _proxy_move(session: Session, ctx: StepContext, execution: PipelineExecution, clip: ExecutionFile,
                asked: list[FileProbe], proxy: str, size: int, cost: int) -> Move | None:
    if not asked:
        probe = probes.ask(session, execution, clip, kind=probes.PROXY, path=proxy, size=size, step_id=ctx.step_id)
        return Move("wait", PROXY, cost=cost, reason=f"its proxy {proxy}", request_id=probe.request_id, size=size)
    probe = asked[-1]
    if probe.state == probes.REQUESTED:
        return Move("wait", PROXY, cost=cost, reason=f"its proxy {proxy}")
    if probe.state == probes.STORED and probe.stored_path:
        return Move("scan", PROXY, Path(probe.stored_path), probe_ids=[probe.id], cost=cost, size=size)
    return None  # searched without a code, or could not be had: the next way


def _slices_move(session: Session, ctx: StepContext, execution: PipelineExecution, clip: ExecutionFile,
                 mine: list[FileProbe], head_bytes: int, library: Library, cost: int) -> Move | None:
    heads = [p for p in mine if p.kind == probes.HEAD]
    if not heads:
        probe = probes.ask(session, execution, clip, kind=probes.HEAD, path=clip.path, size=clip.size,
                           offset=0, length=head_bytes, step_id=ctx.step_id)
        return Move("wait", SLICES, cost=cost, reason=f"its first {head_bytes} bytes", request_id=probe.request_id)
    head = heads[-1]
    if head.state == probes.REQUESTED:
        return Move("wait", SLICES, cost=cost, reason="its head")
    if head.state != probes.STORED or not head.stored_path:
        return None
    tails = [p for p in mine if p.kind == probes.TAIL]
    if not tails:
        index = _index_range(Path(head.stored_path), clip.size)
        if index is not None:
            start, end = index
            probe = probes.ask(session, execution, clip, kind=probes.TAIL, path=clip.path, size=clip.size,
                               offset=start, length=end - start, step_id=ctx.step_id)
            return Move("wait", SLICES, cost=cost, reason=f"its index ({end - start} bytes at {start})",
                        request_id=probe.request_id)
        tail = None
    else:
        tail = tails[-1]
        if tail.state == probes.REQUESTED:
            return Move("wait", SLICES, cost=cost, reason="its index")
        if tail.state != probes.STORED:
            return None
    slices = [head] + ([tail] if tail is not None else [])
    sparse = probes.staged_path(library, execution.id, head).with_suffix(".mp4")
    return Move("scan", SLICES, sparse, slices=slices, probe_ids=[p.id for p in slices], cost=cost, size=clip.size)


def _index_range(head: Path, size: int) -> tuple[int, int] | None:
    with open(head, "rb") as fh:
        if fh.seek(0, 2) == 0:
            return None
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return index_range_beyond(data, size)  # type: ignore[arg-type]


def search_record(move: Move, found: bool, error: str | None = None,
                  camera_serial: str | None = None) -> dict[str, Any]:
    """What `execution_file.search` keeps: how the clip was searched and what it cost (and the
    camera's serial when the bytes read held it: the clip's own index, not a proxy's)."""
    record: dict[str, Any] = {"method": move.method, "bytes": move.cost, "found": found}
    if error:
        record["error"] = error
    if camera_serial:
        record["camera_serial"] = camera_serial
    return record
