"""decode_qr: find the passenger's QR code in the first seconds of one small clip."""

from __future__ import annotations

from pathlib import Path

from app.db.models import ExecutionFile, PipelineExecution
from app.media.errors import MediaReadError
from app.pipeline.base import BaseStep, StepContext, StepResult
from app.pipeline.import_options import ImportOptions
from app.pipeline.library import Library
from app.pipeline.qr_decoder import scan_clip
from app.pipeline.registry import register


@register
class DecodeQr(BaseStep):
    """One per small clip, in parallel, off the event loop. A clip that cannot be read is set
    aside (it joins whatever jump its time puts it in) rather than stopping the import."""

    name = "decode_qr"
    timeout_s = 120.0

    async def run(self, ctx: StepContext) -> StepResult:
        file_id = int(ctx.params["file_id"])
        clip, options = await ctx.db.run(lambda s: (
            s.get_one(ExecutionFile, file_id), ImportOptions.of(s.get_one(PipelineExecution, ctx.execution_id), ctx.settings)))
        frame_dir = Library(ctx.settings.library).frames_dir(ctx.execution_id)
        try:
            scan = await ctx.offload(
                lambda: scan_clip(Path(clip.stored_path), window_s=options.qr_window_s,
                                  interval_s=options.qr_interval_s, frame_dir=frame_dir)
            )
        except MediaReadError as exc:
            ctx.log.warning("cannot read %s, set aside: %s", clip.path, exc)
            return StepResult.ok({"file_id": file_id, "path": clip.path, "passenger": None, "error": str(exc)})
        for ignored in scan.ignored:
            ctx.log.info("ignored a QR code at %.1f s that is not a passenger code (%s): %.80s",
                         ignored.time_s, ignored.reason, ignored.text)
        found = scan.found
        if found is None:
            ctx.log.info("no passenger code in the first %.1f s of %s", options.qr_window_s, clip.path)
            return StepResult.ok({"file_id": file_id, "path": clip.path, "passenger": None})
        passenger = found.passenger.payload
        for other in found.others:
            ctx.log.warning("a second passenger code on %s was not used: %s", clip.path, other.payload)
        ctx.log.info("passenger %s (%s) at %.1f s of %s", passenger["passenger_name"], passenger["booking_id"],
                     found.time_s, clip.path)
        return StepResult.ok({"file_id": file_id, "path": clip.path, "passenger": passenger,
                              "frame": str(found.frame_path) if found.frame_path else None, "t": found.time_s})
