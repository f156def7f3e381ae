"""render_final: the passenger's video, every camera's footage in the edit an editor would make."""

from __future__ import annotations

import asyncio
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from app.core_events import PassengerUpdated
from app.db.models import FileState, Jump, Passenger, PipelineExecution, VideoState
from app.pipeline.base import BaseStep, StepContext, StepResult
from app.pipeline.file_kinds import VIDEO
from app.pipeline.filing import write_passenger_json
from app.pipeline.branding_options import branding_of, branding_params
from app.pipeline.library import Library, move_into, preview_path, video_name
from app.pipeline.passengers import edit_order
from app.pipeline.registry import register

if TYPE_CHECKING:
    from app.media.branding import Branding, BrandedResult, TitleText
    from app.media.render import RenderResult

MAX_RENDERS = 5  # footage that keeps arriving during renders: stop chasing it after this many
MOVED_CLIP_PAUSE_S = 1.0  # a clip gone from under a render: its move's record is about to commit


@register
class RenderFinal(BaseStep):
    """One per passenger per card import: joins every readable clip of every camera the passenger
    was filmed with (`passengers.edit_order`) into one MP4 at the passenger's folder (stream copy
    when they match, H.264 re-encode when they differ), under a temporary name, then renamed.
    Footage filed by another card while it rendered makes it render again."""

    name = "render_final"
    timeout_s = 3600.0

    async def run(self, ctx: StepContext) -> StepResult:
        passenger_id = await ctx.db.run(lambda s: _passenger_id(s, ctx.params, ctx.execution_id))
        if passenger_id is None:
            return StepResult.skip("no passenger")

        def clips_of(session) -> tuple[list[Path], Path]:
            passenger = session.get_one(Passenger, passenger_id)
            passenger.video_state = VideoState.RENDERING
            clips = [Path(f.stored_path) for jump in edit_order(passenger)
                     for f in sorted(jump.files, key=lambda f: (f.modified, f.path))
                     if f.kind == VIDEO and f.state == FileState.STORED and f.stored_path
                     and not (f.media or {}).get("error")]
            return clips, Path(passenger.folder) / video_name(passenger)

        from app.media.branding import TitleText  # noqa: PLC0415 - loads FFmpeg; only where steps run

        def title_and_branding(session) -> tuple[TitleText, Branding]:
            passenger = session.get_one(Passenger, passenger_id)
            stored = (session.get_one(PipelineExecution, ctx.execution_id).params or {}).get("branding")
            return (TitleText(passenger.passenger_name, passenger.day),
                    branding_of(stored if stored is not None else branding_params(ctx.settings)))

        title, branding = await ctx.db.run(title_and_branding)

        for _ in range(MAX_RENDERS):
            clips, output = await ctx.db.run(clips_of)
            if not clips:
                retired = await ctx.db.run(partial(_retire_video, passenger_id=passenger_id,
                                                   library=Library(ctx.settings.library)))
                ctx.log.warning("no readable video clip for this passenger: nothing to render")
                for path in retired:
                    ctx.log.warning("its earlier video holds none of its footage now: moved to %s", path)
                ctx.emit(PassengerUpdated(passenger_id=passenger_id, video_state=VideoState.WAITING.value,
                                          reason="no footage", execution_id=ctx.execution_id))
                return StepResult.skip("no readable video clip")
            ctx.log.info("rendering %d clips into %s", len(clips), output.name)
            ctx.emit(PassengerUpdated(passenger_id=passenger_id, video_state=VideoState.RENDERING.value,
                                      reason="rendering", execution_id=ctx.execution_id))
            started = time.monotonic()
            try:
                branded = await ctx.offload(_render, clips, output, branding, title)
            except Exception as exc:
                def clips_changed(session, rendered: list[Path] = clips) -> bool:
                    return clips_of(session)[0] != rendered

                if not all(c.exists() for c in clips) or await ctx.db.run(clips_changed):
                    # The crew moved a clip while it was read: its file is elsewhere now (its record
                    # follows when the move commits, a moment later).
                    ctx.log.info("a clip was moved while rendering (%s): rendering again", exc)
                    await asyncio.sleep(MOVED_CLIP_PAUSE_S)
                    continue
                error = str(exc)
                await ctx.db.run(partial(_set_state, passenger_id=passenger_id, state=VideoState.FAILED, error=error))
                ctx.emit(PassengerUpdated(passenger_id=passenger_id, video_state=VideoState.FAILED.value,
                                          reason="render failed", execution_id=ctx.execution_id))
                raise
            result = branded.render
            for note in branded.notes:
                ctx.log.warning("rendered without that part of the branding: %s", note)
            seconds = time.monotonic() - started
            if branded.clips_s > 0:
                ctx.log.info("render took %.1f s: %.1f s per minute of footage (%s%s)", seconds,
                             seconds / (branded.clips_s / 60), result.method,
                             ", branded" if branded.branded else "")

            def record(session, clips: list[Path] = clips, result: RenderResult = result) -> bool:
                passenger = session.get(Passenger, passenger_id)
                current, _ = clips_of(session)
                if current != clips:
                    return False  # another card filed footage meanwhile: render again
                passenger.video_state, passenger.video_error = VideoState.READY, None
                passenger.video_path, passenger.duration_s = str(result.output), result.duration_s
                for jump in passenger.jumps:
                    jump.video_path, jump.duration_s = passenger.video_path, passenger.duration_s
                if passenger.jumps:
                    write_passenger_json(passenger.jumps[0])
                return True

            if await ctx.db.run(record):
                how = "joined without re-encoding" if result.method == "remux" else f"re-encoded: {result.reason}"
                ctx.log.info("%s: %.1f s from %d clips (%s)", result.output.name, result.duration_s, result.clips, how)
                ctx.emit(PassengerUpdated(passenger_id=passenger_id, video_state=VideoState.READY.value,
                                          reason="video ready", execution_id=ctx.execution_id))
                return StepResult.ok({"passenger_id": passenger_id, "video": str(result.output),
                                      "duration_s": result.duration_s, "method": result.method})
            ctx.log.info("new footage arrived while rendering: rendering again")
        return StepResult.fail(f"footage kept arriving during {MAX_RENDERS} renders")


