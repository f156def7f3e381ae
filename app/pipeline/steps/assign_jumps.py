"""assign_jumps: every new file of the card goes to a passenger's jump, or to unassigned."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.core_events import PassengerUpdated, QrDecoded
from app.db.models import ExecutionFile, FileState, Jump, PipelineExecution
from app.pipeline.base import BaseStep, ChildrenOf, NewStep, StepContext, StepResult
from app.pipeline.filing import file_into_jump, write_passenger_json
from app.pipeline.jumps import CardFile, group_into_jumps
from app.pipeline.day_rule import jump_day
from app.pipeline.library import Library
from app.pipeline.passengers import camera_dir, camera_of, passenger_for
from app.pipeline.registry import register


@register
class AssignJumps(BaseStep):
    """Runs once every clip was searched for a code. Clips sorted by time: a passenger clip opens
    that passenger's jump up to the next one; earlier ones are unassigned. Creates the jumps (each
    pointing to its passenger's record), files the clips already here, and spawns the fetch of
    each jump and one render per passenger. A clip the crew placed by hand stays where it is."""

    name = "assign_jumps"

    async def run(self, ctx: StepContext) -> StepResult:
        decoded: dict[int, dict[str, Any]] = {
            out["file_id"]: out for out in ctx.inputs.get("children:request_qr_videos", []) if out and "file_id" in out
        }
        library = Library(ctx.settings.library)

        def assign(session) -> list[dict[str, Any]]:
            execution = session.get(PipelineExecution, ctx.execution_id)
            files = session.scalars(
                select(ExecutionFile).where(ExecutionFile.execution_id == execution.id,
                                            ExecutionFile.state != FileState.SKIPPED)
            ).all()
            by_id = {f.id: f for f in files}
            card_times = [f.modified for f in files]
            groups = group_into_jumps([
                CardFile(f.id, f.path, f.modified, (decoded.get(f.id) or {}).get("passenger")) for f in files
            ])
            made = []
            for group in groups:
                jump = _jump_for(session, execution, group.passenger, by_id.get(group.opened_by),
                                 decoded.get(group.opened_by) or {}, [by_id[i] for i in group.files], library,
                                 card_times)
                mine = [by_id[i] for i in group.files if not by_id[i].placed_by_hand]  # the crew's choice stands
                for card_file in mine:
                    card_file.jump_id = jump.id
                session.flush()
                for card_file in mine:
                    file_into_jump(session, card_file, jump)
                session.refresh(jump)
                write_passenger_json(jump)
                made.append({"jump_id": jump.id, "unassigned": jump.unassigned, "passenger": jump.passenger,
                             "passenger_id": jump.passenger_id, "camera": jump.camera, "clip": jump.qr_clip,
                             "files": len(mine), "output_dir": jump.output_dir})
            return made

        jumps = await ctx.db.run(assign)
        spawn: list[NewStep] = []
        fetches_of: dict[int, list[ChildrenOf]] = {}  # passenger id -> the fetches of their jumps on this card
        first_jump: dict[int, int] = {}  # passenger id -> their first jump on this card (the window's tree)
        for jump in jumps:
            key = str(jump["jump_id"])
            spawn.append(NewStep("request_session_videos", key=key, params={"jump_id": jump["jump_id"]}))
            if jump["unassigned"]:
                ctx.log.info("%d files before the first passenger code: unassigned, in %s", jump["files"], jump["output_dir"])
                continue
            passenger = jump["passenger"]
            ctx.log.info("jump of %s (%s), camera %s: %d files, in %s", passenger["passenger_name"],
                         passenger["booking_id"], jump["camera"], jump["files"], jump["output_dir"])
            ctx.emit(QrDecoded(execution_id=ctx.execution_id, jump_id=jump["jump_id"], clip=jump["clip"],
                               passenger=passenger, passenger_id=jump["passenger_id"], camera=jump["camera"]))
            fetches_of.setdefault(jump["passenger_id"], []).append(ChildrenOf("request_session_videos", key))
            first_jump.setdefault(jump["passenger_id"], jump["jump_id"])
        # One render per passenger, of all their footage (every camera, every card), once this
        # card's part is in: new footage renders the video again, once.
        for passenger_id, fetches in fetches_of.items():
            ctx.emit(PassengerUpdated(passenger_id=passenger_id, video_state="waiting", reason="new footage",
                                      execution_id=ctx.execution_id))
            params = {"passenger_id": passenger_id, "jump_id": first_jump[passenger_id]}
            spawn.append(NewStep("render_final", key=f"passenger-{passenger_id}", params=params, depends_on=fetches))
        if not any(not j["unassigned"] for j in jumps):
            ctx.log.warning("no passenger code found on this card: every new file is unassigned")
        return StepResult.ok({"jumps": jumps}, spawn=spawn)


def _jump_for(session, execution: PipelineExecution, passenger: dict | None, opener: ExecutionFile | None,
              decoded: dict[str, Any], files: list[ExecutionFile], library: Library,
              card_times: list) -> Jump:
    """The jump row of a group, found again on a re-run (same execution, same opening clip)."""
    query = select(Jump).where(Jump.execution_id == execution.id)
    query = query.where(Jump.unassigned.is_(True)) if passenger is None else query.where(Jump.qr_clip == opener.path)
    jump = session.scalar(query)
    if jump is not None:
        return jump
    first_time = min(f.modified for f in files)
    day = jump_day(passenger.get("jump_date") if passenger else None, first_time, card_times, execution.created_at)
    record, camera = None, None
    if passenger is None:
        output_dir = library.unassigned_dir(day, execution.card_id or "card")
    else:
        record = passenger_for(session, passenger, day, library, decoded.get("frame"))
        camera = camera_of(opener, execution)
        output_dir = camera_dir(record, camera)
    jump = Jump(
        execution_id=execution.id, card_id=execution.card_id, unassigned=passenger is None,
        booking_id=passenger["booking_id"] if passenger else None,
        passenger_name=passenger["passenger_name"] if passenger else None,
        passenger=passenger, jump_date=day, qr_clip=opener.path if opener else None,
        qr_frame_path=decoded.get("frame"), output_dir=str(output_dir),
        passenger_id=record.id if record else None, camera=camera,
    )
    session.add(jump)
    session.flush()
    return jump

