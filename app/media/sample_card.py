"""A generated GoPro-style SD card: `write_sample_card(dir) -> SampleCard`.

Layout (file modified times increase in this order, one minute apart by default):

    DCIM/100GOPRO/GX010001.MP4   jump clip before any passenger code  -> unassigned
    DCIM/100GOPRO/GX010002.MP4   passenger 1 holds up their QR card    -> opens passenger 1's jump
    DCIM/100GOPRO/GL010002.LRV   its low-res proxy, GX010002.THM its thumbnail (not imported)
    DCIM/100GOPRO/GX010003.MP4   passenger 1's jump
    DCIM/100GOPRO/GX020003.MP4   second chapter of the same recording
    DCIM/100GOPRO/GX010004.MP4   passenger 2's QR clip                -> opens passenger 2's jump
    DCIM/100GOPRO/GX010005.MP4   passenger 2's jump
    DCIM/100GOPRO/GOPR0006.JPG   a photo after the jump               -> passenger 2
    ...

Every clip has the same encoder setup, an AAC track, GoPro's camera metadata (model, firmware,
creation time = its modified time) and a timecode data track (a jump's clips join by remux,
the data track dropped). QR clips
are short (2 s), jump clips longer (4 s), so a size threshold between
`SampleCard.largest_qr_clip` and `SampleCard.smallest_jump_clip` separates them as
"small files first" expects. The returned `SampleCard` says which file belongs to whom, and
`file_list()` gives the card's listing in the `sd:file_list` format of docs/protocol.md.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from app.media.samples import ClipSpec, passenger_text, write_clip

CARD_FOLDER = "DCIM/100GOPRO"
DEFAULT_START = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
DEFAULT_PASSENGERS = (("BK-2026-1042", "Ana Silva"), ("BK-2026-1043", "Benoît Müller"))


@dataclass(frozen=True)
class CardFile:
    path: str  # relative POSIX path on the card
    size: int
    modified: datetime  # UTC
    kind: str  # "qr_clip", "jump_clip", "photo", "proxy", "thumbnail"
    owner: str | None  # booking_id of the passenger whose jump it belongs to; None: unassigned or proxy


@dataclass(frozen=True)
class CardPassenger:
    booking_id: str
    passenger_name: str
    payload: dict[str, Any]
    qr_clip: str  # the clip that opens the jump
    clips: tuple[str, ...]  # the jump's video clips in time order, the QR clip first
    photos: tuple[str, ...]


@dataclass
class SampleCard:
    root: Path
    files: list[CardFile] = field(default_factory=list)
    passengers: list[CardPassenger] = field(default_factory=list)

    @property
    def unassigned(self) -> list[str]:
        return [f.path for f in self.files if f.owner is None and f.kind in ("jump_clip", "photo", "qr_clip")]

    @property
    def proxies(self) -> list[str]:
        return [f.path for f in self.files if f.kind in ("proxy", "thumbnail")]

    @property
    def largest_qr_clip(self) -> int:
        return max(f.size for f in self.files if f.kind == "qr_clip")

    @property
    def smallest_jump_clip(self) -> int:
        return min(f.size for f in self.files if f.kind == "jump_clip")

    def owner_of(self, path: str) -> str | None:
        return next(f.owner for f in self.files if f.path == path)

    def file_list(self) -> list[dict[str, Any]]:
        """The listing a Detector would send in `sd:file_list` (path, size, modified)."""
        return [{"path": f.path, "size": f.size, "modified": f.modified.strftime("%Y-%m-%dT%H:%M:%SZ")}
                for f in self.files]

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary (printed by `ingest-station sample-card`)."""
        return {
            "root": str(self.root),
            "passengers": [{"booking_id": p.booking_id, "passenger_name": p.passenger_name, "qr_clip": p.qr_clip,
                            "clips": list(p.clips), "photos": list(p.photos)} for p in self.passengers],
            "unassigned": self.unassigned,
            "proxies": self.proxies,
            "files": self.file_list(),
        }


