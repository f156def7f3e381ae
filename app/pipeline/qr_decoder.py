"""Find the passenger's QR code in the first seconds of a clip.

    find_passenger_code(path, window_s=5.0, interval_s=0.5, frame_dir=None) -> Found | None

Synchronous and CPU-bound: call it from a thread or process pool, never on the event loop.

1. Frames every `interval_s` over the first `window_s` seconds (`app.media.frames`: keyframes
   when they are close enough to the sample times, else decoded from the GOP; grayscale).
2. Each frame, in time order, is read with zxing-cpp; the first valid passenger payload
   (docs/protocol.md) wins. Other codes on it (a URL on a T-shirt) are logged and returned in
   `ignored`; a different passenger's code on the same frame goes into `others`.
3. If zxing found no passenger code in any frame, the frames where zxing saw a QR symbol it
   could not read are read again with pyzbar, then OpenCV's QRCodeDetector (slower fallbacks;
   `fallbacks="all"` tries them on every frame, `"none"` never). Where zxing sees no symbol at
   all the fallbacks were never seen to find one, and on a clip without any code they would
   cost ~1.2 s of CPU at 1080p (~4.5 s at 4K) for nothing.
4. With `frame_dir`, a JPEG thumbnail of the frame where the code was read is written there
   (only there) and its path returned.

`full_window=True` keeps reading the remaining frames (zxing only) after the first passenger
code to report a second, different passenger filmed in the same clip (`others`).
`scan_clip(...)` returns everything (`QrScan`), including the ignored codes of a clip where no
passenger code was found. A file that is not a video, is truncated before any frame or has no
video stream raises `app.media.errors.MediaReadError`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2

from app.media.errors import MediaReadError
from app.media.frames import SampledFrame, sample_frames
from app.media.qr_readers import FALLBACKS, Reader, zxing_scan
from app.pipeline.passenger import NotPassengerCode, Passenger, parse_passenger_code

__all__ = ["Found", "IgnoredCode", "MediaReadError", "QrScan", "find_passenger_code", "scan_clip"]

log = logging.getLogger(__name__)

THUMBNAIL_MAX_SIDE = 640


@dataclass(frozen=True)
class IgnoredCode:
    text: str
    time_s: float
    reason: str


@dataclass(frozen=True)
class Found:
    passenger: Passenger
    time_s: float  # where in the clip the code was read
    frame_path: Path | None  # JPEG thumbnail in frame_dir, None without frame_dir
    reader: str  # "zxing", "pyzbar" or "opencv"
    ignored: tuple[IgnoredCode, ...] = ()
    others: tuple[Passenger, ...] = ()  # other passengers' codes seen in the same clip

    @property
    def payload(self) -> dict[str, Any]:
        return self.passenger.payload


@dataclass
class QrScan:
    found: Found | None = None
    ignored: list[IgnoredCode] = field(default_factory=list)
    frames_read: int = 0


def find_passenger_code(path: Path, window_s: float = 5.0, interval_s: float = 0.5,
                        frame_dir: Path | None = None, *, full_window: bool = False,
                        fallbacks: str = "candidates", max_side: int | None = None) -> Found | None:
    """The passenger code filmed in the clip's first window_s seconds, or None (module doc)."""
    return scan_clip(path, window_s, interval_s, frame_dir, full_window=full_window, fallbacks=fallbacks,
                     max_side=max_side).found


def scan_clip(path: Path, window_s: float = 5.0, interval_s: float = 0.5, frame_dir: Path | None = None, *,
              full_window: bool = False, fallbacks: str = "candidates", max_side: int | None = None) -> QrScan:
    if fallbacks not in ("candidates", "all", "none"):
        raise ValueError(f"fallbacks must be 'candidates', 'all' or 'none', not {fallbacks!r}")
    path = Path(path)
    scan = QrScan()
    kept: list[SampledFrame] = []
    frames = sample_frames(path, window_s, interval_s, max_side=max_side)
    try:
        for sample in frames:
            scan.frames_read += 1
            if scan.found is None:
                texts, unreadable = zxing_scan(sample.gray)
                hit = _passenger_in(texts, sample, scan, path)
                if hit is not None:
                    scan.found = _found(hit, sample, "zxing", frame_dir, path)
                    if not full_window:
                        break
                elif fallbacks == "all" or (fallbacks == "candidates" and unreadable):
                    kept.append(sample)
            else:
                _note_others(sample, scan, path)
    finally:
        frames.close()
    for name, reader in FALLBACKS if scan.found is None and fallbacks != "none" else ():
        for sample in kept:
            hit = _passenger_on(sample, ((name, reader),), scan, path)
            if hit is not None:
                scan.found = _found(hit, sample, name, frame_dir, path)
                break
        if scan.found is not None:
            break
    if scan.found is not None:
        scan.found = _with_ignored(scan.found, scan.ignored)
        log.info("%s: passenger %s (%s) at %.1f s via %s", path.name, scan.found.passenger.booking_id,
                 scan.found.passenger.passenger_name, scan.found.time_s, scan.found.reader)
    return scan


