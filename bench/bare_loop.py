"""The least that moving and checking a file costs: the bare loop the benches compare the station with.

A websockets server (SHA-256, write, fsync, rename) runs on this thread's event loop; each batch
of files has its own sender thread, event loop and connection (read, SHA-256, binary frames),
sending its files one after another over loopback. No database, no pipeline, no protocol
checks: what is left is what no station can avoid. Stored files are deleted once measured.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import threading
import time
from pathlib import Path

MIB = 1024 * 1024
CHUNK = MIB  # the station's default chunk_size (welcome): the frame size of both paths


async def _receive_one(ws, header: dict, folder: Path) -> dict:
    started, cpu_at_start = time.perf_counter(), time.thread_time()
    partial = folder / (header["name"] + ".partial")
    hasher = hashlib.sha256()
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        received = 0
        while received < header["size"]:
            frame = await ws.recv()
            hasher.update(frame)
            view = memoryview(frame)
            while view:
                view = view[os.write(fd, view):]
            received += len(frame)
        os.fsync(fd)
    finally:
        os.close(fd)
    final = folder / header["name"]
    os.replace(partial, final)
    result = {"seconds": time.perf_counter() - started,
              "cpu_seconds": time.thread_time() - cpu_at_start,  # the receiving thread only
              "sha256": hasher.hexdigest(), "stored_size": final.stat().st_size}
    final.unlink()
    return result


async def _serve_connection(ws, folder: Path, results: dict[str, dict]) -> None:
    """Server side: per file, a JSON header (key, name, size), then its binary frames."""
    async for raw in ws:
        header = json.loads(raw)
        results[header["key"]] = await _receive_one(ws, header, folder)
        await ws.send("stored")


async def _send_batch(url: str, sources: list[tuple[str, Path]], digests: dict[str, str]) -> None:
    """Client side: read, SHA-256, 1 MiB frames per file; wait for the server's word each time."""
    from websockets.asyncio.client import connect  # noqa: PLC0415

    async with connect(url, compression=None, max_size=None) as ws:
        for key, source in sources:
            hasher = hashlib.sha256()
            size = source.stat().st_size
            await ws.send(json.dumps({"key": key, "name": _stored_name(key, source), "size": size}))
            with open(source, "rb", buffering=0) as fh:
                while block := fh.read(CHUNK):
                    hasher.update(block)
                    await ws.send(block)
            if await ws.recv() != "stored":
                raise RuntimeError(f"the bare server did not store {source}")
            digests[key] = hasher.hexdigest()


def _stored_name(key: str, source: Path) -> str:
    """A name of its own per key: batches run at the same time in one folder."""
    return hashlib.sha1(key.encode()).hexdigest()[:16] + source.suffix


def bare_transfer(batches: list[list[tuple[str, Path]]], folder: Path) -> dict[str, dict]:
    """Send each batch (key, file) on its own connection, the batches at the same time.

    Returns per key: seconds (first frame to rename), cpu_seconds, sha256 (received),
    sent_sha256, stored_size."""
    from websockets.asyncio.server import serve  # noqa: PLC0415

    folder.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    sent: dict[str, str] = {}
    errors: list[BaseException] = []

    def sender(url: str, batch: list[tuple[str, Path]]) -> None:
        try:
            asyncio.run(_send_batch(url, batch, sent))
        except BaseException as exc:  # reported by the caller's thread
            errors.append(exc)

    async def run() -> None:
        async with serve(lambda ws: _serve_connection(ws, folder, results), "127.0.0.1", 0,
                         compression=None, max_size=None) as server:
            url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            threads = [threading.Thread(target=sender, args=(url, batch)) for batch in batches]
            for thread in threads:
                thread.start()
            loop = asyncio.get_running_loop()
            for thread in threads:
                await loop.run_in_executor(None, thread.join)

    asyncio.run(run())
    if errors:
        raise errors[0]
    for key, digest in sent.items():
        results[key]["sent_sha256"] = digest
    return results


def bare_loop(source: Path, folder: Path) -> dict:
    """One file through the bare loop."""
    return bare_transfer([[("file", source)]], folder)["file"]
