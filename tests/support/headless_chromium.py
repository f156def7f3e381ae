"""Debian's headless Chromium driven over the DevTools protocol: open a page, evaluate script in
it. For tests that need a real browser (a phone's view of the hand-off page)."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--autoplay-policy=no-user-gesture-required", "--remote-debugging-port=0")


def chromium_or_skip() -> str:
    path = shutil.which("chromium")
    if path is None:
        message = "chromium not installed (scripts/setup.sh installs it: apt-get install chromium)"
        if os.environ.get("INGEST_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail("MISSING: " + message)
        print(f"\n*** SKIPPED LOUDLY: {message} ***", file=sys.stderr)
        pytest.skip(message)
    return path


class Page:
    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._ids = itertools.count(1)

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (awaited when it is a promise)."""
        call_id = next(self._ids)
        await self._ws.send(json.dumps({"id": call_id, "method": "Runtime.evaluate", "params": {
            "expression": expression, "returnByValue": True, "awaitPromise": True}}))
        while True:
            message = json.loads(await self._ws.recv())
            if message.get("id") == call_id:
                result = message["result"]
                if "exceptionDetails" in result:
                    raise AssertionError(f"script failed in the page: {result['exceptionDetails']}")
                return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 30, what: str = "") -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what or expression}")
            await asyncio.sleep(0.1)


@asynccontextmanager
async def open_page(url: str) -> AsyncIterator[Page]:
    binary = chromium_or_skip()
    profile = Path(tempfile.mkdtemp(prefix="chromium-test-"))
    process = await asyncio.create_subprocess_exec(binary, *FLAGS, f"--user-data-dir={profile}", url,
                                                   stdout=asyncio.subprocess.DEVNULL,
                                                   stderr=asyncio.subprocess.DEVNULL)
    try:
        port = await _devtools_port(profile, process)
        targets = await asyncio.to_thread(_json, f"http://127.0.0.1:{port}/json/list")
        page = next(t for t in targets if t["type"] == "page")
        async with connect(page["webSocketDebuggerUrl"], max_size=None) as ws:
            yield Page(ws)
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
        shutil.rmtree(profile, ignore_errors=True)


async def _devtools_port(profile: Path, process: asyncio.subprocess.Process, timeout: float = 30) -> int:
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise AssertionError(f"chromium exited with {process.returncode}")
        if marker.exists() and marker.read_text().strip():
            return int(marker.read_text().split()[0])
        await asyncio.sleep(0.05)
    raise AssertionError("chromium never opened its DevTools port")


def _json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())
