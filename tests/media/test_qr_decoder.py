"""The decoder finds the right passenger in real generated H.264 clips, sharp and degraded."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from app.media.errors import MediaReadError
from app.media.qr_art import LOOKS
from app.media.samples import ClipSpec, QrShot, write_clip
from app.pipeline.qr_decoder import find_passenger_code, scan_clip

from .conftest import ANA, BEN

SMALL = ClipSpec(width=640, height=360, duration_s=3.0)
# Looks are defined relative to a 1080p camera; 720p keeps a small card a few pixels per module.
HD = ClipSpec(width=1280, height=720, duration_s=3.0)


@pytest.mark.parametrize("look", sorted(LOOKS))
def test_finds_the_passenger_in_every_look(look: str, clip_dir: Path, tmp_path: Path) -> None:
    clip = write_clip(clip_dir / f"look_{look}.mp4", HD, qr_text=ANA, look=look, qr_from_s=1.2, qr_until_s=2.6, seed=3)
    found = find_passenger_code(clip, frame_dir=tmp_path / "frames")
    assert found is not None
    assert found.payload["booking_id"] == "BK-2026-1042"
    assert found.payload["passenger_name"] == "Ana Silva"
    assert found.payload["email"] == "ana@example.org"
    assert 1.2 <= found.time_s < 2.6
    assert found.frame_path is not None and found.frame_path.parent == tmp_path / "frames"
    thumbnail = cv2.imread(str(found.frame_path))
    assert thumbnail is not None and thumbnail.shape[1] == 640  # thumbnails are at most 640 px wide


def test_a_clip_without_code_gives_none_and_writes_nothing(clip_dir: Path, tmp_path: Path) -> None:
    clip = write_clip(clip_dir / "jump.mp4", SMALL)
    assert find_passenger_code(clip, frame_dir=tmp_path / "frames") is None
    assert not (tmp_path / "frames").exists()


def test_a_url_code_is_ignored_and_reported(clip_dir: Path) -> None:
    clip = write_clip(clip_dir / "url.mp4", SMALL, qr_text="https://shop.example.org/tshirt", qr_until_s=3.0)
    scan = scan_clip(clip)
    assert scan.found is None
    assert [code.text for code in scan.ignored] == ["https://shop.example.org/tshirt"]


def test_url_before_the_passenger_does_not_hide_the_passenger(clip_dir: Path) -> None:
    url = QrShot("https://shop.example.org/tshirt", from_s=0.0, until_s=1.0)
    clip = write_clip(clip_dir / "url_then_ana.mp4", SMALL, qr_text=ANA, qr_from_s=1.5, qr_until_s=3.0, extra_codes=(url,))
    found = find_passenger_code(clip)
    assert found is not None and found.passenger.booking_id == "BK-2026-1042"
    assert [code.text for code in found.ignored] == ["https://shop.example.org/tshirt"]


def test_two_passengers_on_one_frame_keeps_one_and_reports_the_other(clip_dir: Path) -> None:
    ben = QrShot(BEN, from_s=0.0, until_s=2.0, centre=(0.75, 0.5), height_frac=0.4)
    clip = write_clip(clip_dir / "two_at_once.mp4", SMALL, qr_text=ANA, qr_centre=(0.25, 0.5), qr_until_s=2.0,
                      extra_codes=(ben,), look=LOOKS["sharp"].__class__(height_frac=0.4))
    found = find_passenger_code(clip)
    assert found is not None
    names = {found.passenger.passenger_name, *(p.passenger_name for p in found.others)}
    assert names == {"Ana Silva", "Benoît Müller"}


def test_second_passenger_later_in_the_clip_reported_when_reading_the_whole_window(clip_dir: Path) -> None:
    ben = QrShot(BEN, from_s=2.0, until_s=3.0)
    clip = write_clip(clip_dir / "ana_then_ben.mp4", SMALL, qr_text=ANA, qr_until_s=1.5, extra_codes=(ben,))
    first_only = find_passenger_code(clip)
    assert first_only is not None and first_only.passenger.passenger_name == "Ana Silva" and first_only.others == ()
    whole = find_passenger_code(clip, full_window=True)
    assert whole is not None and whole.passenger.passenger_name == "Ana Silva"
    assert [p.passenger_name for p in whole.others] == ["Benoît Müller"]


def test_code_shown_after_the_window_is_not_read(clip_dir: Path) -> None:
    clip = write_clip(clip_dir / "late.mp4", SMALL, duration_s=4.0, qr_text=ANA, qr_from_s=3.0, qr_until_s=4.0)
    assert find_passenger_code(clip, window_s=2.5) is None
    assert find_passenger_code(clip, window_s=4.0) is not None


def test_sparse_keyframes_still_sample_every_interval(clip_dir: Path) -> None:
    # One keyframe every 3 s: the code shown only between 1.3 s and 1.7 s is found by decoding inside the GOP.
    clip = write_clip(clip_dir / "long_gop.mp4", SMALL, gop_s=3.0, qr_text=ANA, qr_from_s=1.3, qr_until_s=1.7)
    found = find_passenger_code(clip)
    assert found is not None and found.time_s == pytest.approx(1.5, abs=0.05)


def test_junk_file_raises_media_read_error(tmp_path: Path) -> None:
    junk = tmp_path / "GX010001.MP4"
    junk.write_bytes(b"this is not a video at all" * 100)
    with pytest.raises(MediaReadError):
        find_passenger_code(junk)


def test_empty_and_missing_files_raise_media_read_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.MP4"
    empty.write_bytes(b"")
    with pytest.raises(MediaReadError):
        find_passenger_code(empty)
    with pytest.raises(MediaReadError):
        find_passenger_code(tmp_path / "gone.MP4")


def test_truncated_clip_raises_media_read_error(clip_dir: Path, tmp_path: Path) -> None:
    whole = write_clip(clip_dir / "to_truncate.mp4", SMALL, qr_text=ANA)
    cut = tmp_path / "cut.MP4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(MediaReadError):
        find_passenger_code(cut)


def test_audio_only_file_raises_media_read_error(tmp_path: Path) -> None:
    import av
    import numpy as np

    path = tmp_path / "voice.m4a"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=48000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 48000
        for i in range(20):
            frame.pts = i * 1024
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with pytest.raises(MediaReadError, match="no video stream"):
        find_passenger_code(path)


def test_fallback_readers_take_over_when_zxing_cannot_read_the_symbol(clip_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import app.pipeline.qr_decoder as qr_decoder

    clip = write_clip(clip_dir / "fallback.mp4", SMALL, qr_text=ANA, qr_from_s=0.4, qr_until_s=2.0)
    # zxing "sees a symbol but cannot read it" on every frame: the fallbacks must do the reading.
    monkeypatch.setattr(qr_decoder, "zxing_scan", lambda gray: ([], True))
    found = find_passenger_code(clip)
    assert found is not None and found.reader == "pyzbar"
    assert found.passenger.booking_id == "BK-2026-1042" and found.time_s == pytest.approx(0.5)
    assert find_passenger_code(clip, fallbacks="none") is None
    # Without any symbol seen by zxing the slow readers are not run, unless asked for.
    monkeypatch.setattr(qr_decoder, "zxing_scan", lambda gray: ([], False))
    assert find_passenger_code(clip) is None
    assert find_passenger_code(clip, fallbacks="all") is not None


@pytest.mark.parametrize("reader_name", ["read_zxing", "read_pyzbar", "read_opencv"])
def test_each_reader_reads_a_sharp_frame(reader_name: str, clip_dir: Path) -> None:
    from app.media import qr_readers
    from app.media.frames import sample_frames

    clip = write_clip(clip_dir / "reader.mp4", SMALL, qr_text=BEN, duration_s=0.5, qr_until_s=0.5)
    frame = next(sample_frames(clip, window_s=0.5))
    assert getattr(qr_readers, reader_name)(frame.gray) == [BEN]


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv420p10le"])
def test_hevc_clip_like_a_gopro_4k_recording(clip_dir: Path, pix_fmt: str) -> None:
    clip = write_clip(clip_dir / f"hevc_{pix_fmt}.mp4", SMALL, duration_s=1.5, codec="libx265", pix_fmt=pix_fmt,
                      qr_text=ANA, qr_from_s=0.5, qr_until_s=1.5)
    found = find_passenger_code(clip)
    assert found is not None and found.passenger.booking_id == "BK-2026-1042" and found.time_s == pytest.approx(0.5)


def test_faststart_clip_cut_before_its_frames_raises_media_read_error(clip_dir: Path, tmp_path: Path) -> None:
    whole = write_clip(clip_dir / "faststart.mp4", SMALL, qr_text=ANA, faststart=True)
    data = whole.read_bytes()
    mdat = data.index(b"mdat")
    cut = tmp_path / "cut_faststart.MP4"
    cut.write_bytes(data[: mdat + 64])  # the index says 90 frames; none of their bytes are there
    with pytest.raises(MediaReadError):
        find_passenger_code(cut)


def test_clips_decoded_in_parallel_threads_each_get_their_own_passenger(clip_dir: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    clips = {write_clip(clip_dir / f"parallel_{i}.mp4", SMALL, duration_s=1.0, qr_text=text, seed=i): name
             for i, (text, name) in enumerate([(ANA, "Ana Silva"), (BEN, "Benoît Müller")] * 2)}
    with ThreadPoolExecutor(max_workers=4) as pool:
        found = dict(zip(clips, pool.map(lambda c: find_passenger_code(c, fallbacks="all"), clips), strict=True))
    assert {clip: f.passenger.passenger_name for clip, f in found.items() if f} == clips
