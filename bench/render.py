"""Seconds of render per minute of footage: a passenger's clips joined by app/media/render.py.

For 720p, 1080p and 4K (30 fps, H.264 with AAC audio, as GoPros record), two generated clips
of --seconds each are rendered twice with `render_jump`:

- join: clips that match, so their packets are copied (remux, no re-encoding);
- re-encode: the second clip made with another encoder setup, so the join re-encodes
  (libx264 veryfast, CRF 20, AAC), as it does when a passenger's clips come from two cameras.

Baseline, same run, same footage: the `ffmpeg` command line when it is installed (`-c copy`
concat for the join; libx264 veryfast CRF 20 for the re-encode), else decoding every frame of
the clips with PyAV (what any re-encode must do at least). Figures are scaled to one minute
of footage; generated scenes are smoother than real footage, so real clips encode slower.

    .venv/bin/python bench/render.py [--seconds 2] [--sizes 720p,1080p,4k]

Last line: `join_s_per_min_<size>=<n> reencode_s_per_min_<size>=<n> ... baseline=<ffmpeg|decode>`.
"""

from __future__ import annotations

import argparse
from functools import partial
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import av  # noqa: E402

from app.media.render import render_jump  # noqa: E402
from app.media.samples import write_clip  # noqa: E402

SIZES = {"720p": (1280, 720), "1080p": (1920, 1080), "4k": (3840, 2160)}
FPS = 30


def make_clips(folder: Path, width: int, height: int, seconds: float) -> tuple[list[Path], list[Path]]:
    """(clips that match, clips that differ in encoder setup), all of the same length."""
    common = {"width": width, "height": height, "fps": FPS, "duration_s": seconds, "audio": True, "crf": 20}
    first = write_clip(folder / "GX010001.MP4", **common, seed=1)
    same = write_clip(folder / "GX010002.MP4", **common, seed=2)
    # superfast turns CABAC on where ultrafast leaves it off: another codec setup, so no remux.
    other = write_clip(folder / "GX010003.MP4", **common, seed=2, preset="superfast")
    return [first, same], [first, other]


def footage_s(clips: list[Path]) -> float:
    total = 0.0
    for clip in clips:
        with av.open(str(clip)) as container:
            total += container.duration / 1_000_000
    return total


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def decode_all(clips: list[Path]) -> int:
    frames = 0
    for clip in clips:
        with av.open(str(clip)) as container:
            stream = container.streams.video[0]
            stream.codec_context.thread_type = "AUTO"
            for _ in container.decode(stream):
                frames += 1
            for audio in container.streams.audio:
                for _ in container.decode(audio):
                    pass
    return frames


def ffmpeg_join(ffmpeg: str, clips: list[Path], output: Path) -> None:
    listing = output.with_suffix(".txt")
    listing.write_text("".join(f"file '{c}'\n" for c in clips))
    subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing),
                    "-map", "0:v", "-map", "0:a", "-c", "copy", str(output)], check=True)


def ffmpeg_reencode(ffmpeg: str, clips: list[Path], output: Path) -> None:
    inputs = [arg for c in clips for arg in ("-i", str(c))]
    streams = "".join(f"[{i}:v][{i}:a]" for i in range(len(clips)))
    subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-y", *inputs, "-filter_complex",
                    f"{streams}concat=n={len(clips)}:v=1:a=1[v][a]", "-map", "[v]", "-map", "[a]",
                    "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-b:a", "160k", str(output)], check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each generated clip (default 2 s)")
    parser.add_argument("--sizes", default=",".join(SIZES), help="comma-separated: 720p,1080p,4k")
    args = parser.parse_args()
    ffmpeg = shutil.which("ffmpeg")
    baseline = "ffmpeg" if ffmpeg else "decode"
    if not ffmpeg:
        print("ffmpeg is not installed: the baseline is decoding the same clips with PyAV "
              "(scripts/setup.sh --bench installs ffmpeg)")
    summary: list[str] = []
    rows: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp:
        for size in args.sizes.split(","):
            width, height = SIZES[size]
            folder = Path(tmp) / size
            matching, differing = make_clips(folder, width, height, args.seconds)
            minutes = footage_s(matching) / 60

            join_s, joined = timed(partial(render_jump, matching, folder / "joined.mp4"))
            reencode_s, reencoded = timed(partial(render_jump, differing, folder / "reencoded.mp4"))
            if joined.method != "remux" or reencoded.method != "reencode":
                raise RuntimeError(f"{size}: expected remux and reencode, got {joined.method} and {reencoded.method}")
            if ffmpeg:
                base_join_s, _ = timed(partial(ffmpeg_join, ffmpeg, matching, folder / "ffmpeg-joined.mp4"))
                base_reencode_s, _ = timed(partial(ffmpeg_reencode, ffmpeg, differing, folder / "ffmpeg-reencoded.mp4"))
            else:
                base_join_s = None
                base_reencode_s, _ = timed(partial(decode_all, differing))
            rows.append(f"{size:>6} {f'{width}x{height}':<10}{join_s / minutes:8.2f}"
                        f"{'-' if base_join_s is None else f'{base_join_s / minutes:.2f}':>10}"
                        f"{reencode_s / minutes:12.1f}{base_reencode_s / minutes:13.1f}"
                        f"{reencode_s / base_reencode_s:8.1f}x")
            summary += [f"join_s_per_min_{size}={join_s / minutes:.2f}", f"reencode_s_per_min_{size}={reencode_s / minutes:.1f}",
                        f"baseline_reencode_s_per_min_{size}={base_reencode_s / minutes:.1f}"]
            shutil.rmtree(folder)
    print(f"footage: 2 clips of {args.seconds:g} s per size, {FPS} fps, H.264 + AAC; seconds of work per minute of footage")
    base = "ffmpeg" if ffmpeg else "decode only"
    print(f"{'':17}{'join':>8}{'ffmpeg':>10}{'re-encode':>12}{base:>13}{'ratio':>9}")
    for row in rows:
        print(row)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(" ".join(summary) + f" baseline={baseline}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
