"""The generated card looks like a GoPro card and follows the jump rule it claims."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from app.media.sample_card import SampleCard, write_sample_card
from app.pipeline.qr_decoder import find_passenger_code


@pytest.fixture(scope="module")
def card(tmp_path_factory: pytest.TempPathFactory) -> SampleCard:
    return write_sample_card(tmp_path_factory.mktemp("card") / "SD")


def test_layout_is_gopro_like_and_small(card: SampleCard) -> None:
    names = sorted(p.name for p in (card.root / "DCIM" / "100GOPRO").iterdir())
    assert names == ["GL010002.LRV", "GL010004.LRV", "GOPR0006.JPG", "GX010001.MP4", "GX010002.MP4",
                     "GX010002.THM", "GX010003.MP4", "GX010004.MP4", "GX010004.THM", "GX010005.MP4", "GX020003.MP4"]
    assert sum(f.size for f in card.files) < 8_000_000
    assert card.unassigned == ["DCIM/100GOPRO/GX010001.MP4"]


def test_listing_matches_the_files_on_disk(card: SampleCard) -> None:
    for entry in card.file_list():
        on_disk = card.root / entry["path"]
        assert on_disk.stat().st_size == entry["size"]
        assert datetime.fromisoformat(entry["modified"]).timestamp() == on_disk.stat().st_mtime


def test_jump_rule_by_modified_time_gives_the_described_owners(card: SampleCard) -> None:
    media = sorted((f for f in card.files if f.kind in ("qr_clip", "jump_clip", "photo")), key=lambda f: f.modified)
    owner = None
    for card_file in media:
        found = find_passenger_code(card.root / card_file.path) if card_file.path.endswith(".MP4") else None
        if found is not None:
            owner = found.passenger.booking_id
            assert card_file.kind == "qr_clip"
        assert card_file.owner == owner, card_file.path
    for passenger in card.passengers:
        assert [f.path for f in media if f.owner == passenger.booking_id and f.kind != "photo"] == list(passenger.clips)


def test_qr_clips_are_smaller_than_jump_clips(card: SampleCard) -> None:
    assert card.largest_qr_clip < card.smallest_jump_clip


def test_sample_card_command_writes_the_card_and_prints_it(tmp_path: Path) -> None:
    target = tmp_path / "cli-card"
    done = subprocess.run(
        [sys.executable, "-m", "app", "--data-dir", str(tmp_path / "data"), "sample-card", str(target),
         "--passengers", "3", "--size", "320x240"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    described = json.loads(done.stdout)
    assert [p["passenger_name"] for p in described["passengers"]] == ["Ana Silva", "Benoît Müller", "Chen Jing"]
    assert all((target / f["path"]).is_file() for f in described["files"])
    assert [p.name for p in tmp_path.iterdir()] == ["cli-card"]  # nothing written elsewhere


def test_each_passengers_clips_join_by_remux(card: SampleCard, tmp_path: Path) -> None:
    from app.media.probe import probe
    from app.media.render import render_jump

    for passenger in card.passengers:
        clips = [card.root / path for path in passenger.clips]
        result = render_jump(clips, tmp_path / f"{passenger.booking_id}.mp4")
        assert result.method == "remux"
        expected = sum(probe(clip)["duration_s"] for clip in clips)
        assert probe(result.output)["duration_s"] == pytest.approx(expected, abs=0.07)


def test_card_clips_carry_camera_metadata_and_their_time(card: SampleCard) -> None:
    from app.media.probe import probe

    clip = next(f for f in card.files if f.kind == "jump_clip")
    info = probe(card.root / clip.path)
    assert info["camera"] == {"make": "GoPro", "model": "HERO9 Black", "firmware": "HD9.01.01.60.00"}
    assert info["creation_time"] == clip.modified.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert info["data_streams"] == ["tmcd"] and info["audio"] is not None
