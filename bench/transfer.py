"""Upload throughput, CPU and memory of the station, beside a bare loop doing the same work.

    .venv/bin/python bench/transfer.py [--big-mib 4096]

A card with a 64 MiB, a 1 GiB and a 4 GiB file (the size of a GoPro chapter; incompressible
bytes, made quickly by repeating an 8 MiB random block) goes through two paths:

- bare loop, in this process: a websockets client (reads the file, SHA-256, 1 MiB binary
  frames) and a websockets server (SHA-256, write, fsync, rename), each on its own thread and
  event loop, over loopback. The least that moving and checking the bytes costs.
- station: the real net layer in its own process with a minimal orchestrator that asks for
  each file once and accepts it, and the reference Detector (`python -m app detector`) in
  another: what the import pipeline's copies go through.

Both are timed per file from the first byte announced to the file renamed into place. The
station's CPU seconds (psutil, all its threads) and RSS are read when each file is stored.
Files are deleted as soon as they are measured.
The disk's own write+fsync speed is measured last, as the physical limit of both.
Last line: upload_mb_s=<n> bare_mb_s=<n> ratio=<n> cpu_s_per_gib=<n> rss_1gib_mb=<n> rss_4gib_mb=<n> disk_mb_s=<n>
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bare_loop import CHUNK, MIB, bare_loop  # noqa: E402 - after sys.path

TOKEN = "bench-token-0123456789"


# -- the station side (runs in a child process: `bench/transfer.py _station DATA_DIR`) ------------
@dataclass
class _Target:
    partial_path: Path
    final_path: Path


@dataclass
class _Ack:
    execution_id: int
    files_total: int
    files_new: int


class BenchOrchestrator:
    """Asks for every listed file once, accepts its upload, reports time, CPU and memory."""

    def __init__(self, station) -> None:
        import psutil  # noqa: PLC0415

        self.station = station
        self.library = station.settings.library
        self.process = psutil.Process()
        self.started: dict[str, tuple[float, float]] = {}

    def _cpu_seconds(self) -> float:
        times = self.process.cpu_times()
        return times.user + times.system

    async def file_list(self, detector_id, card_id, label, slot, files):
        for n, entry in enumerate(files):
            self.station.link.send_copy_request(detector_id, {
                "request_id": f"r-bench-{n}", "card_id": card_id, "mode": "upload",
                "files": [{"path": entry["path"], "size": entry["size"], "offset": 0}], "dest_dir": None})
        return _Ack(1, len(files), len(files))

    async def begin_upload(self, detector_id, request_id, path, size, offset):
        if not request_id.startswith("r-bench-"):
            raise LookupError(request_id)
        self.started[request_id] = (time.perf_counter(), self._cpu_seconds())
        final = self.library / ".ingest-staging" / "1" / "files" / path
        return _Target(final.with_name(final.name + ".partial"), final)

    async def file_stored(self, detector_id, request_id, path, final_path, sha256, size):
        started, cpu_at_start = self.started.pop(request_id)
        seconds = time.perf_counter() - started
        cpu = self._cpu_seconds() - cpu_at_start
        rss_mb = self.process.memory_info().rss / MIB
        stored_size = Path(final_path).stat().st_size
        Path(final_path).unlink()
        print(json.dumps({"stored": path, "size": size, "stored_size": stored_size, "sha256": sha256,
                          "seconds": seconds, "cpu_seconds": cpu, "rss_mb": rss_mb,
                          "loop_lag_max_ms": LOOP_LAG["max_ms"]}), flush=True)
        LOOP_LAG["max_ms"] = 0.0

    async def file_rejected(self, detector_id, request_id, path, reason):
        print(json.dumps({"rejected": path, "reason": reason}), flush=True)

    async def storage_failed(self, detector_id, request_id, path, reason):
        print(json.dumps({"storage_failed": path, "reason": reason}), flush=True)

    async def copy_error(self, detector_id, request_id, path, error, retryable):
        print(json.dumps({"copy_error": path, "error": error}), flush=True)

    async def card_removed(self, detector_id, card_id): ...

    async def detector_connected(self, detector_id): ...

    async def detector_disconnected(self, detector_id): ...


LOOP_LAG = {"max_ms": 0.0}


async def _watch_loop_lag(tick: float = 0.01) -> None:
    """How late a 10 ms timer fires: hashing or disk writes on the loop would show here."""
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(tick)
        LOOP_LAG["max_ms"] = max(LOOP_LAG["max_ms"], (loop.time() - start - tick) * 1000)


async def serve_station(data_dir: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from app.config import load_settings  # noqa: PLC0415
    from app.station import Station  # noqa: PLC0415

    settings = load_settings({"data_dir": str(data_dir), "host": "127.0.0.1", "port": 0, "token": TOKEN,
                              "workers": 0, "chunk_size": CHUNK}, environ={})
    station = Station(settings)
    await station.start()
    real = station.orchestrator
    station.orchestrator = BenchOrchestrator(station)
    lag = asyncio.create_task(_watch_loop_lag())
    print(json.dumps({"port": station.port}), flush=True)
    try:
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent closes stdin
    finally:
        lag.cancel()
        station.orchestrator = real
        await station.stop()


# -- the parent: the card, the bare loop, the station and Detector processes ----------------------
def write_file(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    block = os.urandom(8 * MIB)  # incompressible, like video; repeated: fast to make
    with open(path, "wb") as fh:
        left = size
        while left:
            n = min(left, len(block))
            fh.write(block[:n])
            left -= n


def disk_write_mb_s(folder: Path, size: int) -> float:
    """The disk's own limit: write `size` bytes and fsync them, no network, no hashing."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "disk-limit.bin"
    block = os.urandom(8 * MIB)
    started = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for _ in range(size // len(block)):
            os.write(fd, block)
        os.fsync(fd)
    finally:
        os.close(fd)
    seconds = time.perf_counter() - started
    path.unlink()
    return size / 1e6 / seconds


def sha256_of(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb", buffering=0) as fh:
        while block := fh.read(8 * MIB):
            hasher.update(block)
    return hasher.hexdigest()


def upload_through_station(work: Path, card: Path, expected: int) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    station = subprocess.Popen([sys.executable, __file__, "_station", str(work / "station")], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, env=env)
    results: list[dict] = []
    detector = None
    try:
        port = json.loads(station.stdout.readline())["port"]
        detector = subprocess.Popen(
            [sys.executable, "-m", "app", "detector", "--station", f"ws://127.0.0.1:{port}", "--token", TOKEN,
             "--card", str(card), "--card-id", "BENCH", "--detector-id", "bench", "--log-level", "WARNING"],
            env=env, cwd=work)
        while len(results) < expected:
            line = station.stdout.readline()
            if not line:
                raise RuntimeError("the station stopped before the uploads finished")
            result = json.loads(line)
            if "stored" not in result:
                raise RuntimeError(f"upload failed: {result}")
            results.append(result)
    finally:
        if detector is not None:
            detector.terminate()
            detector.wait(30)
        station.stdin.close()
        station.wait(60)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big-mib", type=int, default=4096, help="size of the biggest file (default 4096 MiB)")
    args = parser.parse_args()
    sizes = {"GX010001.MP4": 64 * MIB, "GX020002.MP4": 1024 * MIB, "GX030003.MP4": args.big_mib * MIB}
    with tempfile.TemporaryDirectory(prefix="bench-transfer-") as tmp:
        work = Path(tmp)
        folder = work / "card" / "DCIM" / "100GOPRO"
        for name, size in sizes.items():
            write_file(folder / name, size)
        digests = {name: sha256_of(folder / name) for name in sizes}

        bare = {name: bare_loop(folder / name, work / "bare") for name in sizes}
        station = {Path(r["stored"]).name: r for r in upload_through_station(work, work / "card", len(sizes))}
        disk_mb_s = disk_write_mb_s(work / "disk", 1024 * MIB)

    ok = all(bare[n]["sha256"] == bare[n]["sent_sha256"] == station[n]["sha256"] == digests[n]
             and bare[n]["stored_size"] == station[n]["stored_size"] == sizes[n] for n in sizes)
    print("station: real net layer and uploads in its own process, minimal orchestrator (asks each file once);"
          " reference Detector in another process")
    print(f"bare loop: websockets client and server in this process (a thread each), SHA-256 on both ends,"
          f" write, fsync, rename; frames of {CHUNK // MIB} MiB on both paths")
    print(f"{'':10}{'MB/s':>16}{'':>6}{'CPU-s per GiB':>20}{'station':>18}")
    print(f"{'file':>10}{'station':>9}{'bare':>7}{'ratio':>6}{'station':>10}{'bare recv':>10}{'RSS MB':>9}{'loop lag ms':>12}")
    for name, size in sizes.items():
        s, b = station[name], bare[name]
        station_mb_s, bare_mb_s = size / 1e6 / s["seconds"], size / 1e6 / b["seconds"]
        gib = size / (1024 * MIB)
        print(f"{size // MIB:>6} MiB{station_mb_s:9.0f}{bare_mb_s:7.0f}{station_mb_s / bare_mb_s:6.2f}"
              f"{s['cpu_seconds'] / gib:10.2f}{b['cpu_seconds'] / gib:10.2f}{s['rss_mb']:9.0f}{s['loop_lag_max_ms']:12.1f}")
    print(f"the disk alone (1 GiB written and fsynced, no network, no hashing): {disk_mb_s:.0f} MB/s")
    print(f"bytes identical on both paths (SHA-256 and size): {ok};  load average {os.getloadavg()[0]:.1f}"
          f" on {os.cpu_count()} CPUs")
    big = list(sizes)[-1]
    s, b = station[big], bare[big]
    upload_mb_s, bare_mb_s = sizes[big] / 1e6 / s["seconds"], sizes[big] / 1e6 / b["seconds"]
    print(f"upload_mb_s={upload_mb_s:.0f} bare_mb_s={bare_mb_s:.0f} ratio={upload_mb_s / bare_mb_s:.2f} "
          f"cpu_s_per_gib={s['cpu_seconds'] / (sizes[big] / (1024 * MIB)):.2f} "
          f"rss_1gib_mb={station['GX020002.MP4']['rss_mb']:.0f} rss_4gib_mb={s['rss_mb']:.0f} disk_mb_s={disk_mb_s:.0f}")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "_station":
        asyncio.run(serve_station(Path(sys.argv[2])))
    else:
        sys.exit(main())
