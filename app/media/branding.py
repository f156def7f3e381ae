"""The drop zone's branded passenger video and its watermarked preview.

`render_branded(clips, output, branding, title)`: an intro card (the passenger's name, the day,
the drop zone, the logo), the clips, an outro card (the logo); the clips' packets are copied as
they are when they match (the cards are encoded in their format, app/media/title_cards.py);
an optional music bed is mixed under the clips' own sound (only the audio is re-encoded).
A logo or music file that cannot be read is left out, and the result says so: the passenger
still gets a video. `render_preview` makes a small copy with the logo over the picture, for
the desk screen before a sale. Synchronous and CPU-bound: run off the event loop.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, UnidentifiedImageError

from app.media.errors import MediaReadError, first_video_stream, open_input
from app.media.render import RenderResult, partial_path, render_jump
from app.media.title_cards import card_picture, encode_card, fit_logo, look_of

PREVIEW_HEIGHT = 360
LOGO_SHARE = 0.22  # of the preview's width
LOGO_OPACITY = 0.8


@dataclass(frozen=True)
class Branding:
    """The drop zone's settings for passengers' videos (all optional)."""

    drop_zone: str = ""
    logo: Path | None = None
    intro_s: float = 3.0
    outro_s: float = 2.0
    music: Path | None = None
    music_level_db: float = -18.0

    @property
    def wanted(self) -> bool:
        return bool(self.drop_zone or self.logo or self.music)


@dataclass(frozen=True)
class TitleText:
    passenger_name: str
    day: str  # ISO date


@dataclass(frozen=True)
class BrandedResult:
    render: RenderResult
    branded: bool
    notes: list[str] = field(default_factory=list)  # what was left out, and why
    clips_s: float = 0.0  # the clips' footage in the output (the cards excluded)


def branding_problems(branding: Branding) -> list[str]:
    """What is wrong with the branding files, in words for the settings dialog and the step log."""
    problems = []
    if branding.logo is not None and load_logo(branding.logo) is None:
        problems.append(f"the logo {branding.logo} is not a readable image (PNG with transparency expected)")
    if branding.music is not None and not _readable_audio(branding.music):
        problems.append(f"the music file {branding.music} cannot be read as audio")
    return problems


def load_logo(path: Path) -> Image.Image | None:
    try:
        with Image.open(path) as image:
            image.load()
            return image.convert("RGBA")
    except (OSError, UnidentifiedImageError, ValueError):
        return None


def render_branded(clips: list[Path], output: Path, branding: Branding, title: TitleText) -> BrandedResult:
    notes = branding_problems(branding)
    logo = load_logo(branding.logo) if branding.logo is not None else None
    music = branding.music if branding.music is not None and _readable_audio(branding.music) else None
    cards_wanted = bool(branding.drop_zone or logo is not None)
    if not cards_wanted and music is None:
        result = render_jump(clips, output)
        return BrandedResult(result, False, notes, result.duration_s)
    with tempfile.TemporaryDirectory(prefix=".render-", dir=output.parent) as scratch:
        work = Path(scratch)
        parts = list(clips)
        cards_s = 0.0
        if cards_wanted:
            look = look_of(clips[0])
            intro_lines = [title.passenger_name, _long_date(title.day), branding.drop_zone]
            intro = encode_card(card_picture(look.width, look.height, intro_lines, logo), look,
                                branding.intro_s, work / "intro.mp4")
            outro = encode_card(card_picture(look.width, look.height, [branding.drop_zone], logo), look,
                                branding.outro_s, work / "outro.mp4")
            parts = [intro, *clips, outro]
            cards_s = _duration(intro) + _duration(outro)
        joined = work / "joined.mp4" if music is not None else output
        result = render_jump(parts, joined)
        if music is not None:
            mix_music(joined, music, branding.music_level_db, output)
            result = RenderResult(output, result.method, result.duration_s, result.clips, result.reason)
    return BrandedResult(RenderResult(output, result.method, result.duration_s, len(clips), result.reason),
                         True, notes, round(result.duration_s - cards_s, 3))


def mix_music(video: Path, music: Path, level_db: float, output: Path) -> None:
    """Copy the video's picture as it is; its sound becomes the clips' own sound with the music
    under it at `level_db` (looped to the end), re-encoded to AAC 48 kHz stereo."""
    rate, gain = 48_000, 10 ** (level_db / 20)
    bed = _decoded_audio(music, rate)
    partial = partial_path(output)
    try:
        with open_input(video) as src, av.open(str(partial), mode="w", format="mp4") as out:
            v_in = first_video_stream(src, video)
            v_out = out.add_stream_from_template(v_in)
            a_out = out.add_stream("aac", rate=rate, layout="stereo")
            a_out.bit_rate = 160_000
            total = round(float(v_in.duration * v_in.time_base) * rate) if v_in.duration else 0
            own = _decoded_audio(video, rate) if src.streams.audio else np.zeros((2, 0), np.float32)
            for packet in src.demux(v_in):
                if packet.size and packet.dts is not None:
                    packet.stream = v_out
                    out.mux(packet)
            mixed = _fit(own, total) + gain * _fit(np.tile(bed, (1, total // max(1, bed.shape[1]) + 1)), total)
            np.clip(mixed, -1.0, 1.0, out=mixed)
            for start in range(0, total, 1024):
                chunk = np.ascontiguousarray(mixed[:, start:start + 1024])
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
                out.mux(a_out.encode(frame))
            out.mux(a_out.encode(None))
        os.replace(partial, output)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def render_preview(video: Path, output: Path, logo_path: Path | None, height: int = PREVIEW_HEIGHT) -> Path:
    """A low-resolution copy with the logo over the picture's lower right corner, its sound kept."""
    logo = load_logo(logo_path) if logo_path is not None else None
    partial = partial_path(output)
    try:
        with open_input(video) as src, av.open(str(partial), mode="w", format="mp4") as out:
            v_in = first_video_stream(src, video)
            width = round(v_in.codec_context.width * height / v_in.codec_context.height / 2) * 2
            rate = Fraction(str(v_in.average_rate or v_in.guessed_rate or 30)).limit_denominator(1001)
            v_out = out.add_stream("libx264", rate=rate, options={"preset": "veryfast", "crf": "28"})
            v_out.width, v_out.height, v_out.pix_fmt = width, height, "yuv420p"
            a_in: av.audio.stream.AudioStream | None = src.streams.audio[0] if src.streams.audio else None
            a_out = out.add_stream_from_template(a_in) if a_in is not None else None
            overlay = _logo_overlay(logo, width, height)
            index = 0
            for packet in src.demux([s for s in (v_in, a_in) if s is not None]):
                if packet.stream is a_in:
                    if a_out is not None and packet.size and packet.dts is not None:
                        packet.stream = a_out
                        out.mux(packet)
                    continue
                for frame in packet.decode():
                    if not isinstance(frame, av.VideoFrame):
                        continue
                    picture: np.ndarray = frame.to_ndarray(width=width, height=height, format="rgb24")
                    if overlay is not None:
                        picture = _blend(picture, *overlay)
                    still = av.VideoFrame.from_ndarray(picture, format="rgb24")
                    still.pts, still.time_base = index, 1 / rate
                    out.mux(v_out.encode(still))
                    index += 1
            out.mux(v_out.encode(None))
        os.replace(partial, output)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return output


