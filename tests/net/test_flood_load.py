"""Issue 12, done when: 200 peers without the token (silent, slow readers, oversized messages)
flood a real station while the reference Detector imports a real card through it. The import
completes, every `/health` is answered, and the station turns the flood away by its limits.
Prints `/health` p50/p99 and the station's memory before and after (bench/flood.py compares
them with a run without the flood)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import pytest

from app.media.sample_card import write_sample_card
from tests.net.test_end_to_end import TOKEN, UiRecorder, reference_detector
from tests.support.flood import HealthProbe, rss_mb
from tests.support.station_process import running_station, station_env

pytestmark = pytest.mark.slow
PEERS = 200
# The flood lasts at least this long, import or not: longer than the hello timeout plus the
# close timeout, so every kind of peer meets the limit meant for it at least once.
FLOOD_S = 15.0


async def test_an_import_completes_while_200_peers_without_the_token_flood_the_station(tmp_path, redis_prefix):
    card = write_sample_card(tmp_path / "card")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    threshold = (card.largest_qr_clip + card.smallest_jump_clip) // 2
    (data_dir / "config.toml").write_text(f"small_file_bytes = {threshold}\nredis_prefix = \"{redis_prefix}\"\n")

    with running_station("--data-dir", str(data_dir), "--token", TOKEN) as station:
        pid = station.process.pid
        with HealthProbe(station.base_url) as idle:
            while len(idle.times_ms) < 20:
                await asyncio.sleep(0.05)
        rss_before = rss_mb(pid)

        flood = subprocess.Popen(
            [sys.executable, "-m", "tests.support.flood", f"{station.ws_url}/detector", "--peers", str(PEERS)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=station_env())
        try:
            assert flood.stdout.readline().strip() == "flooding", "the flood never got going"
            flood_started = time.monotonic()
            with HealthProbe(station.base_url) as probe:
                rss_during = rss_mb(pid)
                async with UiRecorder(station.port) as ui:
                    with reference_detector(station.port, card.root, tmp_path / "trace.jsonl"):
                        completed = (await ui.wait_for("pipeline:completed", timeout=600))[0]["data"]
                rss_peak_seen = max(rss_during, rss_mb(pid))
                await asyncio.sleep(max(0.0, FLOOD_S - (time.monotonic() - flood_started)))
        finally:
            flood.terminate()
            output, _ = flood.communicate(timeout=60)
        counts = json.loads(output.strip().splitlines()[-1])
        rss_after = rss_mb(pid)

        imported = [f for f in card.files if f.kind not in ("proxy", "thumbnail")]
        print(f"\nflood: {counts}")
        print(f"health idle p99={idle.percentile(99):.1f} ms; under flood p50={probe.percentile(50):.1f} ms "
              f"p99={probe.percentile(99):.1f} ms max={max(probe.times_ms):.1f} ms over {len(probe.times_ms)} "
              f"requests, {len(probe.failures)} failed")
        print(f"station RSS before={rss_before:.0f} MB during={rss_peak_seen:.0f} MB after={rss_after:.0f} MB")

        # The import went through the flood, whole.
        assert completed["files_imported"] == len(imported)
        # /health was answered every time, while the flood ran.
        assert probe.failures == [] and len(probe.times_ms) >= 20
        # The flood met the limits: turned away at its per-address cap (503), closed to make room
        # (1013) or for sending no hello in time (4408), closed for oversized messages (1009); the
        # station's answers to it stayed small.
        closes = counts["closes"]
        assert counts["refused_503"] > 0 and closes.get("1013", 0) + closes.get("4408", 0) > 0
        assert closes.get("1009", 0) > 0
        assert counts["largest_answer"] <= 1000
        # Generous: the old station grew by 300+ MB with eight such peers.
        assert rss_after - rss_before < 200, (rss_before, rss_after)
