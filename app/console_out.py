"""The headless station's console lines, written by a thread of their own.

A terminal paused with Ctrl-S, a console window whose text is being selected, or a pipe nobody
reads stops a write to stdout until it drains: written from the event loop, that would stop the
whole station (uploads, steps, the Detectors' heartbeats) with it. Lines wait here instead, up
to a bound; past it the oldest are dropped and the console says how many it missed. The log
file keeps every line either way.
"""

from __future__ import annotations

import collections
import threading
from typing import TextIO

MAX_WAITING_LINES = 10_000


class ConsoleOut:
    """`line(text)` never blocks; `close()` writes what waits (within `timeout_s`) and ends the thread."""

    def __init__(self, out: TextIO, max_waiting: int = MAX_WAITING_LINES) -> None:
        self.out = out
        self._waiting: collections.deque[str] = collections.deque()
        self._max_waiting = max_waiting
        self._dropped = 0
        self._closing = False
        self._ready = threading.Condition()
        self._thread = threading.Thread(target=self._write_lines, name="console-out", daemon=True)
        self._thread.start()

    def line(self, text: str) -> None:
        with self._ready:
            if len(self._waiting) >= self._max_waiting:
                self._waiting.popleft()
                self._dropped += 1
            self._waiting.append(text)
            self._ready.notify()

    def close(self, timeout_s: float = 2.0) -> None:
        with self._ready:
            self._closing = True
            self._ready.notify()
        self._thread.join(timeout_s)

    def _write_lines(self) -> None:
        while True:
            with self._ready:
                while not self._waiting and not self._closing:
                    self._ready.wait()
                if not self._waiting:
                    return
                lines, self._waiting = list(self._waiting), collections.deque()
                dropped, self._dropped = self._dropped, 0
            text = "".join(f"{line}\n" for line in lines)
            if dropped:
                text = f"… {dropped} console lines not shown (the console was not being read; the log has them)\n" + text
            try:
                self.out.write(text)
                self.out.flush()
            except (OSError, ValueError):
                return  # the console is gone (closed pipe, closed file): the log still has every line
