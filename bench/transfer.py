"""Upload throughput and station memory: the reference Detector sends a 1 GiB file to a station
over loopback; a plain `cp` of the same file is the baseline measured in the same run.

    .venv/bin/python bench/transfer.py [--size-mib 1024]

The station runs as its own process (so its peak RSS is its own) with the real net layer and
a minimal orchestrator that asks for the one file and accepts it: the bench measures the
Detector link, not the import pipeline. A 64 MiB upload runs first; the station's peak RSS
after it and after the big file shows whether memory grows with file size.
Last line: upload_mb_s=<n> cp_mb_s=<n> ratio=<n> peak_rss_mb=<n>
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token-0123456789"
MIB = 1024 * 1024


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
    """Asks for every listed file once, accepts its upload, reports the time it took."""

    def __init__(self, station) -> None:
        self.station = station
        self.library = station.settings.library
        self.started: dict[str, float] = {}
        self.cpu_at_start: dict[str, float] = {}

    async def file_list(self, detector_id, card_id, label, slot, files):
        for n, entry in enumerate(files):
            request_id = f"r-bench-{n}"
            self.started[request_id] = 0.0
            self.station.link.send_copy_request(detector_id, {
                "request_id": request_id, "card_id": card_id, "mode": "upload",
                "files": [{"path": entry["path"], "size": entry["size"], "offset": 0}], "dest_dir": None})
        return _Ack(1, len(files), len(files))

    async def begin_upload(self, detector_id, request_id, path, size, offset):
        if request_id not in self.started:
            raise LookupError(request_id)
        self.started[request_id] = time.perf_counter()  # timed from the first byte's announcement
        self.cpu_at_start[request_id] = _cpu_seconds()
        final = self.library / ".ingest-staging" / "1" / "files" / path
        return _Target(final.with_name(final.name + ".partial"), final)

    async def file_stored(self, detector_id, request_id, path, final_path, sha256, size):
        seconds = time.perf_counter() - self.started[request_id]
        print(json.dumps({"stored": path, "size": size, "seconds": seconds, "peak_rss_mb": _peak_rss_mb(),
                          "loop_lag_max_ms": LOOP_LAG["max_ms"],
                          "cpu_seconds": _cpu_seconds() - self.cpu_at_start[request_id]}), flush=True)
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


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def _peak_rss_mb() -> float:
    """The process's high-water mark of resident memory (Linux VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource  # noqa: PLC0415 - not Linux: ru_maxrss (KiB on Linux, bytes on macOS)

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)


async def serve_station(data_dir: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from app.config import load_settings  # noqa: PLC0415
    from app.station import Station  # noqa: PLC0415

    settings = load_settings({"data_dir": str(data_dir), "host": "127.0.0.1", "port": 0, "token": TOKEN,
                              "workers": 0}, environ={})
    station = Station(settings)
    await station.start()
    real = getattr(station, "orchestrator", None)
    station.orchestrator = BenchOrchestrator(station)
    asyncio.create_task(_watch_loop_lag())
    print(json.dumps({"port": station.port, "peak_rss_mb": _peak_rss_mb()}), flush=True)
    try:
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent closes stdin
    finally:
        station.orchestrator = real
        await station.stop()


# -- the parent: files, cp baseline, station and Detector processes ------------------------------
def write_file(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    block = os.urandom(8 * MIB)  # incompressible, like video
    with open(path, "wb") as fh:
        left = size
        while left:
            n = min(left, len(block))
            fh.write(block[:n])
            left -= n


def timed_cp(source: Path, dest: Path) -> float:
    start = time.perf_counter()
    subprocess.run(["cp", str(source), str(dest)], check=True)
    return time.perf_counter() - start


def upload_through_detector(work: Path, card: Path, expected: int) -> list[dict]:
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
    parser.add_argument("--size-mib", type=int, default=1024, help="size of the big file (default 1024 MiB)")
    args = parser.parse_args()
    size = args.size_mib * MIB
    small = 64 * MIB
    with tempfile.TemporaryDirectory(prefix="bench-transfer-") as tmp:
        work = Path(tmp)
        card = work / "card"
        big_file = card / "DCIM" / "100GOPRO" / "GX020002.MP4"
        small_file = card / "DCIM" / "100GOPRO" / "GX010001.MP4"
        write_file(small_file, small)
        write_file(big_file, size)

        cp_seconds = timed_cp(big_file, work / "cp-copy.MP4")
        (work / "cp-copy.MP4").unlink()

        results = upload_through_detector(work, card, expected=2)
        by_path = {r["stored"]: r for r in results}
        small_result = by_path["DCIM/100GOPRO/GX010001.MP4"]
        big_result = by_path["DCIM/100GOPRO/GX020002.MP4"]
        stored = work / "station" / "library" / ".ingest-staging" / "1" / "files" / "DCIM" / "100GOPRO" / "GX020002.MP4"
        same = stored.stat().st_size == size
        shutil.rmtree(work / "station", ignore_errors=True)

    mb = size / 1e6
    upload_mb_s = mb / big_result["seconds"]
    cp_mb_s = mb / cp_seconds
    print("orchestrator: minimal bench orchestrator in the station process (requests each file once, accepts it);"
          " net layer, uploads and reference Detector are the real ones")
    print(f"file: {args.size_mib} MiB over loopback, chunk size 1 MiB, SHA-256 on both ends, fsync before rename")
    print(f"upload {big_result['seconds']:.2f} s = {upload_mb_s:.0f} MB/s;  cp {cp_seconds:.2f} s = {cp_mb_s:.0f} MB/s"
          f" (baseline, same run, no fsync);  stored size ok: {same}")
    gib = size / (1024 * MIB)
    print(f"station CPU during the big upload: {big_result['cpu_seconds']:.2f} s "
          f"({big_result['cpu_seconds'] / gib:.2f} CPU-s per GiB, all threads; load average now "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    print(f"station event loop: longest stall during the big upload {big_result['loop_lag_max_ms']:.1f} ms"
          " (a 10 ms timer's lateness; hashing and writes run on threads)")
    print(f"station peak RSS: after a 64 MiB upload {small_result['peak_rss_mb']:.0f} MB, "
          f"after the {args.size_mib} MiB upload {big_result['peak_rss_mb']:.0f} MB")
    print(f"upload_mb_s={upload_mb_s:.0f} cp_mb_s={cp_mb_s:.0f} ratio={upload_mb_s / cp_mb_s:.2f} "
          f"peak_rss_mb={big_result['peak_rss_mb']:.0f}")
    return 0 if same else 1


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "_station":
        asyncio.run(serve_station(Path(sys.argv[2])))
    else:
        sys.exit(main())