def _render(clips: list[Path], output: Path, branding: Branding, title: TitleText) -> BrandedResult:
    """The passenger's video (branded when the drop zone set it up), and with a logo the
    watermarked preview beside it. Blocking: runs off the event loop."""
    from app.media.branding import render_branded, render_preview  # noqa: PLC0415

    branded = render_branded(clips, output, branding, title)
    if branding.logo is not None and not any("logo" in note for note in branded.notes):
        render_preview(output, preview_path(output), branding.logo)
    return branded


def _passenger_id(session, params, execution_id: int) -> int | None:
    """From the step (a card import's render), else its execution (`passenger_render`)."""
    if "passenger_id" in params:
        return int(params["passenger_id"])
    if "jump_id" in params:  # a step made before passengers had records
        jump = session.get(Jump, int(params["jump_id"]))
        return jump.passenger_id if jump is not None else None
    passenger_id = (session.get(PipelineExecution, execution_id).params or {}).get("passenger_id")
    return int(passenger_id) if passenger_id is not None else None


def _retire_video(session, passenger_id: int, library: Library) -> list[Path]:
    """A passenger left without footage (every clip moved to another passenger): the video made
    of it, and its preview, leave the passenger's folder for the library's retired videos, so no
    hand-off link or crew member gives someone else's jump as theirs. Moved, never deleted."""
    passenger = session.get_one(Passenger, passenger_id)
    passenger.video_state, passenger.video_error = VideoState.WAITING, None
    retired: list[Path] = []
    video = Path(passenger.folder) / video_name(passenger)
    for path in (video, preview_path(video)):
        if path.is_file():
            retired.append(move_into(path, library.retired_dir(passenger.day, Path(passenger.folder).name)))
    passenger.video_path, passenger.duration_s = None, None
    for jump in passenger.jumps:
        jump.video_path, jump.duration_s = None, None
    if passenger.jumps:
        write_passenger_json(passenger.jumps[0])
    return retired


def _set_state(session, passenger_id: int, state: VideoState, error: str | None = None) -> None:
    passenger = session.get(Passenger, passenger_id)
    passenger.video_state, passenger.video_error = state, error