@dataclass
class _CardWriter:
    root: Path
    clip: ClipSpec
    start: datetime
    step: timedelta
    card: SampleCard
    number: int = 1
    when: datetime | None = None

    def _next_time(self) -> datetime:
        self.when = self.start if self.when is None else self.when + self.step
        return self.when

    def _record(self, name: str, kind: str, owner: str | None, modified: datetime) -> None:
        path = self.root / CARD_FOLDER / name
        stamp = modified.timestamp()
        os.utime(path, (stamp, stamp))
        self.card.files.append(CardFile(f"{CARD_FOLDER}/{name}", path.stat().st_size, modified, kind, owner))

    def video(self, kind: str, owner: str | None, *, chapter: int = 1, **spec: Any) -> str:
        name = f"GX{chapter:02d}{self.number:04d}.MP4"
        modified = self._next_time()
        write_clip(self.root / CARD_FOLDER / name, self.clip, creation_time=modified, **spec)
        self._record(name, kind, owner, modified)
        return f"{CARD_FOLDER}/{name}"

    def proxy_and_thumbnail(self, clip_name: str) -> None:
        """GoPro's GL…LRV (low-res copy) and GX…THM (160x120 JPEG), written just after the clip."""
        folder = self.root / CARD_FOLDER
        number = clip_name[-8:-4]
        when = self.when or self.start
        lrv = folder / f"GL01{number}.LRV"
        write_clip(lrv, self.clip, width=160, height=120, duration_s=1.0, creation_time=when)
        self._record(lrv.name, "proxy", None, when + timedelta(seconds=1))
        thm = folder / f"GX01{number}.THM"
        _write_jpeg(thm, 160, 120, seed=int(number))
        self._record(thm.name, "thumbnail", None, when + timedelta(seconds=1))

    def photo(self, owner: str | None) -> str:
        name = f"GOPR{self.number:04d}.JPG"
        modified = self._next_time()
        _write_jpeg(self.root / CARD_FOLDER / name, self.clip.width, self.clip.height, seed=self.number)
        self._record(name, "photo", owner, modified)
        return f"{CARD_FOLDER}/{name}"


def write_sample_card(root: Path, *, passengers: tuple[tuple[str, str], ...] = DEFAULT_PASSENGERS,
                      width: int = 640, height: int = 360, looks: tuple[str, ...] = ("sharp", "tilted"),
                      start: datetime = DEFAULT_START, step: timedelta = timedelta(minutes=1),
                      with_unassigned: bool = True, with_proxies: bool = True,
                      camera_serial: str | None = None, codes_carry_date: bool = True,
                      jump_date: str | None = None) -> SampleCard:
    """Write a GoPro-style card under root (see module doc) and describe it."""
    root = Path(root)
    (root / CARD_FOLDER).mkdir(parents=True, exist_ok=True)
    # One camera, one setting: every clip has the same encoder setup and an AAC track, so a jump's
    # clips join by remux as a real GoPro's do. QR clips are shorter (2 s) than jump clips (4 s).
    # GoPro's metadata (udta FIRM/GPMF, "GoPro AVC" handler) and a timecode data track, which the
    # render must drop.
    base = ClipSpec(width=width, height=height, duration_s=2.0, gop_s=0.5, audio=True, gopro_tags=True,
                    data_track=True, camera_serial=camera_serial)
    card = SampleCard(root=root)
    writer = _CardWriter(root, base, start, step, card)
    if with_unassigned:
        writer.video("jump_clip", None, duration_s=4.0, seed=100)
        writer.number += 1
    for index, (booking_id, name) in enumerate(passengers):
        # The booking's day is the day the card was filmed (or absent: the station must work it out).
        text = passenger_text(booking_id, name, (jump_date or start.date().isoformat()) if codes_carry_date else None,
                              instructor="J. Berg", camera_flyer="M. Costa")
        qr_clip = writer.video("qr_clip", booking_id, qr_text=text, look=looks[index % len(looks)],
                               qr_from_s=0.4, qr_until_s=1.8, seed=index)
        if with_proxies:
            writer.proxy_and_thumbnail(qr_clip)
        writer.number += 1
        clips = [qr_clip, writer.video("jump_clip", booking_id, duration_s=4.0, seed=10 + index)]
        photos: list[str] = []
        if index % 2 == 0:
            # A long recording split by the camera into chapters: GX01nnnn then GX02nnnn.
            clips.append(writer.video("jump_clip", booking_id, chapter=2, duration_s=4.0, seed=20 + index))
        writer.number += 1
        if index % 2 == 1:
            photos.append(writer.photo(booking_id))
            writer.number += 1
        card.passengers.append(CardPassenger(booking_id, name, json.loads(text), qr_clip, tuple(clips), tuple(photos)))
    return card


def _write_jpeg(path: Path, width: int, height: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 255, size=(max(2, height // 16), max(2, width // 16), 3), dtype=np.uint8)
    image = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])  # .THM: imwrite goes by extension
    if not ok:
        raise OSError(f"cannot encode {path.name}")
    path.write_bytes(data.tobytes())
