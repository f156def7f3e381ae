"""mDNS discovery on this machine's loopback: how long a station takes to be announced (probing
for a unique name), a Detector to find it, and the station to withdraw the record.

    .venv/bin/python bench/discovery.py [--rounds 3]

Last line: `announce_s=<n> find_s=<n> withdraw_s=<n>` (medians).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.detector.discovery import find_station  # noqa: E402
from app.net.mdns import StationAdvertiser  # noqa: E402


async def one_round() -> tuple[float, float, float]:
    station_id = f"bench-{secrets.token_hex(3)}"
    advertiser = StationAdvertiser(station_id, "127.0.0.1", 8765)
    start = time.monotonic()
    advertiser.start()
    if not await asyncio.to_thread(advertiser.registered.wait, 15):
        raise SystemExit("the station was not announced within 15 s (no multicast on loopback?)")
    announced = time.monotonic()
    await find_station(10, station_id=station_id)
    found = time.monotonic()
    await advertiser.stop()
    return announced - start, found - announced, time.monotonic() - found


async def main(rounds: int) -> None:
    figures = [await one_round() for _ in range(rounds)]
    for announce, find, withdraw in figures:
        print(f"announced in {announce:.2f} s, found in {find:.3f} s, withdrawn in {withdraw:.2f} s")
    announce, find, withdraw = (statistics.median(column) for column in zip(*figures, strict=True))
    print(f"announce_s={announce:.2f} find_s={find:.3f} withdraw_s={withdraw:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(main(parser.parse_args().rounds))
