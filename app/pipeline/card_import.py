"""The `card_import` pipeline: one SD card from a Detector to one folder and video per passenger.

    receive_file_list → filter_new_files → request_qr_videos ⇉ decode_qr (one per small clip)
    → assign_jumps ⇉ request_session_videos (per jump) ⇉ extract_metadata (per video)
                   ⇉ render_final (per passenger jump) → cleanup → verify_copies → write_report

verify_copies reads the card's files back from the library: the card is `complete` (safe to
format) only after it (app/pipeline/card_state.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from app.db.models import ExecutionFile, FileState, Jump, PipelineExecution
from app.pipeline.base import ChildrenOf, NewStep
from app.pipeline.registry import PipelineDefinition

NAME = "card_import"


def completed_summary(session, execution: PipelineExecution) -> dict[str, Any]:
    """The extra fields of `pipeline:completed`."""
    jumps = session.scalars(select(Jump).where(Jump.execution_id == execution.id).order_by(Jump.id)).all()
    imported = session.scalar(
        select(func.count()).select_from(ExecutionFile)
        .where(ExecutionFile.execution_id == execution.id, ExecutionFile.state == FileState.STORED)
    )
    return {
        "jumps": [{"jump_id": j.id, "passenger": j.passenger, "clips": len(j.files), "output_dir": j.output_dir,
                   "video": j.video_path, "passenger_id": j.passenger_id, "camera": j.camera} for j in jumps],
        "files_imported": imported or 0,
    }


CARD_IMPORT = PipelineDefinition(
    NAME,
    steps=[
        NewStep("receive_file_list"),
        NewStep("filter_new_files", depends_on=["receive_file_list"]),
        NewStep("request_qr_videos", depends_on=["filter_new_files"]),
        NewStep("assign_jumps", depends_on=[ChildrenOf("request_qr_videos")]),
        NewStep("cleanup", depends_on=[ChildrenOf("assign_jumps")]),
        NewStep("verify_copies", depends_on=["cleanup"]),
        NewStep("write_report", depends_on=["verify_copies"]),
    ],
    on_completed=completed_summary,
)
