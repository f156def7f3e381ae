"""render_final: the passenger's video, the jump's clips joined in time order."""

from __future__ import annotations

from pathlib import Path

from app.db.models import FileState, Jump
from app.pipeline.base import BaseStep, StepContext, StepResult
from app.pipeline.file_kinds import VIDEO
from app.pipeline.filing import write_passenger_json
from app.pipeline.library import video_name
from app.pipeline.registry import register


@register
class RenderFinal(BaseStep):
    """Joins the jump's readable video clips into one MP4 (stream copy when they match,
    H.264 re-encode when they differ), under a temporary name, then renamed."""

    name = "render_final"
    timeout_s = 3600.0

    async def run(self, ctx: StepContext) -> StepResult:
        jump_id = int(ctx.params["jump_id"])

        def clips_of(session):
            jump = session.get(Jump, jump_id)
            clips = [Path(f.stored_path) for f in sorted(jump.files, key=lambda f: (f.modified, f.path))
                     if f.kind == VIDEO and f.state == FileState.STORED and not (f.media or {}).get("error")]
            return clips, Path(jump.output_dir) / video_name(jump)

        clips, output = await ctx.db.run(clips_of)
        if not clips:
            ctx.log.warning("no readable video clip in this jump: nothing to render")
            return StepResult.skip("no readable video clip")
        ctx.log.info("rendering %d clips into %s", len(clips), output.name)
        from app.media.render import render_jump  # noqa: PLC0415 - loads FFmpeg; only where steps run

        result = await ctx.offload(render_jump, clips, output)

        def record(session) -> None:
            jump = session.get(Jump, jump_id)
            jump.video_path, jump.duration_s = str(result.output), result.duration_s
            write_passenger_json(jump)

        await ctx.db.run(record)
        how = "joined without re-encoding" if result.method == "remux" else f"re-encoded: {result.reason}"
        ctx.log.info("%s: %.1f s from %d clips (%s)", result.output.name, result.duration_s, result.clips, how)
        return StepResult.ok({"video": str(result.output), "duration_s": result.duration_s, "method": result.method})
