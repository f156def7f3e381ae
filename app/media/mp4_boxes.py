"""A minimal MP4 box walker for the `moov/udta` boxes where GoPro cameras describe themselves.

- `FIRM` (firmware, e.g. "HD9.01.01.60.00") and `LENS`: plain strings;
- `GPMF`: GoPro's KLV metadata (github.com/gopro/gpmf-parser), whose global `DEVC` holds `MINF`
  (camera model, e.g. "HERO9 Black"), `FMWR` (firmware) and `CASN` (serial number).

FFmpeg exposes `FIRM` as the `firmware` tag but not the GPMF strings, so `probe.py` reads them
here. `add_udta_boxes` writes such boxes into generated sample clips, `pad_with_free` makes
them big. `find_index` walks the top-level boxes of a clip of which only some slices are here,
to its index (code_search.py).
Only top-level boxes and `moov`'s direct children are touched; mdat is never read.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

# udta boxes holding short printable strings on GoPro cameras.
GOPRO_STRING_BOXES = (b"FIRM", b"LENS")
# String entries of the udta GPMF box worth reporting.
GPMF_STRINGS = (b"MINF", b"FMWR", b"CASN")
GPMF_NESTED = 0  # KLV type byte of a container


def _boxes(data: bytes | memoryview, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, box start, box end) of each box between start and end."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1:
            if pos + 16 > end:
                return
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            return
        yield bytes(kind), pos, pos + size
        pos += size


def _top_level(path: Path) -> Iterator[tuple[bytes, int, int]]:
    """Top-level boxes read from their headers only (mdat can be gigabytes)."""
    total = path.stat().st_size
    with path.open("rb") as fh:
        pos = 0
        while pos + 8 <= total:
            fh.seek(pos)
            head = fh.read(16)
            size, kind = struct.unpack(">I4s", head[:8])
            if size == 1:
                size = struct.unpack(">Q", head[8:16])[0]
            elif size == 0:
                size = total - pos
            if size < 8 or pos + size > total:
                return
            yield kind, pos, pos + size
            pos += size


def read_udta_strings(path: Path) -> dict[str, str]:
    """GoPro udta strings of an MP4, e.g. {"FIRM": "HD9.01.01.60.00"}; {} when absent or unreadable."""
    found: dict[str, str] = {}
    for kind, start, end in _top_level(path):
        if kind != b"moov" or end - start > 64_000_000:
            continue
        with path.open("rb") as fh:
            fh.seek(start)
            moov = fh.read(end - start)
        for child, c_start, c_end in _boxes(moov, 8, len(moov)):
            if child != b"udta":
                continue
            for item, i_start, i_end in _boxes(moov, c_start + 8, c_end):
                if item in GOPRO_STRING_BOXES:
                    text = _ascii(moov[i_start + 8 : i_end])
                    if text:
                        found[item.decode("ascii")] = text
                elif item == b"GPMF":
                    for key, text in gpmf_strings(moov[i_start + 8 : i_end]).items():
                        found.setdefault(key, text)
    return found


def gpmf_strings(data: bytes) -> dict[str, str]:
    """The GPMF_STRINGS entries of a GPMF KLV block (nested DEVC/STRM containers walked)."""
    found: dict[str, str] = {}
    pos = 0
    while pos + 8 <= len(data):
        key, kind, size, repeat = struct.unpack(">4sBBH", data[pos : pos + 8])
        length = size * repeat
        body = data[pos + 8 : pos + 8 + length]
        if kind == GPMF_NESTED:
            for inner_key, text in gpmf_strings(body).items():
                found.setdefault(inner_key, text)
        elif key in GPMF_STRINGS and kind == ord("c"):
            text = _ascii(body)
            if text:
                found.setdefault(key.decode("ascii"), text)
        pos += 8 + (length + 3) // 4 * 4  # payloads are padded to 32 bits
    return found


def gpmf_block(entries: dict[bytes, str]) -> bytes:
    """A GPMF DEVC container holding string entries (for generated clips)."""
    body = b""
    for key, text in entries.items():
        raw = text.encode("ascii")
        body += struct.pack(">4sBBH", key, ord("c"), len(raw), 1) + raw + b"\0" * (-len(raw) % 4)
    return struct.pack(">4sBBH", b"DEVC", GPMF_NESTED, 4, len(body) // 4) + body


def _ascii(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("ascii", "replace").strip()


def add_udta_boxes(path: Path, items: dict[bytes, bytes]) -> None:
    """Append a `udta` box holding `items` to the file's `moov`, which must be the last box."""
    boxes = list(_top_level(path))
    if not boxes or boxes[-1][0] != b"moov":
        raise ValueError(f"{path.name}: moov is not the last box; cannot append udta")
    _, start, end = boxes[-1]
    payload = b"".join(struct.pack(">I4s", 8 + len(value), kind) + value for kind, value in items.items())
    udta = struct.pack(">I4s", 8 + len(payload), b"udta") + payload
    with path.open("r+b") as fh:
        fh.seek(start)
        size = struct.unpack(">I", fh.read(4))[0]
        if size == 1:
            raise ValueError(f"{path.name}: 64-bit moov size not supported")
        fh.seek(start)
        fh.write(struct.pack(">I", end - start + len(udta)))
        fh.seek(end)
        fh.write(udta)


