"""Peer input never grows the station's answers or logs: what a peer sent is cut before it goes
into an error text or a log line, and peer-caused log lines are rate-limited, so a flood of bad
messages costs a few hundred bytes per answer and cannot rotate the real logs away."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

MAX_ERROR_TEXT = 500  # characters of one `error` message, whatever the input
MAX_SHOWN = 80  # characters of one peer value quoted in an error or a log line
MAX_LISTED = 3  # unexpected fields named in one error
LOG_BURST = 200  # peer-caused log lines allowed at once ...
LOG_RATE = 20.0  # ... and refilled per second


def clip(text: str, limit: int = MAX_ERROR_TEXT) -> str:
    """`text` cut to about `limit` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


def shown(value: Any, limit: int = MAX_SHOWN) -> str:
    """A peer's value quoted for a message; strings are cut before quoting (no repr of 4 MiB)."""
    if isinstance(value, str):
        return repr(value[:limit]) + ("…" if len(value) > limit else "")
    if isinstance(value, (int, float, bool)) or value is None:
        return clip(repr(value), limit)
    return type(value).__name__  # lists and objects: their kind, never their content


def listed(values: Iterable[Any], limit: int = MAX_LISTED) -> str:
    """At most `limit` values quoted, then how many more: "'a', 'b', 'c' and 997 more"."""
    values = list(values)
    head = ", ".join(shown(v, 40) for v in values[:limit])
    return head if len(values) <= limit else f"{head} and {len(values) - limit} more"


class LogBudget:
    """A token bucket for log lines caused by peers; says how many were dropped when it refills."""

    def __init__(self, burst: int = LOG_BURST, rate: float = LOG_RATE) -> None:
        self.burst = burst
        self.rate = rate
        self._tokens = float(burst)
        self._at = time.monotonic()
        self._dropped = 0
        self._lock = threading.Lock()

    def take(self) -> tuple[bool, int]:
        """(may log, lines dropped since the last line logged)."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens < 1:
                self._dropped += 1
                return False, 0
            self._tokens -= 1
            dropped, self._dropped = self._dropped, 0
            return True, dropped


_BUDGET = LogBudget()


def log_peer(logger: logging.Logger, level: int, fmt: str, *args: Any) -> None:
    """Log a line about a peer's input: string arguments cut, lines rate-limited."""
    if not logger.isEnabledFor(level):
        return
    allowed, dropped = _BUDGET.take()
    if not allowed:
        return
    if dropped:
        logger.warning("%d log lines about peers were not written (too many)", dropped)
    logger.log(level, fmt, *(clip(a, MAX_ERROR_TEXT) if isinstance(a, str) else a for a in args))
