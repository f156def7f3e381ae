"""Generated sample media: real H.264 clips (PyAV + libx264) and GoPro-style SD cards.

- `write_clip(path, ClipSpec(...))` writes one MP4: a textured, slowly panning scene, optionally
  a QR card held up between `qr_from_s` and `qr_until_s` (looks: `qr_art.LOOKS`, e.g. sharp,
  blurred, tilted, small, perspective, noisy), optionally an AAC tone, optionally a data track.
- `passenger_text(...)` is the QR payload of docs/protocol.md for a made-up passenger.
- `write_sample_card(dir)` (in `sample_card.py`) lays out a whole card.

Camera metadata PyAV can write (and what `probe.py` reads back):
- container `creation_time` (mvhd) and stream `handler_name` (hdlr, "GoPro AVC" on real GoPros);
- `make`, `model`, `firmware`: FFmpeg's MP4 muxer drops unknown keys, so with `gopro_tags=True`
  the clip is written with `movflags=use_metadata_tags` (an Apple `meta/keys` box FFmpeg reads
  back under the same names) and, after muxing, GoPro's own `udta` boxes are added
  (`mp4_boxes.add_udta_boxes`): `FIRM` (firmware) and `GPMF` with the model (`MINF`), where a
  real GoPro keeps them (not with `faststart`, whose moov is not the last box).
- a data track: with `data_track=True` a QuickTime timecode (`tmcd`) track is written, as GoPro
  clips carry one beside their `gpmd` telemetry track (PyAV cannot mux `gpmd` itself).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from app.media.mp4_boxes import add_udta_boxes, gpmf_block
from app.media.qr_art import LOOKS, QrLook, paste, qr_card

AUDIO_RATE = 48_000
AUDIO_FRAME = 1024


@dataclass(frozen=True)
class QrShot:
    """A further QR code in the clip (a URL on a T-shirt, a second passenger's card)."""

    text: str
    look: str | QrLook = "sharp"
    from_s: float = 0.0
    until_s: float = 1.5
    centre: tuple[float, float] = (0.5, 0.5)  # as shares of the frame's width and height
    height_frac: float | None = None  # overrides the look's size


@dataclass(frozen=True)
class ClipSpec:
    width: int = 320
    height: int = 240
    fps: int = 30
    duration_s: float = 2.0
    gop_s: float = 0.5  # one keyframe every gop_s seconds (a short GOP, as action cameras use)
    b_frames: int = 2
    codec: str = "libx264"  # "libx265" for HEVC; "mpeg4" gives streams that differ from H.264 ones
    pix_fmt: str = "yuv420p"  # "yuv420p10le" with libx265: 10-bit, as GoPros offer
    crf: int = 23
    preset: str = "ultrafast"
    qr_text: str | None = None
    look: str | QrLook = "sharp"
    qr_from_s: float = 0.0
    qr_until_s: float = 1.5
    qr_centre: tuple[float, float] = (0.5, 0.5)
    extra_codes: tuple[QrShot, ...] = ()
    audio: bool = False
    data_track: bool = False
    creation_time: datetime | None = None
    gopro_tags: bool = False
    faststart: bool = False  # moov before mdat (as phones write); GoPros write it at the end
    fragmented: bool = False  # an empty moov, then moof/mdat fragments (no sample tables in the index)
    camera_model: str = "HERO9 Black"
    firmware: str = "HD9.01.01.60.00"
    camera_serial: str | None = None  # GPMF CASN, as a GoPro writes its serial number
    seed: int = 0
    extra_metadata: dict[str, str] = field(default_factory=dict)


def passenger_text(booking_id: str, name: str, jump_date: str | None = "2026-11-23", **extra: str) -> str:
    """The QR payload of a passenger (docs/protocol.md); `jump_date=None`: a code without one."""
    payload = {"v": 1, "booking_id": booking_id, "passenger_name": name,
               **({"jump_date": jump_date} if jump_date else {}), "package": "video+photos", **extra}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def write_clip(path: Path, spec: ClipSpec = ClipSpec(), **changes: object) -> Path:
    """Write one generated clip to `path` (an .MP4); `changes` override fields of `spec`."""
    spec = replace(spec, **changes) if changes else spec
    if spec.width % 2 or spec.height % 2:
        raise ValueError("width and height must be even (yuv420p)")
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(spec.seed)
    scene = _Scene(spec, rng)
    container = av.open(str(path), mode="w", format="mp4", options=_mux_options(spec))
    try:
        container.metadata.update(_container_metadata(spec))
        video = _add_video(container, spec)
        audio = _add_audio(container) if spec.audio else None
        frames = max(1, round(spec.duration_s * spec.fps))
        samples_done = 0
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(scene.render(index / spec.fps), format="yuv420p")
            if spec.pix_fmt != "yuv420p":
                frame = frame.reformat(format=spec.pix_fmt)
            frame.pts = index
            frame.time_base = Fraction(1, spec.fps)
            container.mux(video.encode(frame))
            if audio is not None:
                until = round((index + 1) / spec.fps * AUDIO_RATE)
                while samples_done < until:
                    container.mux(audio.encode(_tone(samples_done)))
                    samples_done += AUDIO_FRAME
        container.mux(video.encode(None))
        if audio is not None:
            container.mux(audio.encode(None))
    finally:
        container.close()
    if spec.gopro_tags and not spec.faststart:
        gpmf = gpmf_block({b"DVNM": "Global Settings", b"FMWR": spec.firmware, b"MINF": spec.camera_model,
                           **({b"CASN": spec.camera_serial} if spec.camera_serial else {})})
        add_udta_boxes(path, {b"FIRM": spec.firmware.encode("ascii"), b"GPMF": gpmf})
    return path


def _mux_options(spec: ClipSpec) -> dict[str, str]:
    flags = [flag for flag, wanted in (("use_metadata_tags", spec.gopro_tags), ("faststart", spec.faststart),
                                       ("frag_keyframe+empty_moov", spec.fragmented)) if wanted]
    return {"movflags": "+".join(flags)} if flags else {}


def _container_metadata(spec: ClipSpec) -> dict[str, str]:
    meta: dict[str, str] = {}
    if spec.creation_time is not None:
        meta["creation_time"] = spec.creation_time.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    if spec.gopro_tags:
        meta.update({"make": "GoPro", "model": spec.camera_model, "firmware": spec.firmware})
    if spec.data_track:
        meta["timecode"] = "00:00:00:00"
    meta.update(spec.extra_metadata)
    return meta


def _add_video(container: av.container.OutputContainer, spec: ClipSpec) -> av.video.stream.VideoStream:
    gop = max(1, round(spec.gop_s * spec.fps))
    options: dict[str, str] = {}
    if spec.codec == "libx264":
        options = {
            "preset": spec.preset,
            "crf": str(spec.crf),
            # Fixed keyframe spacing like a camera; no scene-cut keyframes.
            "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes={spec.b_frames}",
        }
    elif spec.codec == "libx265":  # HEVC, as GoPros record 4K since the HERO6
        options = {
            "preset": spec.preset,
            "crf": str(spec.crf),
            "x265-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes={spec.b_frames}:log-level=error",
        }
    stream = container.add_stream(spec.codec, rate=spec.fps, options=options)
    stream.width, stream.height, stream.pix_fmt = spec.width, spec.height, spec.pix_fmt
    stream.codec_context.gop_size = gop
    if spec.codec not in ("libx264", "libx265"):
        stream.codec_context.bit_rate = spec.width * spec.height * spec.fps // 8
    if spec.gopro_tags:
        stream.metadata["handler_name"] = "GoPro AVC"
    return stream


def _add_audio(container: av.container.OutputContainer) -> av.audio.stream.AudioStream:
    stream = container.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
    stream.bit_rate = 96_000
    return stream


def _tone(first_sample: int) -> av.AudioFrame:
    """1024 samples of a quiet 440 Hz tone (wind noise stand-in), starting at first_sample."""
    t = (np.arange(AUDIO_FRAME) + first_sample) / AUDIO_RATE
    wave = (0.1 * np.sin(2 * math.pi * 440.0 * t)).astype(np.float32)
    frame = av.AudioFrame.from_ndarray(np.stack([wave, wave]), format="fltp", layout="stereo")
    frame.sample_rate = AUDIO_RATE
    frame.pts = first_sample
    frame.time_base = Fraction(1, AUDIO_RATE)
    return frame


def _look(shot: QrShot) -> QrLook:
    look = LOOKS[shot.look] if isinstance(shot.look, str) else shot.look
    return replace(look, height_frac=shot.height_frac) if shot.height_frac else look


class _Scene:
    """A panning textured sky, and the QR card held up (with a little hand shake) for a while."""

    def __init__(self, spec: ClipSpec, rng: np.random.Generator) -> None:
        self.spec = spec
        w, h = spec.width, spec.height
        self.pan = max(8, w // 8)
        coarse = rng.integers(40, 220, size=(max(2, (h + self.pan) // 24), max(2, (w + self.pan) // 24)), dtype=np.uint8)
        texture = cv2.resize(coarse, (w + self.pan, h + self.pan), interpolation=cv2.INTER_CUBIC)
        grain = rng.integers(-6, 7, size=texture.shape, dtype=np.int16)
        self.background = np.clip(texture.astype(np.int16) + grain, 0, 255).astype(np.uint8)
        # Chroma stays constant (a blue-ish cast): only luma matters to the decoder under test.
        self.chroma = np.empty((h // 2, w), np.uint8)
        self.chroma[: h // 4] = 150
        self.chroma[h // 4 :] = 112
        shots = list(spec.extra_codes)
        if spec.qr_text is not None:
            shots.insert(0, QrShot(spec.qr_text, spec.look, spec.qr_from_s, spec.qr_until_s, spec.qr_centre))
        self.cards = [(shot, *qr_card(shot.text, h, _look(shot), rng)) for shot in shots]
        self.yuv = np.empty((h * 3 // 2, w), np.uint8)

    def render(self, t: float) -> np.ndarray:
        spec = self.spec
        w, h = spec.width, spec.height
        ox = int((t * w / 20) % self.pan)
        oy = int((math.sin(t) + 1) * self.pan / 4)
        luma = self.yuv[:h]
        luma[:] = self.background[oy : oy + h, ox : ox + w]
        shake = h / 120
        for shot, card, alpha in self.cards:
            if shot.from_s <= t < shot.until_s:
                x = int(w * shot.centre[0]) - card.shape[1] // 2 + int(shake * math.sin(7.3 * t))
                y = int(h * shot.centre[1]) - card.shape[0] // 2 + int(shake * math.cos(5.1 * t))
                paste(luma, card, alpha, x, y)
        self.yuv[h:] = self.chroma
        return self.yuv
