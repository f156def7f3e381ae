"""The lag figure is real: a blocked loop shows up in it, and reset() starts a clean measure."""

from __future__ import annotations

import asyncio
import time

from app.gui.lag_monitor import LagMonitor


def test_a_blocked_loop_is_measured_and_reset_forgets_what_came_before():
    async def scenario() -> tuple[float, float, float]:
        monitor = LagMonitor(interval_s=0.01)
        monitor.start()
        await asyncio.sleep(0.05)
        quiet = monitor.max_ms
        time.sleep(0.15)  # the loop is blocked, as a slow callback would block it
        await asyncio.sleep(0.05)
        blocked = monitor.max_ms
        time.sleep(0.15)
        monitor.reset()  # the sleep in flight began before the reset: it must not count
        await asyncio.sleep(0.1)
        after_reset = monitor.max_ms
        await monitor.stop()
        return quiet, blocked, after_reset

    quiet, blocked, after_reset = asyncio.run(scenario())
    assert quiet < 50
    assert 140 <= blocked < 400
    assert after_reset < 50
