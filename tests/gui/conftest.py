"""GUI tests: the real window on the real station core, offscreen, in one qasync loop."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
import qasync

from app.config import Settings, load_settings
from app.gui.main import make_application


@pytest.fixture
def run_async(qapp) -> Callable[[Coroutine[Any, Any, Any], float], Any]:
    """Run a coroutine in a qasync loop on the test's QApplication (the program's own set-up)."""
    make_application()

    def run(coro: Coroutine[Any, Any, Any], timeout: float = 60) -> Any:
        try:
            with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(qapp)) as runner:  # 3.11 too
                return runner.run(asyncio.wait_for(coro, timeout))
        finally:
            # The finished loop and its Qt timer object sit in reference cycles: collect them here,
            # on the GUI thread. Collected by chance on a database thread, the timer object is
            # destroyed on the wrong thread and its Qt timers fire into freed memory later.
            gc.collect()

    return run


@pytest.fixture
def station_settings(tmp_path: Path) -> Settings:
    return load_settings({"data_dir": str(tmp_path / "data"), "host": "127.0.0.1", "port": 0}, environ={})
