from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from app.media.errors import MediaReadError
from app.media.mp4_boxes import add_udta_boxes
from app.media.probe import probe
from app.media.samples import write_clip


def test_gopro_like_clip_reports_its_figures_and_camera(tmp_path: Path) -> None:
    taken = datetime(2026, 11, 23, 10, 15, 30, tzinfo=timezone.utc)
    clip = write_clip(tmp_path / "GX010031.MP4", width=480, height=270, fps=25, duration_s=2.0, audio=True,
                      data_track=True, gopro_tags=True, creation_time=taken)
    info = probe(clip)
    json.dumps(info)  # stored as-is in passenger.json
    assert info["duration_s"] == pytest.approx(2.0, abs=0.05)
    assert info["creation_time"] == "2026-11-23T10:15:30Z"
    assert info["video"]["codec"] == "h264"
    assert (info["video"]["width"], info["video"]["height"]) == (480, 270)
    assert info["video"]["fps"] == 25.0
    assert info["video"]["frames"] == 50
    assert info["bit_rate"] > 0 and info["size_bytes"] == clip.stat().st_size
    assert info["audio"]["codec"] == "aac" and info["audio"]["sample_rate"] == 48000 and info["audio"]["channels"] == 2
    assert info["data_streams"] == ["tmcd"]
    assert info["camera"] == {"make": "GoPro", "model": "HERO9 Black", "firmware": "HD9.01.01.60.00"}


def test_firmware_read_from_gopro_udta_box_alone(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "plain.mp4", duration_s=0.5)
    add_udta_boxes(clip, {b"FIRM": b"H22.01.02.10.00"})
    info = probe(clip)
    assert info["camera"]["firmware"] == "H22.01.02.10.00"
    assert info["audio"] is None and info["creation_time"] is None and info["data_streams"] == []


def test_not_a_media_file_raises(tmp_path: Path) -> None:
    junk = tmp_path / "notes.MP4"
    junk.write_text("shopping list")
    with pytest.raises(MediaReadError):
        probe(junk)


def test_model_and_firmware_read_from_gopro_gpmf_udta_box(tmp_path: Path) -> None:
    from app.media.mp4_boxes import gpmf_block

    clip = write_clip(tmp_path / "GX010032.MP4", duration_s=0.5)
    add_udta_boxes(clip, {b"GPMF": gpmf_block({b"DVNM": "Global Settings", b"MINF": "HERO12 Black",
                                                b"FMWR": "H23.01.02.32.00", b"CASN": "C3501324500000"})})
    assert probe(clip)["camera"] == {"make": "GoPro", "model": "HERO12 Black", "firmware": "H23.01.02.32.00"}
