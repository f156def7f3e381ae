"""Cards whose codes sit on big clips: a flyer who keeps recording from the plane, a 4K camera.

Real H.264 clips, small enough to write in seconds; the tests lower the small-file size below
them instead of writing 50 MB files, or make a clip big without writing its bytes (a sparse
`free` box before its index: `code_clips_bytes`). GoPro names, modified times one minute apart."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from app.media.mp4_boxes import pad_with_free
from app.media.sample_card import CARD_FOLDER
from app.media.samples import ClipSpec, passenger_text, write_clip

START = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
BASE = ClipSpec(width=640, height=360, fps=24, duration_s=4.0, audio=True, gopro_tags=True)


@dataclass
class BigCard:
    root: Path
    listing: list[dict[str, Any]] = field(default_factory=list)
    owners: dict[str, str | None] = field(default_factory=dict)  # clip path -> booking id (None: unassigned)
    passengers: dict[str, str] = field(default_factory=dict)  # booking id -> name

    def clips_of(self, booking_id: str | None) -> list[str]:
        return [p for p, owner in self.owners.items() if owner == booking_id]

    @property
    def total_bytes(self) -> int:
        return sum(f["size"] for f in self.listing)


class _Writer:
    def __init__(self, root: Path, start: datetime, spec: ClipSpec) -> None:
        self.card = BigCard(Path(root))
        self.when = start
        self.spec = spec

    def add(self, name: str, owner: str | None, *, offset_s: int = 0, pad_to: int | None = None, **spec: Any) -> str:
        path = self.card.root / CARD_FOLDER / name
        modified = self.when + timedelta(seconds=offset_s)
        write_clip(path, self.spec, creation_time=modified, **spec)
        if pad_to is not None:
            pad_with_free(path, pad_to)
        stamp = modified.timestamp()
        os.utime(path, (stamp, stamp))
        card_path = f"{CARD_FOLDER}/{name}"
        self.card.listing.append({"path": card_path, "size": path.stat().st_size,
                                  "modified": modified.strftime("%Y-%m-%dT%H:%M:%SZ")})
        if not name.upper().endswith(".LRV"):
            self.card.owners[card_path] = owner
        return card_path

    def next_minute(self) -> None:
        self.when += timedelta(minutes=1)


def code(booking_id: str, name: str, **extra: str) -> str:
    return passenger_text(booking_id, name, **extra)


def write_big_code_card(root: Path, *, proxies: bool = False, four_k: bool = True, jump_s: float = 4.0,
                        spec: ClipSpec = BASE, start: datetime = START, code_clips_bytes: int | None = None) -> BigCard:
    """GX010001 (no code) → unassigned; GX010002: Ana's code at the start of a long clip that
    goes on into the jump; GX010003 her landing; GX010004: Ben's code on a 4K clip (or a plain
    big clip); GX010005 his jump (4K too, so his
    clips join without re-encoding). With `proxies`, Ana's clip has a GL010002.LRV showing the code
    and Ben's a GL010004.LRV that missed it (the camera's proxy started late, say). With
    `code_clips_bytes`, GX010002 and GX010004 are that big (a `free` box between mdat and moov)."""
    writer = _Writer(root, start, spec)
    ana, ben = ("BK-7001", "Ana Silva"), ("BK-7002", "Ben Okafor")
    writer.card.passengers.update([ana, ben])
    writer.add("GX010001.MP4", None, seed=1, duration_s=jump_s)
    writer.next_minute()
    writer.add("GX010002.MP4", ana[0], qr_text=code(*ana), qr_from_s=0.0, qr_until_s=1.6, duration_s=2 * jump_s, seed=2,
               pad_to=code_clips_bytes)
    if proxies:
        writer.add("GL010002.LRV", None, offset_s=1, width=432, height=240, qr_text=code(*ana), qr_from_s=0.0,
                   qr_until_s=1.6, duration_s=8.0, audio=False, gopro_tags=False, seed=2)
    writer.next_minute()
    writer.add("GX010003.MP4", ana[0], seed=3, duration_s=jump_s)
    writer.next_minute()
    big = {"width": 3840, "height": 2160, "duration_s": 1.5, "audio": False} if four_k else {"duration_s": 1.5 * jump_s}
    writer.add("GX010004.MP4", ben[0], qr_text=code(*ben), qr_from_s=0.0, qr_until_s=1.4, seed=4, pad_to=code_clips_bytes,
               **big)
    if proxies:
        writer.add("GL010004.LRV", None, offset_s=1, width=432, height=240, duration_s=4.0, audio=False,
                   gopro_tags=False, seed=4)
    writer.next_minute()
    writer.add("GX010005.MP4", ben[0], seed=5, **({**big, "duration_s": 1.0} if four_k else {"duration_s": jump_s}))
    return writer.card


def write_fragmented_code_card(root: Path, *, start: datetime = START) -> BigCard:
    """GX010001: Ana's code at the start of a 12 s clip written as a fragmented MP4 (its index
    lists no samples: they are described in `moof` boxes along the file); GX010002 her jump;
    GX010003 200 kB of noise, not an MP4 at all (a camera that lost power while writing)."""
    writer = _Writer(root, start, BASE)
    ana = ("BK-7101", "Ana Frag")
    writer.card.passengers.update([ana])
    writer.add("GX010001.MP4", ana[0], qr_text=code(*ana), qr_from_s=0.0, qr_until_s=1.6, duration_s=12.0, seed=6,
               fragmented=True, gopro_tags=False)
    writer.next_minute()
    writer.add("GX010002.MP4", ana[0], seed=7, duration_s=4.0)
    writer.next_minute()
    noise = writer.card.root / CARD_FOLDER / "GX010003.MP4"
    noise.write_bytes(random.Random(8).randbytes(200_000))
    os.utime(noise, (writer.when.timestamp(), writer.when.timestamp()))
    writer.card.listing.append({"path": f"{CARD_FOLDER}/{noise.name}", "size": 200_000,
                                "modified": writer.when.strftime("%Y-%m-%dT%H:%M:%SZ")})
    writer.card.owners[f"{CARD_FOLDER}/{noise.name}"] = ana[0]
    return writer.card
