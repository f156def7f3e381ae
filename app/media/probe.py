"""`probe(path) -> dict`: what a clip is, as plain JSON-ready data (an ffprobe for the library).

    {"file": "GX010003.MP4", "size_bytes": 680572, "format": "mov,mp4,m4a,3gp,3g2,mj2",
     "duration_s": 3.0, "bit_rate": 1814861, "creation_time": "2026-11-23T10:02:00Z",
     "video": {"codec": "h264", "profile": "High", "width": 640, "height": 360, "fps": 30.0,
               "frame_rate": "30/1", "pixel_format": "yuv420p", "bit_rate": 1712000, "frames": 90},
     "audio": {"codec": "aac", "sample_rate": 48000, "channels": 2, "bit_rate": 96000} | None,
     "data_streams": ["tmcd"],
     "camera": {"make": "GoPro", "model": "HERO9 Black", "firmware": "HD9.01.01.60.00"}}

Camera fields are None when the file does not carry them. They come from the container
metadata FFmpeg exposes (`make`, `model`, `firmware`, Apple's `com.apple.quicktime.*`), from
GoPro's `udta` boxes (`FIRM`, and `MINF`/`FMWR` inside `GPMF`, read directly: `mp4_boxes.py`),
and "GoPro" as make when a stream's handler is GoPro's ("GoPro AVC", "GoPro MET"). Synchronous; raises MediaReadError
when the file cannot be read as media.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import av

from app.media.errors import MediaReadError, open_input
from app.media.mp4_boxes import read_udta_strings

MAKE_KEYS = ("make", "com.apple.quicktime.make")
MODEL_KEYS = ("model", "com.apple.quicktime.model")
FIRMWARE_KEYS = ("firmware", "com.apple.quicktime.software")


def probe(path: Path) -> dict[str, Any]:
    path = Path(path)
    container = open_input(path)
    try:
        meta = {key.lower(): value for key, value in container.metadata.items()}
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        return {
            "file": path.name,
            "size_bytes": path.stat().st_size,
            "format": container.format.name,
            "duration_s": _duration(container, video),
            "bit_rate": container.bit_rate or None,
            "creation_time": _creation_time(meta, container),
            "video": _video(video) if video is not None else None,
            "audio": _audio(audio) if audio is not None else None,
            "data_streams": [_data_name(s) for s in container.streams if s.type in ("data", "attachment", "subtitle")],
            "camera": _camera(path, meta, container),
        }
    except av.error.FFmpegError as exc:
        raise MediaReadError(path, f"cannot read stream information ({exc})") from exc
    finally:
        container.close()


def _duration(container: av.container.InputContainer, video: av.video.stream.VideoStream | None) -> float | None:
    if video is not None and video.duration is not None and video.time_base is not None:
        return round(float(video.duration * video.time_base), 3)
    if container.duration is not None:
        return round(container.duration / av.time_base, 3)
    return None


def _video(stream: av.video.stream.VideoStream) -> dict[str, Any]:
    ctx = stream.codec_context
    rate = stream.average_rate or stream.guessed_rate
    return {
        "codec": ctx.name,
        "profile": ctx.profile,
        "width": ctx.width,
        "height": ctx.height,
        "fps": round(float(rate), 3) if rate else None,
        "frame_rate": f"{rate.numerator}/{rate.denominator}" if rate else None,
        "pixel_format": ctx.pix_fmt,
        "bit_rate": ctx.bit_rate or stream.bit_rate or None,
        "frames": stream.frames or None,
    }


def _audio(stream: av.audio.stream.AudioStream) -> dict[str, Any]:
    ctx = stream.codec_context
    return {
        "codec": ctx.name,
        "sample_rate": ctx.sample_rate,
        "channels": ctx.channels,
        "bit_rate": ctx.bit_rate or stream.bit_rate or None,
    }


def _data_name(stream: av.stream.Stream) -> str:
    """A name for a non-audio/video track. PyAV does not expose a data track's four-character
    tag, so the well-known ones are recognised by what FFmpeg reports about them."""
    meta = stream.metadata
    handler = meta.get("handler_name", "").strip()
    if "timecode" in meta:
        return "tmcd"
    if "GoPro MET" in handler:
        return "gpmd"
    if stream.codec_context is not None and stream.codec_context.name:
        return stream.codec_context.name
    return handler or stream.type


def _creation_time(meta: dict[str, str], container: av.container.InputContainer) -> str | None:
    raw = meta.get("creation_time") or meta.get("com.apple.quicktime.creationdate")
    if raw is None:
        raw = next((s.metadata["creation_time"] for s in container.streams if "creation_time" in s.metadata), None)
    if not raw:
        return None
    raw = raw.split(";")[0].strip()  # FFmpeg joins a tag found in two boxes with ';'
    try:
        stamp = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return raw  # keep what the camera wrote rather than lose it
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)  # MP4's mvhd time is UTC by definition
    return stamp.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _camera(path: Path, meta: dict[str, str], container: av.container.InputContainer) -> dict[str, str | None]:
    boxes = read_udta_strings(path) if container.format.name.startswith("mov") else {}
    make = _first(meta, MAKE_KEYS)
    handlers = [s.metadata.get("handler_name", "") for s in container.streams]
    if make is None and (any(h.strip().startswith("GoPro") for h in handlers) or "MINF" in boxes):
        make = "GoPro"
    return {
        "make": make,
        "model": boxes.get("MINF") or _first(meta, MODEL_KEYS),
        "firmware": boxes.get("FIRM") or boxes.get("FMWR") or _first(meta, FIRMWARE_KEYS),
    }


def _first(meta: dict[str, str], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = meta.get(key, "").strip()
        if value:
            return value
    return None
