"""The drop zone's branded video: title cards joined to the clips without re-encoding them,
the music bed under the clips' sound, and the watermarked preview."""

from __future__ import annotations

import hashlib
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from app.media.branding import Branding, TitleText, branding_problems, logo_box, render_branded, render_preview
from app.media.probe import probe
from app.media.samples import ClipSpec, write_clip

CLIP = ClipSpec(width=320, height=240, fps=30, audio=True)
TITLE = TitleText("Benoît Müller", "2026-10-14")


def _video_packet_hashes(path: Path) -> list[str]:
    with av.open(str(path)) as container:
        return [hashlib.sha256(bytes(p)).hexdigest() for p in container.demux(container.streams.video[0]) if p.size]


def _decodes_cleanly(path: Path) -> int:
    frames = 0
    with av.open(str(path)) as container:
        for _ in container.decode(container.streams.video[0]):
            frames += 1
    return frames


@pytest.fixture
def logo(tmp_path: Path) -> Path:
    image = Image.new("RGBA", (120, 60), (0, 0, 0, 0))
    image.paste((255, 0, 255, 255), (10, 5, 110, 55))  # an opaque magenta block on a transparent ground
    path = tmp_path / "logo.png"
    image.save(path)
    return path


@pytest.fixture
def clips(tmp_path: Path) -> list[Path]:
    return [write_clip(tmp_path / f"GX01000{i}.MP4", CLIP, duration_s=d, seed=i) for i, d in enumerate((1.5, 1.0))]


def test_branded_video_is_the_cards_plus_the_clips_copied_as_they_are(tmp_path: Path, clips: list[Path], logo: Path) -> None:
    branding = Branding(drop_zone="Skydive Algarve", logo=logo, intro_s=2.0, outro_s=1.0)
    result = render_branded(clips, tmp_path / "video.mp4", branding, TITLE)
    assert result.branded and not result.notes
    assert result.render.method == "remux", result.render.reason
    assert probe(result.render.output)["duration_s"] == pytest.approx(2.0 + 1.5 + 1.0 + 1.0, abs=0.1)
    assert result.clips_s == pytest.approx(2.5, abs=0.1)
    # every packet of every clip is in the output, byte for byte, in order, between the cards
    out = _video_packet_hashes(result.render.output)
    clip_packets = [h for clip in clips for h in _video_packet_hashes(clip)]
    start = out.index(clip_packets[0])
    assert start > 0 and out[start:start + len(clip_packets)] == clip_packets
    assert len(out) > start + len(clip_packets)  # the outro follows
    assert _decodes_cleanly(result.render.output) == round(5.5 * 30)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".render-")]  # scratch removed


def test_music_bed_is_mixed_under_the_clips_and_the_picture_still_copied(tmp_path: Path, clips: list[Path]) -> None:
    music = write_clip(tmp_path / "music.mp4", CLIP, duration_s=0.7, seed=9)  # shorter: it loops
    result = render_branded(clips, tmp_path / "video.mp4", Branding(music=music, music_level_db=-12), TITLE)
    assert result.branded and result.render.method == "remux"
    info = probe(result.render.output)
    assert info["duration_s"] == pytest.approx(2.5, abs=0.1)
    assert _video_packet_hashes(result.render.output) == [h for c in clips for h in _video_packet_hashes(c)]
    with av.open(str(result.render.output)) as container:
        sound = np.concatenate([f.to_ndarray() for f in container.decode(container.streams.audio[0])], axis=1)
    assert sound.shape[1] / 48_000 == pytest.approx(2.5, abs=0.1)


def test_unreadable_logo_and_music_give_an_unbranded_video_that_says_so(tmp_path: Path, clips: list[Path]) -> None:
    bad_logo = tmp_path / "logo.png"
    bad_logo.write_text("not an image")
    bad_music = tmp_path / "music.mp3"
    bad_music.write_bytes(b"\x00" * 100)
    branding = Branding(logo=bad_logo, music=bad_music)
    problems = branding_problems(branding)
    assert len(problems) == 2 and "logo" in problems[0] and "music" in problems[1]
    result = render_branded(clips, tmp_path / "video.mp4", branding, TITLE)
    assert not result.branded and result.notes == problems
    assert probe(result.render.output)["duration_s"] == pytest.approx(2.5, abs=0.1)


def test_preview_is_small_and_carries_the_logo(tmp_path: Path, clips: list[Path], logo: Path) -> None:
    full = render_branded(clips, tmp_path / "video.mp4", Branding(), TITLE).render.output
    preview = render_preview(full, tmp_path / "preview.mp4", logo, height=120)
    info = probe(preview)
    assert (info["video"]["width"], info["video"]["height"]) == (160, 120)
    assert info["duration_s"] == pytest.approx(2.5, abs=0.1)
    x, y, w, h = logo_box(160, 120, Image.open(logo))
    with av.open(str(preview)) as container:
        frame = next(container.decode(container.streams.video[0])).to_ndarray(format="rgb24")
    r, g, b = frame[y + h // 2, x + w // 2].astype(int)
    assert r > 150 and b > 150 and g < 110  # magenta, at LOGO_OPACITY over the picture
    r, g, b = frame[5, 5].astype(int)
    assert not (r > 150 and b > 150 and g < 110)  # and not elsewhere
