"""The passenger's video: clips joined in order, by remux when they match, re-encoded when not."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from app.media.errors import MediaReadError
from app.media.probe import probe
from app.media.render import PARTIAL_SUFFIX, render_jump
from app.media.samples import ClipSpec, write_clip

CLIP = ClipSpec(width=320, height=240, fps=30, audio=True)
FRAME = 1 / 30


def _decode_all(path: Path) -> tuple[int, float]:
    """Frames decoded from the whole file (it plays end to end) and the audio seconds."""
    frames, audio_s = 0, 0.0
    with av.open(str(path)) as container:
        for frame in container.decode(*container.streams.video, *container.streams.audio):
            if isinstance(frame, av.VideoFrame):
                frames += 1
            else:
                audio_s += frame.samples / frame.sample_rate
    return frames, audio_s


def test_matching_clips_are_remuxed_with_audio_and_without_data_tracks(tmp_path: Path) -> None:
    clips = [write_clip(tmp_path / f"GX01000{i}.MP4", CLIP, duration_s=d, data_track=True, gopro_tags=True, seed=i)
             for i, d in enumerate((2.0, 1.5, 1.0))]
    assert probe(clips[0])["data_streams"] == ["tmcd"]
    result = render_jump(clips, tmp_path / "Ana Silva.mp4")
    assert result.method == "remux"
    assert result.output == tmp_path / "Ana Silva.mp4"
    info = probe(result.output)
    assert info["duration_s"] == pytest.approx(4.5, abs=2 * FRAME)
    assert result.duration_s == pytest.approx(4.5, abs=2 * FRAME)
    assert info["data_streams"] == []
    assert info["video"]["codec"] == "h264" and info["audio"]["codec"] == "aac"
    frames, audio_s = _decode_all(result.output)
    assert frames == 135
    assert audio_s == pytest.approx(4.5, abs=0.1)
    assert not list(tmp_path.glob(f"*{PARTIAL_SUFFIX}"))


def test_clips_that_differ_are_reencoded_to_h264(tmp_path: Path) -> None:
    a = write_clip(tmp_path / "a.MP4", CLIP, duration_s=1.0)
    b = write_clip(tmp_path / "b.MP4", CLIP, duration_s=1.0, width=480, height=270, fps=25, audio=False, seed=1)
    c = write_clip(tmp_path / "c.MP4", CLIP, duration_s=0.6, codec="mpeg4", seed=2)
    result = render_jump([a, b, c], tmp_path / "out.mp4")
    assert result.method == "reencode" and "b.MP4" in result.reason
    info = probe(result.output)
    assert info["video"]["codec"] == "h264"
    assert (info["video"]["width"], info["video"]["height"]) == (320, 240)
    assert info["duration_s"] == pytest.approx(2.6, abs=2 * FRAME)
    frames, audio_s = _decode_all(result.output)
    assert frames == pytest.approx(78, abs=1)
    assert audio_s == pytest.approx(2.6, abs=0.1)  # silence where the middle clip had none


def test_existing_output_is_replaced_only_when_the_render_succeeds(tmp_path: Path) -> None:
    good = write_clip(tmp_path / "good.MP4", CLIP, duration_s=0.5)
    broken = tmp_path / "broken.MP4"
    broken.write_bytes(b"\0" * 1000)
    output = tmp_path / "out.mp4"
    output.write_bytes(b"previous render")
    with pytest.raises(MediaReadError):
        render_jump([good, broken], output)
    assert output.read_bytes() == b"previous render"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.MP4", "good.MP4", "out.mp4"]


def test_empty_clip_list_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        render_jump([], tmp_path / "out.mp4")


@pytest.mark.parametrize("reencode", [False, True])
def test_a_clip_cut_short_fails_the_render(tmp_path: Path, reencode: bool) -> None:
    first = write_clip(tmp_path / "a.MP4", CLIP, duration_s=1.0, faststart=True)
    whole = write_clip(tmp_path / "b.MP4", CLIP, duration_s=3.0, faststart=True, seed=1,
                       width=480 if reencode else 320, height=270 if reencode else 240)
    data = whole.read_bytes()
    cut = tmp_path / "b_cut.MP4"
    cut.write_bytes(data[: len(data) // 3])  # header intact, most frames missing
    with pytest.raises(MediaReadError, match="truncated"):
        render_jump([first, cut], tmp_path / "out.mp4")
    assert not (tmp_path / "out.mp4").exists()
