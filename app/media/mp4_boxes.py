"""A minimal MP4 box walker: read and add the `moov/udta` boxes where GoPro cameras keep their
firmware (`FIRM`), lens (`LENS`) and camera (`CAME`) strings. FFmpeg exposes only some of them,
so `probe.py` reads them here. Only top-level boxes and `moov`'s direct children are touched.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

# udta boxes holding short printable strings on GoPro cameras.
GOPRO_STRING_BOXES = (b"FIRM", b"LENS", b"CAME")


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
                    text = moov[i_start + 8 : i_end].split(b"\0", 1)[0].decode("ascii", "replace").strip()
                    if text:
                        found[item.decode("ascii")] = text
    return found


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
