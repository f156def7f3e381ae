"""cleanup: this execution's temporary and partial files go; nothing else does."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import select

from app.db.models import Jump, Passenger
from app.media.render import leftover_partials
from app.pipeline.base import BaseStep, StepContext, StepResult
from app.pipeline.library import Library, video_name
from app.pipeline.probes import PROBES
from app.pipeline.registry import register


@register
class Cleanup(BaseStep):
    """Removes partial uploads and empty folders of this execution's staging folder, and what a
    killed render left beside a passenger's video. A file
    that is still there complete (never filed) is kept and reported, never deleted."""

    name = "cleanup"

    async def run(self, ctx: StepContext) -> StepResult:
        staging = Library(ctx.settings.library).staging_dir(ctx.execution_id)
        removed, kept = await ctx.offload(_clean, staging)
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


def _clean(staging) -> tuple[int, list[str]]:
    removed, kept = 0, []
    if not staging.exists():
        return 0, []
    for root, dirs, files in os.walk(staging, topdown=False):
        for name in files:
            path = os.path.join(root, name)
            # Probes (a proxy, slices searched for a code) are the station's own scratch bytes.
            if name.endswith(".partial") or os.path.basename(root) == PROBES:
                os.unlink(path)
                removed += 1
            else:
                kept.append(path)
        for name in dirs:
            try:
                os.rmdir(os.path.join(root, name))
            except OSError:
                pass  # not empty: holds a kept file
    for folder in (staging, staging.parent):  # this execution's folder, then the staging root if empty
        try:
            os.rmdir(folder)
        except OSError:
            break
    return removed, kept
