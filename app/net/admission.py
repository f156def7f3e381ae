"""Who may hold a WebSocket connection: caps in total and per remote address, and room for
peers that have not said `hello` yet.

Peers without the token cost the station little and cannot lock out a real Detector: one
address cannot hold more than its share, and when too many connections wait for their `hello`
the oldest of them is closed to make room (a real Detector says hello within milliseconds,
so it is almost never the oldest).
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_MAX_CONNECTIONS = 256
DEFAULT_MAX_PER_ADDRESS = 32
DEFAULT_MAX_BEFORE_HELLO = 64

Evict = Callable[[], None]


@dataclass(frozen=True)
class Limits:
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_per_address: int = DEFAULT_MAX_PER_ADDRESS
    max_before_hello: int = DEFAULT_MAX_BEFORE_HELLO


class Admission:
    """Counts open WebSocket connections; all calls come from the event loop's thread."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._per_address: Counter[str] = Counter()
        self._open: dict[object, str] = {}  # connection -> its remote address
        self._before_hello: OrderedDict[object, Evict] = OrderedDict()  # oldest first

    def refusal(self, address: str) -> str | None:
        """Why a new connection from `address` is refused now, or None."""
        if len(self._open) >= self.limits.max_connections:
            return "the station has too many connections; try again later"
        if self._per_address[address] >= self.limits.max_per_address:
            return "too many connections from this address; try again later"
        return None

    def enter(self, key: object, address: str, evict: Evict) -> str | None:
        """Count a new connection (it has not said hello); returns a refusal instead when full.

        `evict` closes this connection should it be the oldest one waiting for hello when room
        is needed."""
        refusal = self.refusal(address)
        if refusal is not None:
            return refusal
        self._open[key] = address
        self._per_address[address] += 1
        self._before_hello[key] = evict
        while len(self._before_hello) > self.limits.max_before_hello:
            _oldest, close_it = self._before_hello.popitem(last=False)
            close_it()
        return None

    def authenticated(self, key: object) -> None:
        """The connection said hello with the token: it no longer counts as waiting."""
        self._before_hello.pop(key, None)

    def leave(self, key: object) -> None:
        address = self._open.pop(key, None)
        self._before_hello.pop(key, None)
        if address is None:
            return
        self._per_address[address] -= 1
        if self._per_address[address] <= 0:
            del self._per_address[address]

    @property
    def open_count(self) -> int:
        return len(self._open)

    @property
    def waiting_for_hello(self) -> int:
        return len(self._before_hello)
