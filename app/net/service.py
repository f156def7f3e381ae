"""The Detector link as a station service: routes on the station's server, the Detector registry,
the calls into the orchestrator and the engine, and `GET /api/executions`."""

from __future__ import annotations

import asyncio
import hmac
import logging
from http import HTTPStatus
from pathlib import Path
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from app.net.admission import Admission, Limits
from app.net.detector_session import DetectorSession
from app.net.http import error_response, json_response
from app.net.link import DetectorLink
from app.net.errors import refusal_error
from app.net.orchestration import EnginePort, OrchestratorPort
from app.net.protocol import (
    CONFLICT,
    DEFAULT_LIST_LIMIT,
    HELLO_TIMEOUT_S,
    INTERNAL,
    MAX_LIST_LIMIT,
    MAX_TEXT_BYTES,
    ProtocolError,
    day,
)
from app.net.ui_session import UiSession
from app.refusals import Refused

if TYPE_CHECKING:
    from app.station import Station

log = logging.getLogger(__name__)

T = TypeVar("T")

# How long an upload waits for the previous writer of its partial file (a replaced connection
# closing it). Short: the wait holds up this session's read loop.
PARTIAL_LOCK_WAIT_S = 2.0


class NetService:
    def __init__(self, station: Station) -> None:
        self.station = station
        self.settings = station.settings
        self.bus = station.bus
        self.link: DetectorLink = station.link
        self.hello_timeout = HELLO_TIMEOUT_S
        self._partial_locks: dict[Path, asyncio.Lock] = {}
        self._partial_users: dict[Path, int] = {}  # holders and waiters of each lock

    def install(self) -> None:
        server = self.station.server
        assert server is not None, "the station's server is created before its services"
        # Binary frames may be as large as chunk_size; text is held to 4 MiB by SessionMachine.
        server.max_message = max(MAX_TEXT_BYTES, self.settings.chunk_size)
        server.admission = Admission(Limits(
            max_connections=self.settings.max_connections,
            max_per_address=self.settings.max_connections_per_address,
            max_before_hello=self.settings.max_connections_before_hello))
        server.websocket("/detector", self._serve_detector)
        server.websocket("/ui", self._serve_ui)
        server.http_get("/api/executions", self._api_executions)
        server.http_get("/api/passengers", self._api_passengers)
        self.station.count_detectors = self.link.count

    def authenticated(self, ws: ServerConnection) -> None:
        """A peer said hello with the token (larger messages allowed, no longer evictable)."""
        server = self.station.server
        if server is not None:
            server.authenticated(ws)

    async def _serve_detector(self, ws: ServerConnection) -> None:
        await DetectorSession(self, ws).serve()

    async def _serve_ui(self, ws: ServerConnection) -> None:
        await UiSession(self, ws).serve()

    # -- the orchestrator ----------------------------------------------------------------
    @property
    def orchestrator(self) -> OrchestratorPort | None:
        return self.station.orchestrator

    async def call_orchestrator(self, what: str, call: Callable[[OrchestratorPort], Awaitable[T]]) -> T:
        """`await call(orchestrator)`; its refusals become protocol errors (`what` names the call in logs)."""
        orchestrator = self.orchestrator
        if orchestrator is None:
            raise ProtocolError(INTERNAL, "the station's pipeline is not running")
        return await _answering(what, call(orchestrator))

    async def tell_orchestrator(self, what: str, call: Callable[[OrchestratorPort], Awaitable[None]]) -> None:
        """A notice the peer needs no answer to: a refusal or failure is only logged."""
        if self.orchestrator is None:
            return
        try:
            await self.call_orchestrator(what, call)
        except ProtocolError as error:
            log.warning("orchestrator %s: %s", what, error.message)

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

    # -- the engine ----------------------------------------------------------------------
    @property
    def engine(self) -> EnginePort | None:
        return self.station.engine

    async def call_engine(self, what: str, call: Callable[[EnginePort], Awaitable[T]]) -> T:
        """`await call(engine)`; its refusals become protocol errors."""
        engine = self.engine
        if engine is None:
            raise ProtocolError(INTERNAL, "the pipeline engine is not running")
        return await _answering(what, call(engine))

    async def list_executions(self, limit: int) -> list[dict[str, Any]]:
        return await self.call_engine("list_executions", lambda engine: engine.list_executions(limit))

    async def _api_executions(self, request: Request, query: str) -> Response:
        if not _bearer_ok(request, self.settings.token):
            return error_response(HTTPStatus.UNAUTHORIZED, "a valid 'Authorization: Bearer <token>' header is required")
        values = parse_qs(query).get("limit", [str(DEFAULT_LIST_LIMIT)])
        try:
            limit = int(values[-1])
            if not 1 <= limit <= MAX_LIST_LIMIT:
                raise ValueError
        except ValueError:
            return error_response(HTTPStatus.BAD_REQUEST, f"limit must be an integer 1..{MAX_LIST_LIMIT}")
        try:
            executions = await self.list_executions(limit)
        except ProtocolError as exc:
            return error_response(HTTPStatus.SERVICE_UNAVAILABLE, exc.message)
        return json_response(HTTPStatus.OK, {"executions": executions})

    async def _api_passengers(self, request: Request, query: str) -> Response:
        """`GET /api/passengers?day=YYYY-MM-DD`: the same JSON as `passengers:list_result`."""
        if not _bearer_ok(request, self.settings.token):
            return error_response(HTTPStatus.UNAUTHORIZED, "a valid 'Authorization: Bearer <token>' header is required")
        given = parse_qs(query).get("day", [""])[-1]
        try:
            wanted = day("day", given)
        except ValueError as exc:
            return error_response(HTTPStatus.BAD_REQUEST, str(exc))
        orchestrator = self.orchestrator
        if orchestrator is None:
            return error_response(HTTPStatus.SERVICE_UNAVAILABLE, "the station's pipeline is not running")
        return json_response(HTTPStatus.OK, await orchestrator.passengers(wanted))


async def _answering(what: str, work: Awaitable[T]) -> T:
    """A refusal (app.refusals) is answered with its code; anything else is the station's own
    failure: logged, answered `internal` (never `conflict`: a bug is not the peer's doing)."""
    try:
        return await work
    except ProtocolError:
        raise
    except Refused as exc:
        raise refusal_error(exc) from exc
    except Exception as exc:
        log.exception("%s failed", what)
        raise ProtocolError(INTERNAL, f"{what} failed: {exc.__class__.__name__}") from exc


def _bearer_ok(request: Request, token: str) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and bool(token) and hmac.compare_digest(given.strip().encode(), token.encode())