@dataclass(frozen=True)
class _Hit:
    passenger: Passenger
    others: tuple[Passenger, ...]


def _passenger_on(sample: SampledFrame, readers: tuple[tuple[str, Reader], ...], scan: QrScan, path: Path) -> _Hit | None:
    for _, reader in readers:
        hit = _passenger_in(reader(sample.gray), sample, scan, path)
        if hit is not None:
            return hit
    return None


def _passenger_in(texts: list[str], sample: SampledFrame, scan: QrScan, path: Path) -> _Hit | None:
    """The first passenger code among a frame's codes (other passengers kept); other codes noted."""
    passengers: list[Passenger] = []
    for text in texts:
        try:
            passengers.append(parse_passenger_code(text))
        except NotPassengerCode as exc:
            _ignore(scan, text, sample.time_s, str(exc), path)
    if not passengers:
        return None
    first = passengers[0]
    others = tuple(p for p in passengers[1:] if _key(p) != _key(first))
    return _Hit(first, _unique(others))


def _note_others(sample: SampledFrame, scan: QrScan, path: Path) -> None:
    assert scan.found is not None
    hit = _passenger_in(zxing_scan(sample.gray)[0], sample, scan, path)
    if hit is None:
        return
    known = {_key(scan.found.passenger), *(_key(p) for p in scan.found.others)}
    new = tuple(p for p in (hit.passenger, *hit.others) if _key(p) not in known)
    if new:
        log.warning("%s: a second passenger code at %.1f s: %s", path.name, sample.time_s,
                    ", ".join(p.booking_id for p in new))
        scan.found = Found(scan.found.passenger, scan.found.time_s, scan.found.frame_path, scan.found.reader,
                           scan.found.ignored, _unique((*scan.found.others, *new)))


def _found(hit: _Hit, sample: SampledFrame, reader: str, frame_dir: Path | None, path: Path) -> Found:
    if hit.others:
        log.warning("%s: %d passenger codes on one frame at %.1f s; keeping %s", path.name,
                    1 + len(hit.others), sample.time_s, hit.passenger.booking_id)
    frame_path = _save_thumbnail(sample, frame_dir, path) if frame_dir is not None else None
    return Found(hit.passenger, sample.time_s, frame_path, reader, (), hit.others)


def _with_ignored(found: Found, ignored: list[IgnoredCode]) -> Found:
    return Found(found.passenger, found.time_s, found.frame_path, found.reader, tuple(ignored), found.others)


def _ignore(scan: QrScan, text: str, time_s: float, reason: str, path: Path) -> None:
    if any(code.text == text for code in scan.ignored):
        return
    log.info("%s: ignored a QR code that is not a passenger code at %.1f s (%s)", path.name, time_s, reason)
    scan.ignored.append(IgnoredCode(text=text, time_s=time_s, reason=reason))


def _save_thumbnail(sample: SampledFrame, frame_dir: Path, clip: Path) -> Path:
    frame = sample.frame
    scale = min(1.0, THUMBNAIL_MAX_SIDE / max(frame.width, frame.height))
    width, height = max(2, round(frame.width * scale) // 2 * 2), max(2, round(frame.height * scale) // 2 * 2)
    rgb = frame.reformat(width=width, height=height, format="bgr24").to_ndarray()
    frame_dir.mkdir(parents=True, exist_ok=True)
    target = frame_dir / f"{clip.stem}_qr_{int(sample.time_s * 1000):06d}ms.jpg"
    partial = target.with_name(target.name + ".partial.jpg")
    if not cv2.imwrite(str(partial), rgb, [cv2.IMWRITE_JPEG_QUALITY, 85]):
        raise OSError(f"cannot write {partial}")
    partial.replace(target)
    return target


def _key(p: Passenger) -> tuple[str, str]:
    return (p.booking_id, p.passenger_name)


def _unique(passengers: tuple[Passenger, ...]) -> tuple[Passenger, ...]:
    seen: dict[tuple[str, str], Passenger] = {}
    for p in passengers:
        seen.setdefault(_key(p), p)
    return tuple(seen.values())
