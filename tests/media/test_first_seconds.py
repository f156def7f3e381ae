"""A big clip's first seconds from slices: its index found by walking box headers through the
bytes held so far (`mp4_boxes.find_index`), then the byte range of its first seconds from the
index alone (`first_seconds.first_seconds_range`), on real generated clips."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from app.media.errors import MediaReadError
from app.media.first_seconds import first_seconds_range
from app.media.mp4_boxes import IndexSearch, find_index, pad_with_free
from app.media.samples import write_clip
from app.pipeline.qr_decoder import scan_clip
from tests.media.conftest import ANA

HEADER_BYTES = 16_000
TAIL_BYTES = 4_000_000


class Held:
    """Slices of a file on disk, as a station holds them after asking a Detector for them."""

    def __init__(self, path: Path) -> None:
        self.path, self.size, self.spans = path, path.stat().st_size, []  # type: ignore[var-annotated]

    def add(self, offset: int, length: int) -> None:
        self.spans.append((offset, min(self.size, offset + length)))

    def read_at(self, pos: int, count: int) -> bytes:
        for start, end in self.spans:
            if start <= pos < end:
                with self.path.open("rb") as fh:
                    fh.seek(pos)
                    return fh.read(min(count, end - pos))
        return b""

    def first_missing(self, start: int, end: int) -> int | None:
        pos = start
        for span_start, span_end in sorted(self.spans):
            if span_start <= pos < span_end:
                pos = span_end
        return pos if pos < end else None

    def walk(self) -> IndexSearch:
        """Ask for what the walk wants until it holds the index (or gives up)."""
        while True:
            search = find_index(self, self.size, header_bytes=HEADER_BYTES, tail_bytes=TAIL_BYTES)
            if search.wanted is None:
                return search
            self.add(*search.wanted)

    def sparse(self, target: Path) -> Path:
        """The clip as a file holding only these slices, zeros elsewhere."""
        with self.path.open("rb") as source, target.open("wb") as out:
            out.truncate(self.size)
            for start, end in self.spans:
                source.seek(start)
                out.seek(start)
                out.write(source.read(end - start))
        return target


@pytest.fixture(scope="module")
def gopro_clip(clip_dir: Path) -> Path:
    """12 s with the code from 3.5 s on, moov last (as a GoPro writes it)."""
    return write_clip(clip_dir / "GX010077.MP4", width=320, height=240, fps=24, duration_s=12.0, audio=True,
                      gopro_tags=True, qr_text=ANA, qr_from_s=3.5, qr_until_s=4.6, seed=77)


def test_the_index_at_the_end_places_the_first_seconds_and_they_hold_the_code(gopro_clip: Path, tmp_path: Path) -> None:
    held = Held(gopro_clip)
    held.add(0, HEADER_BYTES)
    first = find_index(held, held.size, header_bytes=HEADER_BYTES, tail_bytes=TAIL_BYTES)
    assert first.wanted is not None and sum(first.wanted) == held.size  # the rest after mdat: the index
    search = held.walk()
    assert search.moov == (first.wanted[0], held.size)

    start, end = first_seconds_range(held.sparse(tmp_path / "index.mp4"), 5.0, 0.5)
    assert (start, end) == first_seconds_range(gopro_clip, 5.0, 0.5)  # the sample bytes were never needed
    assert start < HEADER_BYTES and end < 0.7 * held.size  # ~6 s of 12, not the whole clip
    held.add(start, end - start)
    scan = scan_clip(held.sparse(tmp_path / "first-seconds.mp4"), 5.0, 0.5)
    assert scan.found is not None and scan.found.time_s == pytest.approx(3.5, abs=0.3)


def test_box_headers_between_mdat_and_the_index_are_walked(gopro_clip: Path, tmp_path: Path) -> None:
    big = tmp_path / "GX010078.MP4"
    big.write_bytes(gopro_clip.read_bytes())
    pad_with_free(big, 50_000_000)  # ftyp, mdat, free (a hole of ~48 MB), moov
    held = Held(big)
    held.add(0, HEADER_BYTES)
    search = held.walk()
    assert search.moov is not None and search.moov[1] == held.size
    moved = sum(end - start for start, end in held.spans)
    assert moved < 3 * HEADER_BYTES + (search.moov[1] - search.moov[0])  # headers and the index, no hole
    assert first_seconds_range(held.sparse(tmp_path / "index.mp4"), 5.0, 0.5) == first_seconds_range(gopro_clip, 5.0, 0.5)


def test_an_index_at_the_start_cut_by_the_head_is_completed(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "phone.mp4", width=320, height=240, duration_s=3.0, faststart=True)
    held = Held(clip)
    held.add(0, 1_000)
    first = find_index(held, held.size, header_bytes=HEADER_BYTES, tail_bytes=TAIL_BYTES)
    assert first.wanted is not None and first.wanted[0] == 1_000
    search = held.walk()
    assert search.moov is not None and search.moov[0] < 1_000 < search.moov[1]
    # A clip shorter than the window: all its samples.
    start, end = first_seconds_range(held.sparse(tmp_path / "index.mp4"), 5.0, 0.5)
    assert search.moov[1] < start <= search.moov[1] + 16 and end == held.size  # mdat's body, after the index


def test_files_whose_index_cannot_place_the_first_seconds(tmp_path: Path) -> None:
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(random.Random(3).randbytes(300_000))
    held = Held(noise)
    held.add(0, HEADER_BYTES)
    assert held.walk() == IndexSearch()  # not an MP4 the walk understands

    fragmented = write_clip(tmp_path / "fragmented.mp4", width=320, height=240, duration_s=8.0, fragmented=True)
    held = Held(fragmented)
    held.add(0, HEADER_BYTES)
    assert held.walk().moov is not None  # an index, but without sample tables
    with pytest.raises(MediaReadError, match="does not list the video samples"):
        first_seconds_range(held.sparse(tmp_path / "index.mp4"), 5.0, 0.5)
