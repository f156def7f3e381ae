"""decode_qr: find the passenger's QR code in the first seconds of one video clip."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

from app.db.models import ExecutionFile, FileProbe, PipelineExecution
from app.media.errors import MediaReadError
from app.media.mp4_boxes import read_udta_strings
from app.pipeline import probes
from app.pipeline.base import BaseStep, StepContext, StepResult
from app.pipeline.code_search import (HEAD, PROXY, SLICES, WHOLE, Located, Move, locate_first_seconds, next_move,
                                      search_record)
from app.pipeline.fetching import report_request
from app.pipeline.import_options import ImportOptions
from app.pipeline.library import Library
from app.pipeline.qr_decoder import QrScan, scan_clip
from app.pipeline.registry import register


@register
class DecodeQr(BaseStep):
    """One per video clip, in parallel, off the event loop, searched the cheapest way the card and
    the Detector allow (app/pipeline/code_search.py); waits, holding no worker, for the bytes.
    A clip that cannot be read is set aside (it joins whatever jump its time puts it in) rather
    than stopping the import."""

    name = "decode_qr"
    timeout_s = 300.0

    async def run(self, ctx: StepContext) -> StepResult:
        file_id = int(ctx.params["file_id"])
        library = Library(ctx.settings.library)
        clip, options = await ctx.db.run(lambda s: (
            s.get_one(ExecutionFile, file_id), ImportOptions.of(s.get_one(PipelineExecution, ctx.execution_id), ctx.settings)))
        frame_dir = library.frames_dir(ctx.execution_id)
        located: Located | None = None
        while True:
            move: Move = await ctx.db.run(lambda s, found=located: next_move(s, ctx, file_id, library, found))
            located = None
            if move.action == "locate":
                located = await ctx.offload(locate_first_seconds, move, options.qr_window_s, options.qr_interval_s)
                if located.window is None:
                    ctx.log.info("%s: its index does not place its first seconds (%s); a fixed head instead",
                                 clip.path, located.error)
                continue
            if move.action == "wait":
                report_request(ctx, move.request_id, f"{clip.path}: {move.reason}")
                return StepResult.wait(f"{clip.path}: waiting for {move.reason}")
            if move.action == "done":
                return await self._never_searched(ctx, clip, move)
            try:
                scan, serial = await ctx.offload(_scan, move, options, frame_dir)
            except MediaReadError as exc:
                if move.method == WHOLE:
                    ctx.log.warning("cannot read %s, set aside: %s", clip.path, exc)
                    await self._record(ctx, file_id, move, search_record(move, False, str(exc)))
                    return StepResult.ok({"file_id": file_id, "path": clip.path, "passenger": None, "error": str(exc),
                                          "search": search_record(move, False, str(exc))})
                ctx.log.info("%s: its %s could not be read (%s); trying the next way", clip.path, move.method, exc)
                await self._record(ctx, file_id, move, None, state=probes.FAILED)
                continue
            if scan.found is None and move.method == PROXY:
                ctx.log.info("%s: no code in its proxy (%d bytes); trying the next way", clip.path, move.cost)
                await self._record(ctx, file_id, move, None)
                continue
            return await self._found(ctx, clip, move, scan, options, serial)

    async def _found(self, ctx: StepContext, clip: ExecutionFile, move: Move, scan: QrScan,
                     options: ImportOptions, serial: str | None) -> StepResult:
        record = search_record(move, scan.found is not None, camera_serial=serial)
        await self._record(ctx, clip.id, move, record)
        how = {WHOLE: "the whole clip", PROXY: "its GoPro proxy", SLICES: "slices of it (index and first seconds)",
               HEAD: "slices of it (a fixed head)"}[move.method]
        for ignored in scan.ignored:
            ctx.log.info("ignored a QR code at %.1f s that is not a passenger code (%s): %.80s",
                         ignored.time_s, ignored.reason, ignored.text)
        found = scan.found
        if found is None:
            ctx.log.info("no passenger code in the first %.1f s of %s; searched %s, %d bytes moved",
                         options.qr_window_s, clip.path, how, move.cost)
            return StepResult.ok({"file_id": clip.id, "path": clip.path, "passenger": None, "search": record})
        passenger = found.passenger.payload
        for other in found.others:
            ctx.log.warning("a second passenger code on %s was not used: %s", clip.path, other.payload)
        ctx.log.info("passenger %s (%s) at %.1f s of %s; searched %s, %d bytes moved", passenger["passenger_name"],
                     passenger["booking_id"], found.time_s, clip.path, how, move.cost)
        return StepResult.ok({"file_id": clip.id, "path": clip.path, "passenger": passenger,
                              "frame": str(found.frame_path) if found.frame_path else None, "t": found.time_s,
                              "search": record})

    async def _never_searched(self, ctx: StepContext, clip: ExecutionFile, move: Move) -> StepResult:
        record = search_record(move, False, move.reason)
        await self._record(ctx, clip.id, move, record)
        if move.failed:
            return StepResult.fail(f"{clip.path} could not be copied to search it: {move.reason}")
        ctx.log.warning("not on the card any more or unreadable, never searched for a code: %s", move.reason)
        return StepResult.ok({"file_id": clip.id, "path": clip.path, "passenger": None, "search": record})

    async def _record(self, ctx: StepContext, file_id: int, move: Move, record: dict[str, Any] | None, *,
                      state: str = probes.SEARCHED) -> None:
        """The clip's search as the window shows it; the probes used up, their bytes deleted."""
        def store(session) -> list[str | None]:
            if record is not None:
                session.get(ExecutionFile, file_id).search = record
            used = [session.get(FileProbe, probe_id) for probe_id in move.probe_ids]
            for probe in used:
                probe.state = state
            return [p.stored_path for p in used]

        leftovers = await ctx.db.run(store)
        probes.forget_bytes([*leftovers, move.path if move.method in (SLICES, HEAD) else None])


def _scan(move: Move, options: ImportOptions, frame_dir: Path) -> tuple[QrScan, str | None]:
    """The scan, and the camera's serial from the clip's index (a proxy's is not the clip's)."""
    if move.method in (SLICES, HEAD):
        probes.assemble(move.slices, move.size, move.path)
    scan = scan_clip(move.path, window_s=options.qr_window_s, interval_s=options.qr_interval_s, frame_dir=frame_dir)
    return scan, _serial(move) if move.method != PROXY else None


def _serial(move: Move) -> str | None:
    try:
        return read_udta_strings(move.path).get("CASN")
    except (OSError, ValueError, struct.error):
        return None  # an index the walk does not understand: the card's label names the camera
