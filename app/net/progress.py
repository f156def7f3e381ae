"""`transfer:progress` pacing: at most 4 events a second per file, and the last one always.

Intermediate events are at least 1/3 s apart, so any one-second window holds at most three of
them, and the final event (bytes == total) can go out at once without breaking the limit of 4.
"""

from __future__ import annotations

MIN_INTERVAL_S = 1 / 3


class ProgressGate:
    """Decides whether an intermediate progress event of one file may go out (no clock of its own)."""

    def __init__(self, interval: float = MIN_INTERVAL_S) -> None:
        self.interval = interval
        self._last: float | None = None

    def allow(self, now: float) -> bool:
        if self._last is None or now - self._last >= self.interval:
            self._last = now
            return True
        return False
