"""What Detector and UI sessions share: the hello handshake, an ordered outbox, closing with a code."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from app.net.bounds import log_peer
from app.net.context import NetContext
from app.net.server import close_soon
from app.net.protocol import (
    CLOSE_HELLO_TIMEOUT,
    INTERNAL,
    CloseConnection,
    Message,
    Phase,
    ProtocolError,
    Role,
    SessionMachine,
    encode,
    welcome,
)
from app.version import __version__

log = logging.getLogger(__name__)

_CLOSE = object()  # outbox marker: close after everything queued before it was sent
MAX_OUTBOX = 20_000  # messages queued for one peer (UI clients drop events well before this)
# Bytes queued for one peer that does not read: errors before hello, everything after it.
MAX_QUEUED_BEFORE_HELLO = 64 * 1024
MAX_QUEUED_BYTES = 16 * 1024 * 1024
CLOSE_POLICY = 1008


class Connection:
    """One WebSocket connection. Every outgoing message goes through one queue, so replies,
    copy requests and events leave in the order they were produced and no sender blocks."""

    role: Role

    def __init__(self, service: NetContext, ws: ServerConnection) -> None:
        self.service = service
        self.ws = ws
        self.machine = SessionMachine(self.role, service.settings.token, service.settings.chunk_size)
        self._outbox: asyncio.Queue[Any] = asyncio.Queue()
        self._queued_bytes = 0  # text waiting in the outbox
        self._sender: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None  # closes at once a peer that does not read
        self.closing = False
        # While the session waits for the peer's next frame, closing it stops that wait at once
        # (see _next_frame): a replaced Detector's partial file is let go without waiting for
        # its close handshake, which a vanished peer never completes.
        self._serving: asyncio.Task[Any] | None = None
        self._in_recv = False
        self._stop_reading = False
        self.peer = "%s:%s" % (ws.remote_address[:2] if ws.remote_address else ("?", "?"))

    # -- sending --------------------------------------------------------------------------
    def send(self, message: dict[str, Any]) -> None:
        if self.closing:
            return
        text = encode(message)
        limit = MAX_QUEUED_BYTES if self.machine.phase is not Phase.AWAITING_HELLO else MAX_QUEUED_BEFORE_HELLO
        if self._outbox.qsize() >= MAX_OUTBOX or self._queued_bytes + len(text) > limit:
            # The peer sends but does not read: drop it rather than hold its answers forever.
            log_peer(log, logging.WARNING, "%s %s does not read its messages; closing it", self.role, self.peer)
            self._mark_closing()
            self._outbox.put_nowait((_CLOSE, CLOSE_POLICY, "not reading"))  # ends the sender once all went out
            self._closer = close_soon(self.ws, CLOSE_POLICY, "not reading")
            return
        self._queued_bytes += len(text)
        self._outbox.put_nowait(text)

    def send_error(self, error: ProtocolError) -> None:
        log_peer(log, logging.INFO, "%s %s: %s %s", self.role, self.peer, error.code, error.message)
        self.send(error.envelope())

    def close(self, code: int, reason: str) -> None:
        """Close after what is already queued went out."""
        if not self.closing:
            self._outbox.put_nowait((_CLOSE, code, reason))
            self._mark_closing()

    def _mark_closing(self) -> None:
        self.closing = True
        if self._in_recv and self._serving is not None and not self._stop_reading:
            self._stop_reading = True
            self._serving.cancel()  # taken back in _next_frame; recv() is cancellation-safe

    def outbox_size(self) -> int:
        return self._outbox.qsize()

    def outbox_bytes(self) -> int:
        return self._queued_bytes

    async def _send_loop(self) -> None:
        try:
            while True:
                item = await self._outbox.get()
                if isinstance(item, tuple) and item[0] is _CLOSE:
                    await self.ws.close(item[1], item[2])
                    return
                self._queued_bytes -= len(item)
                await self.ws.send(item)
        except ConnectionClosed:
            pass

    # -- lifecycle ------------------------------------------------------------------------
    async def serve(self) -> None:
        self._sender = asyncio.create_task(self._send_loop(), name=f"send {self.peer}")
        try:
            try:
                hello = await asyncio.wait_for(self._handshake(), self.service.hello_timeout)
            except TimeoutError:
                log_peer(log, logging.INFO, "%s %s sent no hello within %.0f s", self.role, self.peer,
                         self.service.hello_timeout)
                self.close(CLOSE_HELLO_TIMEOUT, "no hello in time")
                return
            if hello is None or self.closing:
                return
            self.service.authenticated(self.ws)
            reply = welcome(self.service.settings.station_id, __version__, self.service.settings.chunk_size)
            if hello.id is not None:
                reply["data"]["ref"] = hello.id
            self.send(reply)
            await self.on_hello(hello)
            self._serving = asyncio.current_task()
            while (frame := await self._next_frame()) is not None:
                if isinstance(frame, str):
                    await self._text(frame)
                else:
                    await self._binary(frame)
        except CloseConnection as close:
            self._close_for(close)
        except ConnectionClosed:
            pass
        finally:
            try:
                await self.on_closed()
            finally:
                await self._finish_sending()

    async def _next_frame(self) -> str | bytes | None:
        """The peer's next frame, or None once this connection is closing (what it sends after
        that is not acted on; the close handshake finishes in the sender)."""
        if self.closing:
            return None
        self._in_recv = True
        try:
            return await self.ws.recv()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self._stop_reading and task is not None and task.uncancel() == 0:
                return None  # our own stop (see _mark_closing), not the station shutting down
            raise
        finally:
            self._in_recv = False

    async def _handshake(self) -> Message | None:
        while self.machine.phase is Phase.AWAITING_HELLO:
            try:
                frame = await self.ws.recv()
            except ConnectionClosed:
                return None
            try:
                if isinstance(frame, str):
                    return self.machine.receive_text(frame)
                self.machine.receive_binary(len(frame))
            except ProtocolError as error:
                self.send_error(error)
            except CloseConnection as close:
                self._close_for(close)
                return None
        return None

    async def _text(self, frame: str) -> None:
        try:
            message = self.machine.receive_text(frame)
        except ProtocolError as error:
            self.send_error(error)
            return
        try:
            await self.on_message(message)
        except ProtocolError as error:
            if error.ref is None:
                error.ref = message.id
            self.send_error(error)
        except (ConnectionClosed, asyncio.CancelledError):
            raise
        except Exception:  # a station bug must not end the peer's session: say so, keep serving
            log.exception("%s %s: handling %s failed", self.role, self.peer, message.type)
            self.send_error(ProtocolError(INTERNAL, f"the station failed to handle {message.type}", message.id))

    async def _binary(self, frame: bytes) -> None:
        try:
            await self.on_binary(frame)
        except ProtocolError as error:  # e.g. a binary frame on /ui: answered, the connection stays
            self.send_error(error)

    def _close_for(self, close: CloseConnection) -> None:
        if close.error is not None:
            self.send_error(close.error)
        log_peer(log, logging.INFO, "closing %s %s: %d %s", self.role, self.peer, close.code, close.reason)
        self.close(close.code, close.reason)

    async def _finish_sending(self) -> None:
        if self._sender is None:
            return
        if not self.closing:
            self.close(1000, "")
        try:
            await asyncio.wait_for(self._sender, 10)
        except (TimeoutError, ConnectionClosed):
            self._sender.cancel()

    # -- for subclasses -------------------------------------------------------------------
    async def on_hello(self, hello: Message) -> None:
        """The peer is authenticated; its welcome is queued."""

    async def on_message(self, message: Message) -> None:
        raise NotImplementedError

    async def on_binary(self, frame: bytes) -> None:
        self.machine.receive_binary(len(frame))

    async def on_closed(self) -> None:
        """The connection is over (closed by either side)."""
