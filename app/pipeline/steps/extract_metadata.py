"""extract_metadata: duration, codec, resolution, camera... of one stored video."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from app.db.models import ExecutionFile, ImportedFile
from app.media.errors import MediaReadError
from app.pipeline.base import BaseStep, StepContext, StepResult
from app.pipeline.registry import register


# Containers a camera writes. FFmpeg guesses a format for any bytes, and about 1 in 100 blocks
# of random bytes passes for a raw stream (a lyrics file, H.261): such a "clip" made the render
# fail (issue 12, finding 11), so a video file must at least be in a real container.
CAMERA_CONTAINERS = frozenset({"mov", "mp4", "matroska", "webm", "avi", "mpegts"})


def not_a_camera_clip(media: dict) -> str | None:
    """Why probed media is no clip to render, or None."""
    formats = set(str(media.get("format") or "").split(","))
    if not formats & CAMERA_CONTAINERS:
        return f"not a video container (read as {media.get('format')!r})"
    if not media.get("video"):
        return "the file has no video stream"
    return None


@register
class ExtractMetadata(BaseStep):
    """Read the file's metadata with PyAV; kept on the file's records and in passenger.json.
    An unreadable clip is marked so (the render leaves it out) instead of failing the jump."""

    name = "extract_metadata"
    timeout_s = 120.0

    async def run(self, ctx: StepContext) -> StepResult:
        file_id = int(ctx.params["file_id"])
        card_file = await ctx.db.run(lambda s: s.get_one(ExecutionFile, file_id))
        from app.media.probe import probe  # noqa: PLC0415 - loads FFmpeg; only where steps run

        try:
            media = await ctx.offload(probe, Path(card_file.stored_path))
            problem = not_a_camera_clip(media)
            if problem:
                raise MediaReadError(card_file.stored_path, problem)
        except MediaReadError as exc:
            ctx.log.warning("%s is not a readable video, left out of the render: %s", card_file.path, exc)
            media = {"error": str(exc)}

        def store(session) -> None:
            row = session.get(ExecutionFile, file_id)
            row.media = media
            record = session.scalar(select(ImportedFile).where(ImportedFile.fingerprint == row.fingerprint))
            if record is not None:
                record.media = media

        await ctx.db.run(store)
        video = media.get("video") or {}
        if "error" not in media:
            ctx.log.info("%s: %.1f s, %s %sx%s at %s fps", card_file.path, media.get("duration_s") or 0,
                         video.get("codec"), video.get("width"), video.get("height"), video.get("fps"))
        return StepResult.ok({"file_id": file_id, "media": media})
