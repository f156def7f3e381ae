"""`/health` latency and station memory while 200 peers without the token flood the station and
the reference Detector imports a generated card; the same import without the flood is the
baseline, measured in the same run.

    .venv/bin/python bench/flood.py [--peers 200] [--seconds 30]

Each run starts its own headless station (SQLite, embedded Redis). `/health` is asked every
50 ms from the moment the import starts until both the import finished and `--seconds` passed;
the station's RSS is read once it is idle before the import and again 8 s after the flood
stopped (longer than the hello timeout and the close timeout, so every flood connection is gone).
Last line: health_p99_ms=<n> baseline_health_p99_ms=<n> rss_before_mb=<n> rss_after_mb=<n>
baseline_rss_before_mb=<n> baseline_rss_after_mb=<n> import_s=<n> baseline_import_s=<n>
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.media.sample_card import SampleCard, write_sample_card  # noqa: E402 - after sys.path
from tests.net.test_end_to_end import TOKEN, UiRecorder, reference_detector  # noqa: E402
from tests.support.flood import HealthProbe, rss_mb  # noqa: E402
from tests.support.station_process import running_station, station_env  # noqa: E402

SETTLE_S = 8.0


async def one_run(work: Path, card: SampleCard, *, peers: int, seconds: float) -> dict[str, float]:
    data_dir = work / ("flood" if peers else "baseline")
    data_dir.mkdir()
    threshold = (card.largest_qr_clip + card.smallest_jump_clip) // 2
    (data_dir / "config.toml").write_text(
        f"small_file_bytes = {threshold}\nredis_prefix = \"bench-{secrets.token_hex(4)}\"\n")
    with running_station("--data-dir", str(data_dir), "--token", TOKEN) as station:
        pid = station.process.pid
        with HealthProbe(station.base_url) as idle:  # the station settles after its start
            while len(idle.times_ms) < 40:
                await asyncio.sleep(0.05)
        rss_before = rss_mb(pid)
        flood = None
        if peers:
            flood = subprocess.Popen(
                [sys.executable, "-m", "tests.support.flood", f"{station.ws_url}/detector", "--peers", str(peers)],
                stdout=subprocess.PIPE, text=True, env=station_env(), cwd=ROOT)
            if flood.stdout.readline().strip() != "flooding":
                raise SystemExit("the flood never got going")
        try:
            started = time.monotonic()
            with HealthProbe(station.base_url) as probe:
                async with UiRecorder(station.port) as ui:
                    with reference_detector(station.port, card.root, work / f"trace-{peers}.jsonl"):
                        await ui.wait_for("pipeline:completed", timeout=900)
                        import_s = time.monotonic() - started
                await asyncio.sleep(max(0.0, seconds - (time.monotonic() - started)))
        finally:
            if flood is not None:
                flood.terminate()
                counts = flood.communicate(timeout=60)[0].strip().splitlines()[-1:]
                print(f"flood: {counts[0] if counts else '?'}", flush=True)
        await asyncio.sleep(SETTLE_S)
        rss_after = rss_mb(pid)
    figures = {"health_p50_ms": probe.percentile(50), "health_p99_ms": probe.percentile(99),
               "health_max_ms": max(probe.times_ms), "health_failed": len(probe.failures),
               "health_requests": len(probe.times_ms), "rss_before_mb": rss_before, "rss_after_mb": rss_after,
               "import_s": import_s}
    print(("flood    " if peers else "baseline ") + " ".join(f"{k}={v:.1f}" for k, v in figures.items()), flush=True)
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30.0, help="the least time the flood runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-flood-") as tmp:
        work = Path(tmp)
        card = write_sample_card(work / "card")
        base = await one_run(work, card, peers=0, seconds=args.seconds)
        flood = await one_run(work, card, peers=args.peers, seconds=args.seconds)
    print(f"health_p99_ms={flood['health_p99_ms']:.1f} baseline_health_p99_ms={base['health_p99_ms']:.1f} "
          f"rss_before_mb={flood['rss_before_mb']:.0f} rss_after_mb={flood['rss_after_mb']:.0f} "
          f"baseline_rss_before_mb={base['rss_before_mb']:.0f} baseline_rss_after_mb={base['rss_after_mb']:.0f} "
          f"import_s={flood['import_s']:.1f} baseline_import_s={base['import_s']:.1f}")


if __name__ == "__main__":
    asyncio.run(main())
