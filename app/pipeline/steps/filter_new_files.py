"""filter_new_files (check_imported_files): skip what was imported before, and proxies."""

from __future__ import annotations

from sqlalchemy import select

from app.db.models import ExecutionFile, FileState, PipelineExecution
from app.pipeline.base import BaseStep, StepContext, StepResult
from app.pipeline.fingerprint import ListedFile, split_listing, stored_paths
from app.pipeline.import_options import ImportOptions
from app.pipeline.registry import register


@register
class FilterNewFiles(BaseStep):
    """Compare the listing with `imported_file` in one indexed query (tolerant of FAT rounding
    and camera clock zone shifts); mark the rest skipped."""

    name = "filter_new_files"

    async def run(self, ctx: StepContext) -> StepResult:
        def classify(session) -> dict:
            execution = session.get(PipelineExecution, ctx.execution_id)
            import_proxies = ImportOptions.of(execution, ctx.settings).import_proxies
            files = session.scalars(
                select(ExecutionFile).where(ExecutionFile.execution_id == execution.id,
                                            ExecutionFile.state == FileState.LISTED)
            ).all()
            split = split_listing(session, [ListedFile(f.path, f.size, f.modified) for f in files], import_proxies)
            other = set(split.not_imported_kind)
            where = stored_paths(session, split.imported_before.values())
            for f in files:
                if f.path in other:
                    f.state, f.error = FileState.SKIPPED, f"{f.kind} files are not imported"
                elif f.path in split.imported_before:
                    f.state, f.error = FileState.SKIPPED, f"imported before as {where[split.imported_before[f.path]]}"
            execution.files_new = len(split.new)
            return {"files_total": execution.files_total, "files_new": len(split.new),
                    "imported_before": len(split.imported_before), "not_imported_kind": len(other)}

        counts = await ctx.db.run(classify)
        ctx.log.info("%d new files; %d imported before; %d proxies/thumbnails/other skipped",
                     counts["files_new"], counts["imported_before"], counts["not_imported_kind"])
        return StepResult.ok(counts)
