"""The listening socket: routes WebSocket paths to session handlers and answers plain HTTP.

Routes are registered by the parts that own them (`/detector`, `/ui`, `GET /health`,
`GET /api/...`); anything else is an HTTP 404. WebSocket connections are admitted by
`Admission` (caps in total, per address, before hello); until a peer said hello with the token
its messages are held to `max_hello_message` bytes.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response
from websockets.protocol import State

from app.net.admission import Admission
from app.net.bounds import log_peer
from app.net.http import error_response
from app.net.protocol import MAX_HELLO_BYTES

log = logging.getLogger(__name__)

SocketHandler = Callable[[ServerConnection], Awaitable[None]]
# Called with (request, query string); returns the HTTP answer.
HttpHandler = Callable[[Request, str], Awaitable[Response] | Response]

MAX_TEXT_MESSAGE = 4 * 1024 * 1024
MAX_HELLO_MESSAGE = MAX_HELLO_BYTES  # any message before the peer said hello with the token
MAX_QUEUED_FRAMES = 16  # frames read ahead per connection; then the socket is not read
WRITE_LIMIT = 64 * 1024  # bytes buffered for sending before a sender waits for the peer
OPEN_TIMEOUT_S = 5.0  # for the HTTP upgrade; the protocol's hello timeout follows it
CLOSE_TIMEOUT_S = 5.0  # a peer that does not answer our close frame is cut off after this
CLOSE_TRY_LATER = 1013


class StationConnection(ServerConnection):
    """Stops reading a peer without the token once it is being closed: the rest of a 4 MB
    message cut off at its header is left unread (reading it away stalled the event loop under
    a flood); the close timeout then drops the connection."""

    trusted = False

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self.trusted and self.protocol.state in (State.CLOSING, State.CLOSED):
            self.transport.pause_reading()


class StationServer:
    def __init__(self, host: str, port: int, *, max_message: int = MAX_TEXT_MESSAGE,
                 max_hello_message: int = MAX_HELLO_MESSAGE, tls: ssl.SSLContext | None = None) -> None:
        self.host = host
        self.tls = tls  # wss:// and https:// when set (setting `tls`)
        self.port = port
        self.max_message = max_message  # after hello
        self.max_hello_message = max_hello_message
        self.admission = Admission()
        self._sockets: dict[str, SocketHandler] = {}
        self._http: dict[str, HttpHandler] = {}
        self._server: Server | None = None
        self._closing: set[asyncio.Task[None]] = set()

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
            ssl=self.tls,
            # A peer stalling its TLS handshake is held no longer than one stalling its upgrade.
            ssl_handshake_timeout=OPEN_TIMEOUT_S if self.tls is not None else None,
            create_connection=StationConnection,
            # Small until the peer said hello: a peer without the token cannot make the
            # station read (and hold) megabytes; `authenticated()` raises it.
            max_size=self.max_hello_message,
            max_queue=MAX_QUEUED_FRAMES,
            write_limit=WRITE_LIMIT,
            open_timeout=OPEN_TIMEOUT_S,
            close_timeout=CLOSE_TIMEOUT_S,
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
            refusal = self.admission.refusal(_address(connection))
            if refusal is not None:  # refused before the handshake: cheap for both sides
                log_peer(log, logging.INFO, "refused %s: %s", _address(connection), refusal)
                return error_response(HTTPStatus.SERVICE_UNAVAILABLE, refusal)
            return None  # go on with the WebSocket handshake
        if not upgrade and split.path in self._http:
            result = self._http[split.path](request, split.query)
            return await result if isinstance(result, Awaitable) else result
        return error_response(HTTPStatus.NOT_FOUND, f"no such path: {split.path}")

    async def _dispatch(self, connection: ServerConnection) -> None:
        assert connection.request is not None  # the handler runs after the opening handshake
        path = urlsplit(connection.request.path).path
        refusal = self.admission.enter(connection, _address(connection), lambda: self._evict(connection))
        if refusal is not None:  # filled up during the handshake
            await connection.close(CLOSE_TRY_LATER, refusal)
            return
        try:
            await self._sockets[path](connection)
        finally:
            self.admission.leave(connection)
            # websockets closes it next; a peer that does not read would hold that close forever.
            asyncio.get_running_loop().call_later(CLOSE_TIMEOUT_S, _drop, connection)

    def authenticated(self, connection: ServerConnection) -> None:
        """The peer said hello with the token: it may send the protocol's full message size."""
        self.admission.authenticated(connection)
        connection.protocol.max_message_size = self.max_message
        if isinstance(connection, StationConnection):
            connection.trusted = True

    def _evict(self, connection: ServerConnection) -> None:
        log_peer(log, logging.INFO, "closing %s: too many connections waiting for hello", _address(connection))
        task = close_soon(connection, CLOSE_TRY_LATER, "too many connections waiting for hello")
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


def close_soon(connection: ServerConnection, code: int, reason: str) -> asyncio.Task[None]:
    """Close with `code`, and drop the TCP connection if that has not finished within the close
    timeout: to a peer that does not read, the close frame never gets out (websockets waits for
    its write buffer to drain without a deadline)."""
    loop = asyncio.get_running_loop()
    deadline = loop.call_later(CLOSE_TIMEOUT_S, _drop, connection)
    task = loop.create_task(connection.close(code, reason))
    task.add_done_callback(lambda _task: deadline.cancel())
    return task


def _drop(connection: ServerConnection) -> None:
    if connection.protocol.state is not State.CLOSED and connection.transport is not None:
        connection.transport.abort()


def _address(connection: ServerConnection) -> str:
    remote = connection.remote_address
    return str(remote[0]) if remote else "?"
