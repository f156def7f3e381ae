"""GUI tests: the real window on the real station core, offscreen, in one qasync loop."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
import qasync

from app.config import Settings, load_settings
from app.gui.main import make_application

pytestmark = pytest.mark.gui


@pytest.fixture
def run_async(qapp) -> Callable[[Coroutine[Any, Any, Any], float], Any]:
    """Run a coroutine in a qasync loop on the test's QApplication (the program's own set-up)."""
    make_application()

    def run(coro: Coroutine[Any, Any, Any], timeout: float = 60) -> Any:
        try:
            return asyncio.run(asyncio.wait_for(coro, timeout), loop_factory=lambda: qasync.QEventLoop(qapp))
        finally:
            # The finished loop and its Qt timer object sit in reference cycles: collect them here,
            # on the GUI thread. Collected by chance on a database thread, the timer object is
            # destroyed on the wrong thread and its Qt timers fire into freed memory later.
            gc.collect()

    return run


@pytest.fixture
def station_settings(tmp_path: Path) -> Settings:
    return load_settings({"data_dir": str(tmp_path / "data"), "host": "127.0.0.1", "port": 0}, environ={})


async def wait_until(predicate: Callable[[], Any], timeout: float = 10, what: str = "condition") -> Any:
    """Poll on the running loop (never a nested Qt loop) until `predicate()` is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


async def settle(awaitable: Awaitable[Any]) -> Any:
    return await awaitable
