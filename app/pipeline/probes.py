"""Looking into a clip for its passenger code without importing it (DESIGN.md, "Where a code
can be"): the GoPro proxy of the same chapter, or slices of the clip from a Detector that
announced `range`: a small head, its MP4 index (with the box headers on the way to it), then
the bytes of its first seconds, or the rest of a fixed head when the index cannot be read.

A probe is a `file_probe` row asked for in a `transfer_request` like any file; its bytes land in
the execution's staging folder and are deleted once searched. It is never filed nor recorded
as imported.
"""

from __future__ import annotations

import os
import re
from bisect import bisect_right
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import ExecutionFile, FileProbe, FileState, PipelineExecution, TransferRequest
from app.pipeline.library import Library
from app.pipeline.transfers import MAX_COPY_ATTEMPTS, new_request_id

PROXY = "proxy"  # the GoPro proxy of the same chapter, whole
HEAD = "head"  # the clip's first bytes: `ftyp` and the first box headers (an index at the start)
INDEX = "index"  # box headers beyond the head, or (part of) the index itself
WINDOW = "window"  # the bytes of the clip's first seconds, as its index places them
FIXED_HEAD = "fixed_head"  # the rest of a fixed head (`probe_head_bytes`): when the index cannot be read
PROBES = "probes"  # the folder of an execution's staging where probes land
REQUESTED, STORED, FAILED, SEARCHED = FileState.REQUESTED.value, FileState.STORED.value, FileState.FAILED.value, "searched"
RANGE = "range"  # the Detector capability (docs/protocol.md, "range: a slice of a file")

# GX010231.MP4 (HEVC) or GH010231.MP4 (H.264): chapter 01, file 0231; its proxy is GL010231.LRV.
_GOPRO_CLIP = re.compile(r"G[XH](\d{2})(\d{4})\.MP4", re.IGNORECASE)


def proxy_path(clip_path: str, card_paths: Sequence[str]) -> str | None:
    """The card path of the GoPro proxy of the same chapter as `clip_path`, when the card has it."""
    clip = PurePosixPath(clip_path)
    match = _GOPRO_CLIP.fullmatch(clip.name)
    if match is None:
        return None
    wanted = f"GL{match.group(1)}{match.group(2)}.LRV".lower()
    return next((p for p in card_paths if PurePosixPath(p).parent == clip.parent
                 and PurePosixPath(p).name.lower() == wanted), None)


def ask(session: Session, execution: PipelineExecution, clip: ExecutionFile, *, kind: str, path: str, size: int,
        offset: int = 0, length: int | None = None, step_id: int | None) -> FileProbe:
    """Open a request for one probe of `clip` (sent by the station like any copy request)."""
    request = TransferRequest(id=new_request_id(execution.id), execution_id=execution.id, step_id=step_id,
                              detector_id=execution.detector_id, card_id=execution.card_id or "", mode="upload")
    session.add(request)
    session.flush()
    probe = FileProbe(file_id=clip.id, request_id=request.id, step_id=step_id, kind=kind, path=path, size=size,
                      offset=offset, length=length, state=REQUESTED, attempts=0)
    session.add(probe)
    session.flush()
    return probe


def probes_of(session: Session, file_id: int) -> list[FileProbe]:
    return list(session.scalars(select(FileProbe).where(FileProbe.file_id == file_id).order_by(FileProbe.id)))


def open_probes(session: Session, request_id: str) -> list[FileProbe]:
    return list(session.scalars(select(FileProbe).where(FileProbe.request_id == request_id,
                                                        FileProbe.state == REQUESTED).order_by(FileProbe.id)))


def probe_for_upload(session: Session, request_id: str, path: str, offset: int, length: int | None) -> FileProbe | None:
    """The open probe an upload (or its `sd:file_copied`) is for; None when it is not a probe's."""
    for probe in open_probes(session, request_id):
        if probe.path != path or (probe.length is None) != (length is None):
            continue
        if probe.length is None or (length is not None and probe.offset == offset and length <= probe.length):
            return probe
    return None


def probe_failed(session: Session, probe: FileProbe, reason: str, *, retry: bool) -> TransferRequest | None:
    """A rejected or failed copy of a probe: asked again (at most MAX_COPY_ATTEMPTS), else failed."""
    probe.attempts += 1
    probe.error = reason
    if not retry or probe.attempts >= MAX_COPY_ATTEMPTS:
        probe.state, probe.request_id = FAILED, None
        return None
    execution = session.get_one(PipelineExecution, session.get_one(ExecutionFile, probe.file_id).execution_id)
    request = TransferRequest(id=new_request_id(execution.id), execution_id=execution.id, step_id=probe.step_id,
                              detector_id=execution.detector_id, card_id=execution.card_id or "", mode="upload")
    session.add(request)
    session.flush()
    probe.request_id = request.id
    return request


def stored_bytes(probes: Sequence[FileProbe]) -> int:
    """What the probes that arrived cost on the wire."""
    return sum(p.bytes_wanted for p in probes if p.state in (STORED, SEARCHED))


def staged_path(library: Library, execution_id: int, probe: FileProbe) -> Path:
    """Where a probe's bytes land: the station's own id, never the card's name."""
    return library.staging_dir(execution_id) / PROBES / f"{probe.id}.bin"


def assemble(slices: Sequence[FileProbe], size: int, target: Path) -> Path:
    """A sparse file of the clip's size holding only the slices' bytes where they belong, which
    a demuxer reads as the clip (the rest reads as zeros, and costs no disk)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        out.truncate(size)
        for probe in slices:
            if not probe.stored_path:
                raise ValueError(f"slice {probe.id} of {probe.path} is not here")
            out.seek(probe.offset)
            with open(probe.stored_path, "rb") as part:
                while block := part.read(1 << 20):
                    out.write(block)
    return target


def forget_bytes(paths: Sequence[str | Path | None]) -> None:
    for path in paths:
        if path:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


class HeldSlices:
    """The bytes of a clip that its stored slices hold (`mp4_boxes.HeldBytes`)."""

    def __init__(self, slices: Sequence[FileProbe]) -> None:
        spans = sorted((p.offset, p.offset + p.bytes_wanted, p.stored_path) for p in slices if p.stored_path)
        self._spans = [(start, end, path) for start, end, path in spans if end > start]
        self._starts = [start for start, _, _ in self._spans]

    def read_at(self, pos: int, count: int) -> bytes:
        index = bisect_right(self._starts, pos) - 1
        if index < 0 or pos >= self._spans[index][1]:
            return b""
        start, end, path = self._spans[index]
        with open(path, "rb") as fh:
            fh.seek(pos - start)
            return fh.read(min(count, end - pos))

    def first_missing(self, start: int, end: int) -> int | None:
        pos = start
        for span_start, span_end, _ in self._spans:
            if span_start <= pos < span_end:
                pos = span_end
        return pos if pos < end else None

    def missing(self, start: int, end: int) -> tuple[int, int] | None:
        """The part of [start, end) to ask for: from its first byte not held to its last."""
        first = self.first_missing(start, end)
        if first is None:
            return None
        last = end
        for span_start, span_end, _ in reversed(self._spans):
            if span_start < last <= span_end:
                last = span_start
        return first, max(last, first + 1)
