"""receive_file_list: the card's listing becomes the execution's files."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import select

from app.db.models import ExecutionFile, PipelineExecution
from app.pipeline.base import BaseStep, StepContext, StepResult
from app.pipeline.file_kinds import kind_of
from app.pipeline.records import listing_fingerprint
from app.pipeline.registry import register


@register
class ReceiveFileList(BaseStep):
    """Record every file of the card's `sd:file_list` (kept in the execution's params)."""

    name = "receive_file_list"

    async def run(self, ctx: StepContext) -> StepResult:
        def record(session) -> dict[str, int]:
            execution = session.get(PipelineExecution, ctx.execution_id)
            known = set(session.scalars(select(ExecutionFile.path).where(ExecutionFile.execution_id == execution.id)))
            kinds: Counter[str] = Counter()
            for entry in execution.params.get("files", []):
                modified = datetime.fromisoformat(entry["modified"])
                kind = kind_of(entry["path"])
                kinds[kind] += 1
                if entry["path"] in known:
                    continue  # a re-run after a crash: rows already there
                session.add(ExecutionFile(
                    execution_id=execution.id, path=entry["path"], size=entry["size"], modified=modified,
                    fingerprint=listing_fingerprint(entry["path"], entry["size"], modified), kind=kind,
                ))
            execution.files_total = sum(kinds.values())
            return dict(kinds)

        kinds = await ctx.db.run(record)
        total = sum(kinds.values())
        ctx.log.info("card lists %d files: %s", total, ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "none")
        return StepResult.ok({"files_total": total, "kinds": kinds})
