"""Title cards (the passenger's intro, the drop zone's outro) drawn and encoded like a clip.

A card is encoded in the clips' own format (H.264 of the same size, frame rate, pixel format
and profile, with silent audio in the clips' audio format) and with H.264 parameter-set ids
the camera does not use, so `render_jump` can join it to the clips without re-encoding them
(see app/media/avcc.py). Synchronous: run it off the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from app.media.avcc import AvccError, unused_parameter_set_id
from app.media.errors import first_video_stream, open_input

BACKGROUND = (12, 18, 32)
INK = (245, 245, 245)
AUDIO_FRAME = 1024


@dataclass(frozen=True)
class ClipLook:
    """What a card must share with the clips to be joined to them as they are."""

    width: int
    height: int
    rate: Fraction
    pix_fmt: str
    profile: str | None
    parameter_set_id: int
    audio_rate: int | None
    audio_layout: str | None


def look_of(clip: Path) -> ClipLook:
    with open_input(clip) as src:
        video = first_video_stream(src, clip)
        ctx = video.codec_context
        rate = Fraction(str(video.average_rate or video.guessed_rate or 30)).limit_denominator(1001)
        try:
            set_id = unused_parameter_set_id(bytes(ctx.extradata or b"")) if ctx.name == "h264" else 0
        except AvccError:
            set_id = 0
        audio = src.streams.audio[0].codec_context if src.streams.audio else None
        return ClipLook(ctx.width // 2 * 2, ctx.height // 2 * 2, rate, ctx.pix_fmt or "yuv420p",
                        _x264_profile(ctx.profile), set_id,
                        audio.sample_rate if audio is not None and audio.name == "aac" else None,
                        audio.layout.name if audio is not None and audio.name == "aac" else None)


def card_picture(width: int, height: int, lines: list[str], logo: Image.Image | None = None) -> np.ndarray:
    """An RGB picture: the logo above centred lines of text, the first line largest."""
    picture = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(picture)
    top = float(height // 6)
    if logo is not None:
        mark = fit_logo(logo, width // 3, height // 3)
        picture.paste(mark, ((width - mark.width) // 2, int(top)), mark)
        top += mark.height + height // 20
    for index, text in enumerate(line for line in lines if line):
        font = _font(max(10, height // (9 if index == 0 else 16)))
        box = draw.textbbox((0, 0), text, font=font)
        draw.text(((width - (box[2] - box[0])) // 2, top), text, font=font, fill=INK)
        top += (box[3] - box[1]) + height // 24
    return np.asarray(picture)


def fit_logo(logo: Image.Image, max_width: int, max_height: int) -> Image.Image:
    mark = logo.convert("RGBA")
    scale = min(max_width / mark.width, max_height / mark.height)
    return mark.resize((max(1, int(mark.width * scale)), max(1, int(mark.height * scale))),
                       Image.Resampling.LANCZOS)


def encode_card(picture: np.ndarray, look: ClipLook, seconds: float, output: Path) -> Path:
    """`seconds` of a still picture, encoded the way the clips are (module doc)."""
    frames = max(1, round(seconds * look.rate))
    options = {"preset": "veryfast", "crf": "18", "x264-params": f"sps-id={look.parameter_set_id}"}
    if look.profile:
        options["profile"] = look.profile
    with av.open(str(output), mode="w", format="mp4") as out:
        video = out.add_stream("libx264", rate=look.rate, options=options)
        video.width, video.height, video.pix_fmt = look.width, look.height, look.pix_fmt
        audio = out.add_stream("aac", rate=look.audio_rate, layout=look.audio_layout) if look.audio_rate else None
        still = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(
            width=look.width, height=look.height, format=look.pix_fmt)
        for index in range(frames):
            still.pts = index
            still.time_base = 1 / look.rate
            out.mux(video.encode(still))
        out.mux(video.encode(None))
        if audio is not None:
            _silence(out, audio, round(frames / look.rate * audio.rate))
    return output


def _silence(out: av.container.OutputContainer, audio: av.audio.stream.AudioStream, samples: int) -> None:
    channels = audio.layout.nb_channels
    done = 0
    while done < samples:
        count = min(AUDIO_FRAME, samples - done)
        frame = av.AudioFrame.from_ndarray(np.zeros((channels, count), np.float32), format="fltp",
                                           layout=audio.layout.name)
        frame.sample_rate = audio.rate
        frame.pts = done
        frame.time_base = Fraction(1, audio.rate)
        out.mux(audio.encode(frame))
        done += count
    out.mux(audio.encode(None))


def _x264_profile(name: str | None) -> str | None:
    """x264's name for the clip's H.264 profile (a card must not use tools the clip's lacks)."""
    if not name:
        return None
    name = name.lower()
    for known in ("high 4:4:4", "high 4:2:2", "high 10", "high", "main", "baseline"):
        if name.startswith(known) or name == f"constrained {known}":
            return known.replace(" 4:4:4", "444").replace(" 4:2:2", "422").replace(" 10", "10")
    return None


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for candidate in ("DejaVuSans-Bold.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"):
        try:
            return ImageFont.truetype(candidate, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)  # Pillow's bundled font: accented Latin included