def pad_with_free(path: Path, size: int) -> None:
    """Grow an MP4 whose last box is `moov` to `size` bytes: a `free` box before the `moov`.

    The free box's body is a hole (sparse file): big on disk listings, cheap to make. `mdat`
    does not move, so the index's chunk offsets stay right."""
    data = path.read_bytes()
    boxes = list(_top_level(path))
    if not boxes or boxes[-1][0] != b"moov" or boxes[-1][2] != len(data):
        raise ValueError(f"{path.name}: moov is not the last box")
    moov_at = boxes[-1][1]
    free = size - len(data)
    if free < 16 or free >= 2**32:
        raise ValueError(f"{path.name}: cannot pad {len(data)} bytes to {size}")
    stat = path.stat()
    with path.open("wb") as fh:
        fh.write(data[:moov_at])
        fh.write(struct.pack(">I4s", free, b"free"))
        fh.seek(moov_at + free)
        fh.write(data[moov_at:])
    os.utime(path, (stat.st_atime, stat.st_mtime))


class HeldBytes(Protocol):
    """Some byte ranges of a file that is not all here (slices of a clip on a card)."""

    def read_at(self, pos: int, count: int) -> bytes:
        """Up to `count` held bytes from `pos` on, fewer where the held bytes end (b"" if none)."""

    def first_missing(self, start: int, end: int) -> int | None:
        """The first byte of [start, end) that is not held; None when all of it is."""


@dataclass(frozen=True)
class IndexSearch:
    """How far a walk of an MP4's top-level boxes through the held bytes got: the index (`moov`)
    wholly held, or the bytes to ask for next; neither when the file is not an MP4 the walk
    understands (or has no index)."""

    moov: tuple[int, int] | None = None  # [start, end) of the index, all held
    wanted: tuple[int, int] | None = None  # (offset, length) to ask for next


def find_index(held: HeldBytes, size: int, *, header_bytes: int, tail_bytes: int) -> IndexSearch:
    """Walk the top-level boxes of a file of `size` bytes through `held` to its `moov`.

    A box header that is not held is asked for with `header_bytes` from it, except when the rest
    of the file is at most `tail_bytes`: then that rest (GoPro cameras write `ftyp`, `mdat`, and the
    index last, so one slice after a head brings all of it). A `moov` partly held is asked for
    the part that is missing. mdat is never read."""
    pos = 0
    while pos + 8 <= size:
        header = held.read_at(pos, 16)
        if len(header) < 8:
            return IndexSearch(wanted=_next_headers(pos, size, header_bytes, tail_bytes))
        box_size, kind = struct.unpack(">I4s", header[:8])
        if box_size == 1:
            if len(header) < 16:
                return IndexSearch(wanted=_next_headers(pos, size, header_bytes, tail_bytes))
            box_size = struct.unpack(">Q", header[8:16])[0]
        elif box_size == 0:
            box_size = size - pos
        if box_size < 8 or pos + box_size > size:
            return IndexSearch()
        end = pos + box_size
        if kind == b"moov":
            missing = held.first_missing(pos, end)
            return IndexSearch(moov=(pos, end)) if missing is None else IndexSearch(wanted=(missing, end - missing))
        pos = end
    return IndexSearch()


def _next_headers(pos: int, size: int, header_bytes: int, tail_bytes: int) -> tuple[int, int]:
    rest = size - pos
    return (pos, rest) if rest <= tail_bytes else (pos, header_bytes)
