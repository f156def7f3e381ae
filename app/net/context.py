"""What a protocol session works with, given up front by the station: its settings, the event
bus, the Detector registry, the server (for the hello), the orchestrator and the engine (their
ports), and the one-writer rule for partial files. Sessions import this, never the station."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from websockets.asyncio.server import ServerConnection

from app.config import Settings
from app.events import EventBus
from app.net.errors import refusal_error
from app.net.link import DetectorLink
from app.net.orchestration import EnginePort, OrchestratorPort
from app.net.protocol import CONFLICT, HELLO_TIMEOUT_S, INTERNAL, ProtocolError
from app.net.server import StationServer
from app.refusals import Refused

log = logging.getLogger(__name__)

T = TypeVar("T")
P = TypeVar("P")

# How long an upload waits for the previous writer of its partial file (a replaced connection
# closing it). Short: the wait holds up this session's read loop.
PARTIAL_LOCK_WAIT_S = 2.0


class NetContext:
    def __init__(self, *, settings: Settings, bus: EventBus, link: DetectorLink, server: StationServer,
                 orchestrator: OrchestratorPort, engine: EnginePort) -> None:
        self.settings = settings
        self.bus = bus
        self.link = link
        self.server = server
        self.orchestrator = orchestrator
        self.engine = engine
        self.hello_timeout = HELLO_TIMEOUT_S
        self._partial_locks: dict[Path, asyncio.Lock] = {}
        self._partial_users: dict[Path, int] = {}  # holders and waiters of each lock

    def authenticated(self, ws: ServerConnection) -> None:
        """A peer said hello with the token (larger messages allowed, no longer evictable)."""
        self.server.authenticated(ws)

    # -- the orchestrator and the engine -------------------------------------------------
    async def call_orchestrator(self, what: str, call: Callable[[OrchestratorPort], Awaitable[T]]) -> T:
        """`await call(orchestrator)`; its refusals become protocol errors (`what` names the call in logs)."""
        return await _answering(what, call, self.orchestrator)

    async def tell_orchestrator(self, what: str, call: Callable[[OrchestratorPort], Awaitable[None]]) -> None:
        """A notice the peer needs no answer to: a refusal or failure is only logged."""
        try:
            await self.call_orchestrator(what, call)
        except ProtocolError as error:
            log.warning("orchestrator %s: %s", what, error.message)

    async def call_engine(self, what: str, call: Callable[[EnginePort], Awaitable[T]]) -> T:
        """`await call(engine)`; its refusals become protocol errors."""
        return await _answering(what, call, self.engine)

    async def list_executions(self, limit: int) -> list[dict[str, Any]]:
        return await self.call_engine("list_executions", lambda engine: engine.list_executions(limit))

    # -- files ---------------------------------------------------------------------------
    def confine(self, path: Any) -> Path:
        """A path the orchestrator handed out, checked to be inside the library or the data folder."""
        resolved = Path(path).resolve()
        for root in (self.settings.library, self.settings.data_dir):
            if resolved.is_relative_to(Path(root).resolve()):
                return resolved
        log.error("orchestrator handed out %s, outside the library and data folders", path)
        raise ProtocolError(INTERNAL, "the station cannot store this file")

    async def lock_partial(self, partial: Path) -> None:
        """One writer per partial file (a replaced connection may still be closing it)."""
        lock = self._partial_locks.setdefault(partial, asyncio.Lock())
        self._partial_users[partial] = self._partial_users.get(partial, 0) + 1
        try:
            await asyncio.wait_for(lock.acquire(), PARTIAL_LOCK_WAIT_S)
        except TimeoutError:
            self._forget_partial(partial)
            raise ProtocolError(CONFLICT, "this file is being written by another connection; "
                                "send sd:upload_begin again later") from None

    def unlock_partial(self, partial: Path) -> None:
        lock = self._partial_locks.get(partial)
        if lock is not None and lock.locked():
            lock.release()
            self._forget_partial(partial)

    def _forget_partial(self, partial: Path) -> None:
        users = self._partial_users.get(partial, 0) - 1
        if users > 0:
            self._partial_users[partial] = users
        else:  # nobody holds or waits for it: drop the lock so the table stays small
            self._partial_users.pop(partial, None)
            self._partial_locks.pop(partial, None)


async def _answering(what: str, call: Callable[[P], Awaitable[T]], port: P) -> T:
    """`await call(port)`. A refusal (app.refusals) is answered with its code; anything else is
    the station's own failure: logged, answered `internal` (never `conflict`: not the peer's doing)."""
    try:
        return await call(port)
    except ProtocolError:
        raise
    except Refused as exc:
        raise refusal_error(exc) from exc
    except Exception as exc:
        log.exception("%s failed", what)
        raise ProtocolError(INTERNAL, f"{what} failed: {exc.__class__.__name__}") from exc
