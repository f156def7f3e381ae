"""Passenger QR decoding: this pipeline against `ffmpeg -t 5 -vf fps=2` frames + pyzbar.

Generates (once, cached in a temp folder) real H.264 clips like a camera flyer's: 1080p and 4K,
30 fps, libx264 `superfast` (High profile, CABAC, B-frames), a keyframe every 0.5 s (a few every
1 s), 6 s long, each with its own passenger's QR card held up from a random moment in the first
2 s, for 1.5 to 3 s, sharp or degraded (blurred, motion, tilted, small, perspective, noisy,
glare), over a panning textured sky. Plus clips without a code and one with only a URL code.

For each clip, in the same run and on the same warm file: `find_passenger_code` (as the
decode_qr step calls it, thumbnail included) and the baseline (ffmpeg writes the 10 frames of
the first 5 s as PGM, pyzbar reads them in order until a passenger code). Prints per-clip wall
seconds and the result of both, figures per resolution, and as the last line:

    qr_s_per_clip=<n> baseline_s_per_clip=<n> identified=<share> baseline_identified=<share>

over all clips carrying a passenger code (seconds: wall-clock mean). Goals: >= 98 % of
degraded clips identified, no wrong passenger, <= 0.3 s per 1080p clip, >= 3x the baseline.

Usage: .venv/bin/python bench/qr.py [--quick] [--cache DIR] [--fresh] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402

from app.media.qr_art import DEGRADED_LOOKS, LOOKS  # noqa: E402
from app.media.samples import ClipSpec, write_clip  # noqa: E402
from app.pipeline.passenger import NotPassengerCode, parse_passenger_code  # noqa: E402
from app.pipeline.qr_decoder import find_passenger_code  # noqa: E402

CACHE_VERSION = "v3"
RESOLUTIONS = {"1080p": (1920, 1080), "4K": (3840, 2160)}


@dataclass(frozen=True)
class BenchClip:
    name: str
    resolution: str
    look: str | None  # None: no passenger code
    gop_s: float
    qr_from_s: float
    booking_id: str | None
    text: str | None

    @property
    def degraded(self) -> bool:
        return self.look is not None and self.look != "sharp"


@dataclass
class Outcome:
    seconds: float
    cpu_s: float
    booking_id: str | None

    def verdict(self, clip: BenchClip) -> str:
        if self.booking_id is None:
            return "missed" if clip.booking_id else "none"
        return "ok" if self.booking_id == clip.booking_id else "WRONG"


def plan_clips(quick: bool) -> list[BenchClip]:
    rng = random.Random(20261123)
    per_look = {"1080p": 1 if quick else 7, "4K": 1 if quick else 2}
    clips: list[BenchClip] = []
    number = 0
    for resolution, repeats in per_look.items():
        for repeat in range(repeats):
            for look in LOOKS:
                number += 1
                booking = f"BK-BENCH-{number:04d}"
                text = (f'{{"v":1,"booking_id":"{booking}","passenger_name":"Passenger {number:04d}",'
                        f'"jump_date":"2026-11-23","package":"video+photos","instructor":"J. Berg"}}')
                gop = 1.0 if repeat % 4 == 3 else 0.5
                start = round(rng.uniform(0.0, 2.0), 2)
                clips.append(BenchClip(f"{resolution}_{look}_{repeat}", resolution, look, gop, start, booking, text))
        clips.append(BenchClip(f"{resolution}_nocode", resolution, None, 0.5, 0.0, None, None))
    clips.append(BenchClip("1080p_url_only", "1080p", None, 0.5, 0.5, None, "https://shop.example.org/tshirt"))
    return clips


def generate(clip: BenchClip, folder: Path) -> Path:
    path = folder / f"{clip.name}.mp4"
    done = path.with_suffix(".done")
    if path.exists() and done.exists():
        return path
    width, height = RESOLUTIONS[clip.resolution]
    spec = ClipSpec(width=width, height=height, fps=30, duration_s=6.0, gop_s=clip.gop_s, preset="superfast",
                    crf=18, seed=hash(clip.name) % 10_000)
    rng = random.Random(clip.name)
    write_clip(path, spec, qr_text=clip.text, look=clip.look or "sharp", qr_from_s=clip.qr_from_s,
               qr_until_s=clip.qr_from_s + rng.uniform(1.5, 3.0))
    done.touch()
    return path


def run_ours(path: Path, frame_dir: Path) -> Outcome:
    cpu, wall = time.process_time(), time.perf_counter()
    found = find_passenger_code(path, frame_dir=frame_dir)
    return Outcome(time.perf_counter() - wall, time.process_time() - cpu, found.passenger.booking_id if found else None)


def run_baseline(path: Path, work: Path) -> Outcome:
    from pyzbar import pyzbar  # noqa: PLC0415

    frames = work / path.stem
    shutil.rmtree(frames, ignore_errors=True)
    frames.mkdir(parents=True)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu, wall = time.process_time(), time.perf_counter()
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-t", "5", "-i", str(path), "-vf", "fps=2",
                    "-pix_fmt", "gray", str(frames / "%02d.pgm")], check=True)
    booking = None
    for image_path in sorted(frames.glob("*.pgm")):
        image = cv2.imread(str(image_path), cv2.IMREAD_GRAYSCALE)
        for symbol in pyzbar.decode(image, symbols=[pyzbar.ZBarSymbol.QRCODE]):
            try:
                booking = parse_passenger_code(symbol.data.decode("utf-8", "replace")).booking_id
            except NotPassengerCode:
                continue
            break
        if booking:
            break
    seconds = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    child_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    shutil.rmtree(frames, ignore_errors=True)
    return Outcome(seconds, time.process_time() - cpu + child_cpu, booking)


def fastest(outcomes: Iterable[Outcome]) -> Outcome:
    return min(outcomes, key=lambda outcome: outcome.seconds)


def share(hits: int, total: int) -> str:
    return f"{hits / total:.3f}" if total else "n/a"


def mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one clip per look and resolution")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / f"ingest-bench-qr-{CACHE_VERSION}")
    parser.add_argument("--fresh", action="store_true", help="regenerate the cached clips")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="run both methods N times per clip and keep the fastest (steadier on a busy machine)")
    args = parser.parse_args()

    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        print("*** ffmpeg is not installed: the baseline cannot run. Install it with scripts/setup.sh --bench "
              "(or apt-get install ffmpeg). Only this pipeline is measured. ***", file=sys.stderr)

    if args.fresh:
        shutil.rmtree(args.cache, ignore_errors=True)
    args.cache.mkdir(parents=True, exist_ok=True)
    clips = plan_clips(args.quick)
    print(f"clips: {len(clips)} in {args.cache} (generated once, then cached)", flush=True)
    started = time.perf_counter()
    paths = {}
    for index, clip in enumerate(clips, 1):
        paths[clip.name] = generate(clip, args.cache)
        if time.perf_counter() - started > 5 and index % 8 == 0:
            print(f"  generated {index}/{len(clips)}", flush=True)
    print(f"clips ready in {time.perf_counter() - started:.1f} s; cpu cores: {os.cpu_count()}; "
          f"load average: {os.getloadavg()[0]:.2f}", flush=True)

    ours: dict[str, Outcome] = {}
    base: dict[str, Outcome] = {}
    with tempfile.TemporaryDirectory(prefix="bench-qr-") as work_dir:
        work = Path(work_dir)
        print(f"\n{'clip':<22} {'gop':>4} {'code@':>6} {'MB/s':>5} | {'ours s':>7} {'result':<7}| {'base s':>7} result")
        for clip in clips:
            path = paths[clip.name]
            path.read_bytes()  # same warm page cache for both
            ours[clip.name] = fastest(run_ours(path, work / "frames") for _ in range(args.repeat))
            if ffmpeg:
                base[clip.name] = fastest(run_baseline(path, work) for _ in range(args.repeat))
            mbps = path.stat().st_size * 8 / 6.0 / 1e6
            code_at = f"{clip.qr_from_s:.1f}s" if clip.look else "-"
            b = base.get(clip.name)
            print(f"{clip.name:<22} {clip.gop_s:>4} {code_at:>6} {mbps:>5.0f} | {ours[clip.name].seconds:7.3f} "
                  f"{ours[clip.name].verdict(clip):<7}| " + (f"{b.seconds:7.3f} {b.verdict(clip)}" if b else "   n/a"),
                  flush=True)

    coded = [c for c in clips if c.booking_id]
    print()
    for resolution in RESOLUTIONS:
        group = [c for c in coded if c.resolution == resolution]
        o = [ours[c.name] for c in group]
        line = (f"{resolution}: {len(group)} clips; ours {mean([x.seconds for x in o]):.3f} s/clip "
                f"(cpu {mean([x.cpu_s for x in o]):.3f}), identified {sum(x.verdict(c) == 'ok' for x, c in zip(o, group, strict=True))}"
                f"/{len(group)}")
        if base:
            b = [base[c.name] for c in group]
            ratio = mean([x.seconds for x in b]) / mean([x.seconds for x in o])
            line += (f"; baseline {mean([x.seconds for x in b]):.3f} s/clip (cpu {mean([x.cpu_s for x in b]):.3f}), "
                     f"identified {sum(x.verdict(c) == 'ok' for x, c in zip(b, group, strict=True))}/{len(group)}; "
                     f"ours is {ratio:.1f}x faster")
        print(line)
    degraded = [c for c in coded if c.degraded]
    ok_degraded = sum(ours[c.name].verdict(c) == "ok" for c in degraded)
    wrong = sum(ours[c.name].verdict(c) == "WRONG" for c in clips)
    print(f"degraded ({', '.join(DEGRADED_LOOKS)}): ours identified {ok_degraded}/{len(degraded)} "
          f"= {share(ok_degraded, len(degraded))}"
          + (f", baseline {sum(base[c.name].verdict(c) == 'ok' for c in degraded)}/{len(degraded)}" if base else ""))
    wrong_base = sum(base[c.name].verdict(c) == "WRONG" for c in clips) if base else 0
    print(f"wrong passenger: ours {wrong}" + (f", baseline {wrong_base}" if base else ""))
    for clip in (c for c in clips if not c.booking_id):
        print(f"no passenger code, {clip.name}: ours {ours[clip.name].seconds:.3f} s (whole window read)"
              + (f", baseline {base[clip.name].seconds:.3f} s" if base else "")
              + f"; result {ours[clip.name].verdict(clip)}")

    ours_s = mean([ours[c.name].seconds for c in coded])
    ours_hits = sum(ours[c.name].verdict(c) == "ok" for c in coded)
    hd = mean([ours[c.name].seconds for c in coded if c.resolution == "1080p"])
    verdicts = [f"1080p {hd:.3f} s/clip (goal <= 0.3): {'met' if hd <= 0.3 else 'NOT met'}",
                f"degraded identified {share(ok_degraded, len(degraded))} (goal >= 0.98): "
                f"{'met' if ok_degraded >= 0.98 * len(degraded) else 'NOT met'}",
                f"wrong passengers {wrong} (goal 0): {'met' if wrong == 0 else 'NOT met'}"]
    if base:
        base_s = mean([base[c.name].seconds for c in coded])
        base_hits = sum(base[c.name].verdict(c) == "ok" for c in coded)
        verdicts.append(f"speed-up {base_s / ours_s:.1f}x (goal >= 3): {'met' if base_s / ours_s >= 3 else 'NOT met'}")
        last = (f"qr_s_per_clip={ours_s:.3f} baseline_s_per_clip={base_s:.3f} "
                f"identified={share(ours_hits, len(coded))} baseline_identified={share(base_hits, len(coded))}")
    else:
        last = (f"qr_s_per_clip={ours_s:.3f} baseline_s_per_clip=n/a identified={share(ours_hits, len(coded))} "
                f"baseline_identified=n/a")
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (other work on the machine inflates wall times; "
          f"cpu figures above are this process's own)")
    print("goals: " + "; ".join(verdicts))
    print(last)
    return 0 if ffmpeg else 2


if __name__ == "__main__":
    sys.exit(main())
