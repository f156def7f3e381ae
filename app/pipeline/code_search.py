"""How one clip is searched for its passenger code, cheapest way first (DESIGN.md, "Where a
code can be"):

1. a clip already here (a small clip, fetched first) is read where it lies;
2. a big clip's GoPro proxy of the same chapter (`GL…LRV` beside `GX…MP4`), when the card has
   one; a proxy that shows no code falls through;
3. slices of the clip from a Detector that announced `range`: a small head (`index_head_bytes`),
   the MP4 index wherever it sits (at the end on GoPros; box headers on the way to it asked as
   needed), then only the bytes of the first `qr_window_s` seconds, which the index places
   (`app/media/first_seconds.py`); all read as one sparse local file. When the index cannot be
   read that way, the rest of a fixed head (`probe_head_bytes`) instead;
4. else the whole clip (which is then imported, as it would be anyway).

`next_move` decides, from the database alone, what the `decode_qr` step does next, so the step
can be run again after any wake, crash or retry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.db.models import ExecutionFile, FileProbe, FileState, PipelineExecution
from app.media.errors import MediaReadError
from app.media.first_seconds import first_seconds_range
from app.media.mp4_boxes import find_index
from app.pipeline import probes
from app.pipeline.base import StepContext
from app.pipeline.fetching import fetch_files
from app.pipeline.import_options import ImportOptions
from app.pipeline.library import Library

# How a clip was searched: whole, its proxy, slices (index, then its first seconds), a fixed head.
WHOLE, PROXY, SLICES, HEAD, NONE = "whole", "proxy", "slices", "head", "none"
MAX_INDEX_SLICES = 8  # slices asked on the way to the index before giving up on it
INDEX_TAIL_BYTES = 16 * 1024 * 1024  # the rest of a clip after its mdat at most this: asked whole, as its index


@dataclass(frozen=True)
class Located:
    """Where a clip's first seconds lie, as its index says: [start, end), or None and why not."""

    window: tuple[int, int] | None
    error: str = ""


@dataclass
class Move:
    """`wait` for bytes, `scan` a file, `locate` the first seconds from the index held (then ask
    `next_move` again with what was found), or `done` without a scan (the clip cannot be had)."""

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


def next_move(session: Session, ctx: StepContext, file_id: int, library: Library,
              located: Located | None = None) -> Move:
    """What to do next for this clip, from its probe rows; `located`: what `locate_first_seconds`
    just found for the `locate` move this returned before (never stored: worked out again after
    a crash)."""
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
        if probes.RANGE in execution.params.get("capabilities", []) and clip.size > options.index_head_bytes:
            move = _slices_move(session, ctx, execution, clip, mine, options, library, cost, located)
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
                 mine: list[FileProbe], options: ImportOptions, library: Library, cost: int,
                 located: Located | None) -> Move | None:
    """Head, then the index (box headers on the way to it), then the bytes of the first seconds;
    the rest of a fixed head instead when the index cannot be read. None: fetch the whole clip."""
    def ask(kind: str, offset: int, length: int, reason: str) -> Move:
        probe = probes.ask(session, execution, clip, kind=kind, path=clip.path, size=clip.size,
                           offset=offset, length=length, step_id=ctx.step_id)
        return Move("wait", SLICES, cost=cost, reason=reason, request_id=probe.request_id)

    def scan(method: str, used: list[FileProbe]) -> Move:
        sparse = probes.staged_path(library, execution.id, used[0]).with_suffix(".mp4")
        return Move("scan", method, sparse, slices=used, probe_ids=[p.id for p in used], cost=cost, size=clip.size)

    heads = [p for p in mine if p.kind == probes.HEAD]
    if not heads:
        length = min(options.index_head_bytes, clip.size)
        return ask(probes.HEAD, 0, length, f"its first {length} bytes")
    later = [p for p in mine if p.kind in (probes.INDEX, probes.WINDOW, probes.FIXED_HEAD)]
    asked = [heads[-1], *later]
    if asked[-1].state == probes.REQUESTED:
        return Move("wait", SLICES, cost=cost, reason=_WAITING_FOR[asked[-1].kind])
    if any(p.state != probes.STORED or not p.stored_path for p in asked):
        return None  # a slice could not be had, or the slices could not be read
    if asked[-1].kind == probes.WINDOW:
        return scan(SLICES, asked)
    if asked[-1].kind == probes.FIXED_HEAD:
        return scan(HEAD, asked)
    held = probes.HeldSlices(asked)
    index = find_index(held, clip.size, header_bytes=options.index_head_bytes, tail_bytes=INDEX_TAIL_BYTES)
    if index.wanted is not None and len(asked) <= MAX_INDEX_SLICES:
        offset, length = index.wanted
        return ask(probes.INDEX, offset, length, f"its index ({length} bytes at {offset})")
    if index.moov is not None and located is None:
        return Move("locate", SLICES, probes.staged_path(library, execution.id, asked[0]).with_suffix(".mp4"),
                    slices=asked, cost=cost, size=clip.size)
    window = located.window if located is not None else None
    if window is not None:
        missing = held.missing(*window)
        if missing is None:
            return scan(SLICES, asked)  # the head and index already hold the first seconds
        start, end = missing
        return ask(probes.WINDOW, start, end - start, f"its first seconds ({end - start} bytes at {start})")
    head_end = asked[0].offset + asked[0].bytes_wanted
    if options.probe_head_bytes <= head_end:
        return None
    length = min(options.probe_head_bytes, clip.size) - head_end
    return ask(probes.FIXED_HEAD, head_end, length, f"its first {options.probe_head_bytes} bytes (no usable index)")


_WAITING_FOR = {probes.HEAD: "its head", probes.INDEX: "its index", probes.WINDOW: "its first seconds",
                probes.FIXED_HEAD: "its fixed head"}


def locate_first_seconds(move: Move, window_s: float, interval_s: float) -> Located:
    """From the held head and index only (a sparse file, deleted after): the byte range of the
    clip's first seconds, or why it cannot be had. Off the event loop; no database."""
    assert move.path is not None
    try:
        probes.assemble(move.slices, move.size, move.path)
        return Located(first_seconds_range(move.path, window_s, interval_s))
    except (MediaReadError, OSError, ValueError) as exc:
        return Located(None, str(exc))
    finally:
        probes.forget_bytes([move.path])


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
