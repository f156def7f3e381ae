"""verify_copies: the card's files read back from the library before the card is called complete."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.db.models import FileState, ImportedFile, PipelineExecution
from app.db.types import utcnow
from app.pipeline.base import BaseStep, StepContext, StepResult
from app.pipeline.card_state import card_files, records_of
from app.pipeline.registry import register
from app.pipeline.verify import CopyCheck, check_copy

# (record id, library path, size, sha256, read it whole?)
Item = tuple[int, str, int, str, bool]


@register
class VerifyCopies(BaseStep):
    """Every file the station imports from this card: the copy stored by this import is read
    back whole and must match its SHA-256; one verified by an earlier import must still be there
    at its size. A copy that differs fails the step (and the card is not safe to format)."""

    name = "verify_copies"
    timeout_s = 3600.0

    async def run(self, ctx: StepContext) -> StepResult:
        def load(session: Session) -> tuple[list[Item], int]:
            files, _ = card_files(session, session.get_one(PipelineExecution, ctx.execution_id), ctx.settings)
            records = records_of(session, files)
            items = [(r.id, r.stored_path, r.size, r.sha256, f.state == FileState.STORED or r.verified_at is None)
                     for f, r in records.items()]
            return items, len(files) - len(records)

        items, absent = await ctx.db.run(load)
        checks = await ctx.offload(_read_back, items)
        good = [item[0] for item, check in zip(items, checks, strict=True) if check.problem is None]
        bad = [item[0] for item, check in zip(items, checks, strict=True) if check.problem is not None]
        now = utcnow()

        def record(session: Session) -> None:
            if good:
                session.execute(update(ImportedFile).where(ImportedFile.id.in_(good)).values(verified_at=now))
            if bad:  # no longer a good copy: the card is not complete until it is again
                session.execute(update(ImportedFile).where(ImportedFile.id.in_(bad)).values(verified_at=None))

        await ctx.db.run(record)
        read_whole = sum(1 for item in items if item[4])
        ctx.progress(len(good), len(items) + absent)
        ctx.log.info("%d library copies read back and matched, %d of them checked earlier and still in place; "
                     "%d files of the card are not in the library", len(good), len(items) - read_whole, absent)
        problems = [check for check in checks if check.problem is not None]
        for check in problems:
            ctx.log.error("%s: %s", check.path, check.problem)
        if problems:
            return StepResult.fail(f"{len(problems)} library copies do not match what was stored: "
                                   + "; ".join(f"{c.path.name}: {c.problem}" for c in problems[:5]))
        return StepResult.ok({"verified": len(good), "read_whole": read_whole, "not_in_library": absent})


def _read_back(items: list[Item]) -> list[CopyCheck]:
    return [check_copy(Path(path), size, sha256) if whole else _still_there(Path(path), size)
            for _, path, size, sha256, whole in items]


def _still_there(path: Path, size: int) -> CopyCheck:
    try:
        found = os.stat(path).st_size
    except OSError:
        return CopyCheck(path, "not in the library", missing=True)
    return CopyCheck(path) if found == size else CopyCheck(path, f"{found} bytes, recorded {size}")
