"""What an import leaves in the library's staging folder (`.ingest-staging/<execution id>/`), and
clearing it: partial uploads and the station's scratch bytes go; a complete file never filed is
kept and reported, never deleted.

The `cleanup` step clears an import that ran to its end. A cancelled import runs no more steps,
so the station clears those when it starts (`sweep_cancelled`): then no upload of this station
is under way, and a cancelled import's uploads are refused anyway.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import ExecutionState, PipelineExecution
from app.pipeline.library import Library
from app.pipeline.probes import PROBES

log = logging.getLogger(__name__)


def clean_staging(staging: Path) -> tuple[int, list[str]]:
    """Removes the partial uploads and probes under `staging`, then its empty folders (and the
    staging root when it is empty). Returns how many files went and the complete files kept."""
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


def cancelled_stagings(session: Session, library: Library) -> list[Path]:
    """The staging folders of imports that were cancelled."""
    root = library.staging_root
    ids = [int(p.name) for p in root.iterdir() if p.is_dir() and p.name.isdigit()] if root.is_dir() else []
    if not ids:
        return []
    cancelled = session.scalars(select(PipelineExecution.id).where(
        PipelineExecution.id.in_(ids), PipelineExecution.state == ExecutionState.CANCELLED.value))
    return [library.staging_dir(execution_id) for execution_id in cancelled]


def sweep_cancelled(stagings: list[Path]) -> int:
    """Clears the staging folders of cancelled imports (blocking: run it off the event loop)."""
    total = 0
    for staging in stagings:
        removed, kept = clean_staging(staging)
        total += removed
        if removed:
            log.info("cancelled import: removed %d partial files from %s", removed, staging)
        for path in kept:
            log.warning("cancelled import: left in place (complete, never filed): %s", path)
    return total
