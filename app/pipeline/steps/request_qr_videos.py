"""request_qr_videos (request_small_files): every new clip is searched for a passenger's code,
the small ones first."""

from __future__ import annotations

from sqlalchemy import select

from app.db.models import ExecutionFile, FileState, PipelineExecution
from app.pipeline.base import BaseStep, NewStep, StepContext, StepResult
from app.pipeline.fetching import fetch_files, report
from app.pipeline.file_kinds import VIDEO
from app.pipeline.import_options import ImportOptions
from app.pipeline.registry import register


@register
class RequestQrVideos(BaseStep):
    """Ask for the new small video clips (< small_file_bytes) in time order; start a `decode_qr`
    for each as soon as it is stored; wait (holding no worker) until all are in. Then a
    `decode_qr` for each bigger clip, which searches it without fetching it whole when it can.
    `assign_jumps` waits for every one of them."""

    name = "request_qr_videos"

    async def run(self, ctx: StepContext) -> StepResult:
        def work(session):
            execution = session.get(PipelineExecution, ctx.execution_id)
            threshold = ImportOptions.of(execution, ctx.settings).small_file_bytes
            videos = session.scalars(
                select(ExecutionFile)
                .where(ExecutionFile.execution_id == ctx.execution_id, ExecutionFile.kind == VIDEO,
                       ExecutionFile.state != FileState.SKIPPED)
                .order_by(ExecutionFile.modified, ExecutionFile.path)
            ).all()
            small = [f for f in videos if f.size < threshold]
            progress = fetch_files(session, ctx, small)
            big = [f.id for f in videos if f.size >= threshold]
            return progress, {f.id: f.path for f in videos}, big

        progress, paths, big = await ctx.db.run(work)
        report(ctx, progress, "small clips")
        decoders = [NewStep("decode_qr", key=paths[file_id], params={"file_id": file_id}) for file_id in progress.stored]
        if progress.done:  # small clips first: the big ones are searched once they are in
            decoders += [NewStep("decode_qr", key=paths[file_id], params={"file_id": file_id}) for file_id in big]
            if big:
                ctx.log.info("%d bigger clips to search for a code", len(big))
        if not progress.done:
            return StepResult.wait(f"{progress.outstanding} of {progress.total} small clips still to come", spawn=decoders)
        if progress.failed:
            return StepResult.fail(f"{len(progress.failed)} small clips could not be copied: " + "; ".join(progress.failed))
        return StepResult.ok({"small_clips": progress.total, "stored": len(progress.stored),
                              "missing": len(progress.missing), "big_clips": len(big)}, spawn=decoders)
