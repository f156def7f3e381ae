"""`transfer:progress` pacing: at most 4 events a second per file, and the last one always."""

from __future__ import annotations

MIN_INTERVAL_S = 0.25


class ProgressGate:
    """Decides when the next progress event of one file may go out (plain data, no clock)."""

    def __init__(self, interval: float = MIN_INTERVAL_S) -> None:
        self.interval = interval
        self._last: float | None = None

    def allow(self, now: float) -> bool:
        if self._last is None or now - self._last >= self.interval:
            self._last = now
            return True
        return False

    def delay_for_last(self, now: float) -> float:
        """Seconds to wait before the final event so it keeps the pace (0: send it now)."""
        if self._last is None:
            self._last = now
            return 0.0
        wait = max(0.0, self._last + self.interval - now)
        self._last = now + wait
        return wait