def logo_box(width: int, height: int, logo: Image.Image) -> tuple[int, int, int, int]:
    """Where the preview's logo sits: (x, y, w, h), lower right with a margin."""
    mark = fit_logo(logo, int(width * LOGO_SHARE), int(height * LOGO_SHARE))
    margin = max(4, height // 30)
    return width - mark.width - margin, height - mark.height - margin, mark.width, mark.height


Overlay = tuple[int, int, np.ndarray, np.ndarray]  # x, y, RGB, alpha


def _logo_overlay(logo: Image.Image | None, width: int, height: int) -> Overlay | None:
    if logo is None:
        return None
    x, y, w, h = logo_box(width, height, logo)
    mark = np.asarray(fit_logo(logo, w, h)).astype(np.float32)
    h, w = mark.shape[:2]
    alpha = mark[:, :, 3:4] / 255.0 * LOGO_OPACITY
    return x, y, mark[:, :, :3], alpha


def _blend(picture: np.ndarray, x: int, y: int, rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    out = picture.copy()
    h, w = rgb.shape[:2]
    region = out[y:y + h, x:x + w].astype(np.float32)
    out[y:y + h, x:x + w] = (region * (1 - alpha) + rgb * alpha).astype(np.uint8)
    return out


def _decoded_audio(path: Path, rate: int) -> np.ndarray:
    """The file's first audio track as float32 stereo at `rate`: shape (2, samples)."""
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=rate)
    chunks: list[np.ndarray] = []
    with open_input(path) as src:
        if not src.streams.audio:
            raise MediaReadError(path, "no audio track")
        try:
            for frame in src.decode(src.streams.audio[0]):
                chunks.extend(f.to_ndarray() for f in resampler.resample(frame))
            chunks.extend(f.to_ndarray() for f in resampler.resample(None))
        except av.error.FFmpegError as exc:
            raise MediaReadError(path, f"audio cannot be decoded ({exc})") from exc
    return np.concatenate(chunks, axis=1).astype(np.float32) if chunks else np.zeros((2, 0), np.float32)


def _fit(samples: np.ndarray, total: int) -> np.ndarray:
    if samples.shape[1] >= total:
        return samples[:, :total]
    return np.pad(samples, ((0, 0), (0, total - samples.shape[1])))


def _readable_audio(path: Path) -> bool:
    try:
        with open_input(path) as src:
            return bool(src.streams.audio)
    except MediaReadError:
        return False


def _duration(path: Path) -> float:
    with open_input(path) as src:
        video = first_video_stream(src, path)
        return float(video.duration * video.time_base) if video.duration else 0.0


def _long_date(day: str) -> str:
    try:
        return date.fromisoformat(day).strftime("%d %B %Y").lstrip("0")
    except ValueError:
        return day
