"""write_report: the card's offload report (ASC MHL manifest + HTML) in the library, after cleanup."""

from __future__ import annotations

from app.db.types import utcnow
from app.pipeline.base import BaseStep, StepContext, StepResult
from app.pipeline.offload_report import REPORT_STEP, gather, write_offload_report
from app.pipeline.registry import register


@register
class WriteReport(BaseStep):
    """Hashes every file the import stored (xxh64, SHA-256) and writes the manifest and the
    report; written anew when run again, so a retry gives the current state."""

    name = REPORT_STEP
    timeout_s = 3600.0  # reads every imported byte once more: a full 256 GB card takes a while

    async def run(self, ctx: StepContext) -> StepResult:
        now = utcnow()
        facts = await ctx.db.read(lambda session: gather(session, ctx.execution_id, now))
        html, manifest = await ctx.offload(write_offload_report, ctx.settings.library, facts, now)
        problems = [f for f in facts.stored if f.problem]
        for f in problems:
            ctx.log.error("%s: %s", f.stored_path, f.problem)
        ctx.log.info("offload report of %d files (%d not imported): %s", len(facts.stored), len(facts.not_imported), html)
        return StepResult.ok({"report": str(html), "manifest": str(manifest), "files": len(facts.stored),
                              "problems": len(problems)})
