"""Who blocks the event loop: a watchdog thread notes the loop thread's stack whenever the loop
has not ticked for a while, so a lag figure over the limit comes with its culprit."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import traceback
from collections import Counter


class StallWatch:
    def __init__(self, threshold_s: float = 0.04) -> None:
        self.threshold_s = threshold_s
        self.stacks: Counter[str] = Counter()
        self._beat = time.perf_counter()
        self._stop = threading.Event()
        self._loop_thread = threading.get_ident()
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._tick()
        threading.Thread(target=self._watch, name="stall-watch", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        if self._handle is not None:
            self._handle.cancel()

    def _tick(self) -> None:
        self._beat = time.perf_counter()
        self._handle = asyncio.get_running_loop().call_later(0.005, self._tick)

    def _watch(self) -> None:
        while not self._stop.wait(0.01):
            if time.perf_counter() - self._beat > self.threshold_s:
                frame = sys._current_frames().get(self._loop_thread)
                if frame is not None:
                    stack = "".join(traceback.format_stack(frame)[-8:])
                    self.stacks[stack] += 1

    def report(self, top: int = 5) -> str:
        return "\n".join(f"--- seen {count} times (every 10 ms of a stall) ---\n{stack}"
                         for stack, count in self.stacks.most_common(top))
