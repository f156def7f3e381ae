"""Peers without the token, as an attacker on the LAN would run them, and a `/health` prober.

Run as its own process so its CPU and memory are not the station's nor the prober's:

    python -m tests.support.flood ws://127.0.0.1:PORT [--peers 200] [--addresses 5]

It prints `flooding` once every peer connected at least once, runs until SIGTERM or SIGINT,
then prints one JSON line of counts (connections opened, refused with 503, close codes seen).
Three kinds of peers, each reconnecting a second after the station drops it: silent ones that
never say hello, slow readers that send bad messages and never read the answers, and
oversized ones that send a 3.9 MB message before hello. Peers come from several loopback
addresses (every 127.x.y.z reaches a station listening on 127.0.0.1).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import sys
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from typing import Self

import psutil
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

RECONNECT_S = 1.0
SLOW_SEND_S = 0.05  # a slow reader's pace of bad messages
KINDS = ("silent", "slow_reader", "oversized")
# Before hello: a bad message with many unexpected fields (the answer used to list them all).
BAD = json.dumps({"type": "sd:file_list", "data": {}, **{f"field_{n}": n for n in range(300)}})
OVERSIZED = json.dumps({"type": "hello", "data": {}, **{f"f{n}": "z" * 30 for n in range(95_000)}})  # 3.9 MB


@dataclass
class Counts:
    opened: Counter[str] = field(default_factory=Counter)
    refused: int = 0  # HTTP 503 before the handshake
    failed: int = 0  # could not connect at all
    closes: Counter[str] = field(default_factory=Counter)
    answers: int = 0
    largest_answer: int = 0
    connected_once: set[int] = field(default_factory=set)

    def report(self) -> dict:
        return {"opened": dict(self.opened), "refused_503": self.refused, "failed": self.failed,
                "closes": dict(self.closes), "answers": self.answers, "largest_answer": self.largest_answer}


async def _one_connection(kind: str, ws: ClientConnection, counts: Counts) -> None:
    if kind == "silent":
        await ws.wait_closed()
    elif kind == "slow_reader":
        while True:  # never reads: the station's answers pile up on its side
            await ws.send(BAD)
            await asyncio.sleep(SLOW_SEND_S)
    else:
        await ws.send(OVERSIZED)
        async for answer in ws:  # whatever the station answers, it must stay small
            counts.answers += 1
            counts.largest_answer = max(counts.largest_answer, len(answer))


async def _peer(number: int, kind: str, url: str, address: str, counts: Counts) -> None:
    while True:
        try:
            options = {"max_queue": 1} if kind == "slow_reader" else {"max_size": None}
            async with connect(url, compression=None, local_addr=(address, 0), open_timeout=10,
                               close_timeout=1, ping_interval=None, **options) as ws:
                counts.opened[kind] += 1
                counts.connected_once.add(number)
                try:
                    await _one_connection(kind, ws, counts)
                except ConnectionClosed:
                    pass
                counts.closes[str(ws.close_code)] += 1
        except InvalidStatus:
            counts.refused += 1
        except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed):
            counts.failed += 1
        await asyncio.sleep(RECONNECT_S)


async def flood(url: str, peers: int, addresses: int, stop: asyncio.Event, started: asyncio.Event) -> Counts:
    counts = Counts()
    tasks = [asyncio.create_task(_peer(n, KINDS[n % len(KINDS)], url, f"127.0.10.{1 + n % addresses}", counts))
             for n in range(peers)]
    while not stop.is_set():
        if len(counts.connected_once) + counts.refused >= peers and not started.is_set():
            started.set()
        try:
            await asyncio.wait_for(stop.wait(), 0.1)
        except TimeoutError:
            pass
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return counts


# -- the prober and the station's memory -------------------------------------------------------
class HealthProbe:
    """GET /health every `interval` seconds from a thread; keeps each answer's time."""

    def __init__(self, base_url: str, interval: float = 0.05) -> None:
        self.url = base_url + "/health"
        self.interval = interval
        self.times_ms: list[float] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="health-probe", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(15)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(self.url, timeout=10) as response:
                    response.read()
                    if response.status != 200:
                        self.failures.append(f"HTTP {response.status}")
                self.times_ms.append((time.perf_counter() - started) * 1000)
            except OSError as exc:
                self.failures.append(str(exc))
            self._stop.wait(self.interval)

    def percentile(self, p: float) -> float:
        if len(self.times_ms) < 2:
            return self.times_ms[0] if self.times_ms else float("nan")
        return statistics.quantiles(self.times_ms, n=100, method="inclusive")[int(p) - 1]


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / (1024 * 1024)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the station's /detector URL, e.g. ws://127.0.0.1:8765/detector")
    parser.add_argument("--peers", type=int, default=200)
    parser.add_argument("--addresses", type=int, default=5)
    args = parser.parse_args(argv)

    async def run() -> Counts:
        stop, started = asyncio.Event(), asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)

        async def announce() -> None:
            await started.wait()
            print("flooding", flush=True)

        announcer = asyncio.create_task(announce())
        counts = await flood(args.url, args.peers, args.addresses, stop, started)
        announcer.cancel()
        return counts

    counts = asyncio.run(run())
    print(json.dumps(counts.report()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
