"""The listening socket: routes WebSocket paths to session handlers and answers plain HTTP.

Routes are registered by the parts that own them (`/detector`, `/ui`, `GET /health`,
`GET /api/...`); anything else is an HTTP 404.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from app.net.http import error_response

log = logging.getLogger(__name__)

SocketHandler = Callable[[ServerConnection], Awaitable[None]]
# Called with (request, query string); returns the HTTP answer.
HttpHandler = Callable[[Request, str], Awaitable[Response] | Response]

MAX_TEXT_MESSAGE = 4 * 1024 * 1024


class StationServer:
    def __init__(self, host: str, port: int, *, max_message: int = MAX_TEXT_MESSAGE) -> None:
        self.host = host
        self.port = port
        self.max_message = max_message
        self._sockets: dict[str, SocketHandler] = {}
        self._http: dict[str, HttpHandler] = {}
        self._server: Server | None = None

    def websocket(self, path: str, handler: SocketHandler) -> None:
        self._sockets[path] = handler

    def http_get(self, path: str, handler: HttpHandler) -> None:
        self._http[path] = handler

    @property
    def bound_port(self) -> int:
        """The real port (useful with --port 0 in tests)."""
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        self._server = await serve(
            self._dispatch,
            self.host,
            self.port,
            process_request=self._process_request,
            max_size=self.max_message,
            ping_interval=20,
            ping_timeout=20,
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        split = urlsplit(request.path)
        upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
        if upgrade and split.path in self._sockets:
            return None  # go on with the WebSocket handshake
        if not upgrade and split.path in self._http:
            result = self._http[split.path](request, split.query)
            return await result if isinstance(result, Awaitable) else result
        return error_response(HTTPStatus.NOT_FOUND, f"no such path: {split.path}")

    async def _dispatch(self, connection: ServerConnection) -> None:
        assert connection.request is not None  # the handler runs after the opening handshake
        path = urlsplit(connection.request.path).path
        await self._sockets[path](connection)
