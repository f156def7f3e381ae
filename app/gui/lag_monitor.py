"""How late the shared event loop wakes up: the figure behind "the window never freezes"."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque


class LagMonitor:
    """Sleeps `interval_s` again and again and records how much later than asked it woke."""

    def __init__(self, interval_s: float = 0.02) -> None:
        self.interval_s = interval_s
        # Bounded: the window runs for days; the worst figure is kept apart.
        self.samples: deque[float] = deque(maxlen=10_000)
        self.worst_s = 0.0
        self._generation = 0  # bumped by reset(): a sleep begun before it does not count
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._watch(), name="loop-lag-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def reset(self) -> None:
        self.samples.clear()
        self.worst_s = 0.0
        self._generation += 1

    @property
    def max_ms(self) -> float:
        return 1000 * self.worst_s

    def percentile_ms(self, fraction: float) -> float:
        if not self.samples:
            return 0.0
        ordered = sorted(self.samples)
        return 1000 * ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    async def _watch(self) -> None:
        while True:
            # Wall clock, not loop.time(): the lag is what a person at the desk would feel.
            before, generation = time.perf_counter(), self._generation
            await asyncio.sleep(self.interval_s)
            if generation != self._generation:
                continue
            lag = max(0.0, time.perf_counter() - before - self.interval_s)
            self.samples.append(lag)
            self.worst_s = max(self.worst_s, lag)
