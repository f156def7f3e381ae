"""cleanup: this execution's temporary and partial files go; nothing else does."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from app.db.models import Jump, Passenger
from app.media.render import leftover_partials
from app.pipeline.base import BaseStep, StepContext, StepResult
from app.pipeline.library import Library, video_name
from app.pipeline.staging import clean_staging
from app.pipeline.registry import register


@register
class Cleanup(BaseStep):
    """Removes partial uploads and empty folders of this execution's staging folder, and what a
    killed render left beside a passenger's video. A file
    that is still there complete (never filed) is kept and reported, never deleted."""

    name = "cleanup"

    async def run(self, ctx: StepContext) -> StepResult:
        staging = Library(ctx.settings.library).staging_dir(ctx.execution_id)
        removed, kept = await ctx.offload(clean_staging, staging)
        videos = await ctx.db.run(lambda s: [
            Path(p.folder) / video_name(p) for p in s.scalars(select(Passenger).where(Passenger.id.in_(
                select(Jump.passenger_id).where(Jump.execution_id == ctx.execution_id))))])
        for leftover in [p for video in videos for p in leftover_partials(video)]:
            leftover.unlink(missing_ok=True)  # from a render killed mid-way; a retry wrote the video anew
            ctx.log.info("removed %s", leftover)
            removed += 1
        for path in kept:
            ctx.log.warning("left in place (complete, never filed): %s", path)
        ctx.log.info("removed %d partial files from %s", removed, staging)
        return StepResult.ok({"removed": removed, "kept": kept})
