"""request_session_videos: the rest of one jump's clips and photos."""

from __future__ import annotations

from sqlalchemy import select

from app.db.models import ExecutionFile, FileState, Jump
from app.pipeline.base import BaseStep, NewStep, StepContext, StepResult
from app.pipeline.fetching import fetch_files, report
from app.pipeline.file_kinds import VIDEO
from app.pipeline.filing import file_into_jump, write_passenger_json
from app.pipeline.registry import register


@register
class RequestSessionVideos(BaseStep):
    """Per jump: ask for its files not here yet, file each one into the jump's folder as it
    arrives, start `extract_metadata` for its videos, and wait until all are in."""

    name = "request_session_videos"

    async def run(self, ctx: StepContext) -> StepResult:
        jump_id = int(ctx.params["jump_id"])

        def work(session):
            jump = session.get(Jump, jump_id)
            files = session.scalars(
                select(ExecutionFile).where(ExecutionFile.jump_id == jump_id, ExecutionFile.state != FileState.SKIPPED)
                .order_by(ExecutionFile.modified, ExecutionFile.path)
            ).all()
            progress = fetch_files(session, ctx, files)
            for card_file in files:
                file_into_jump(session, card_file, jump)
            if progress.done:
                session.refresh(jump)
                write_passenger_json(jump)
            videos = {f.id: f.path for f in files if f.kind == VIDEO}
            return progress, videos

        progress, videos = await ctx.db.run(work)
        report(ctx, progress, "files of this jump")
        probes = [NewStep("extract_metadata", key=videos[i], params={"file_id": i}) for i in progress.stored if i in videos]
        if not progress.done:
            return StepResult.wait(f"{progress.outstanding} of {progress.total} files still to come", spawn=probes)
        if progress.failed:
            return StepResult.fail(f"{len(progress.failed)} files could not be copied: " + "; ".join(progress.failed))
        return StepResult.ok({"files": progress.total, "stored": len(progress.stored), "missing": len(progress.missing)},
                             spawn=probes)
