"""The hand-off HTTP server: a small asyncio HTTP/1.1 server on its own port.

Why not the WebSocket port: `websockets`' `process_request` answers with one `Response` whose
body is all in memory, so a 4 GB video would be 4 GB of RAM. Why not aiohttp: a whole web
framework for two GET routes. This serves GET and HEAD only, one request per connection
(`Connection: close`; players open a new one per range), and streams files in chunks read
off the event loop, so memory stays flat whatever the file size.

    GET /h/<token>            the page (a <video> with the passenger's name)
    GET /h/<token>/video.mp4  the video, with `Range` (206 / 416)

Anything else, and any unknown, revoked or expired token, is the same bare 404.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from http import HTTPStatus
from typing import BinaryIO
from urllib.parse import quote, unquote, urlsplit

from app.handoff.links import HandoffLinks, LinkInfo
from app.handoff.page import CONTENT_SECURITY_POLICY, handoff_page
from app.handoff.ranges import UnsatisfiableRange, parse_range

log = logging.getLogger(__name__)

MAX_HEAD = 16 * 1024
MAX_HEADERS = 100
HEAD_TIMEOUT_S = 15.0
CHUNK = 256 * 1024
VIDEO_NAME = "video.mp4"


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value
    remote: str | None


class BadRequest(ValueError):
    pass


def parse_head(head: bytes, remote: str | None) -> HttpRequest:
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError as exc:  # pragma: no cover - latin-1 decodes every byte
        raise BadRequest("undecodable request") from exc
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest("malformed request line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest("malformed header")
        headers[name.lower()] = value.strip()
        if len(headers) > MAX_HEADERS:
            raise BadRequest("too many headers")
    return HttpRequest(parts[0], parts[1], headers, remote)


class HandoffHttpServer:
    def __init__(self, links: HandoffLinks, host: str, port: int) -> None:
        self.links = links
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def bound_port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, limit=MAX_HEAD)

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()  # a phone may hold a download open; the station is stopping
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._one_request(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away: nothing to answer
        except Exception:
            log.exception("hand-off request failed")
        finally:
            self._connections.discard(task)
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, asyncio.CancelledError):
                pass

    async def _one_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        remote = str(peer[0]) if peer else None
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_S)
            request = parse_head(head[:-4], remote)
        except (asyncio.LimitOverrunError, ValueError):
            await _answer(writer, HTTPStatus.BAD_REQUEST, b"bad request\n")
            return
        except TimeoutError:
            return
        if request.method not in ("GET", "HEAD"):
            await _answer(writer, HTTPStatus.METHOD_NOT_ALLOWED, b"GET or HEAD only\n", {"Allow": "GET, HEAD"})
            return
        token, what = _route(request.path)
        link = await self.links.active(token) if token else None
        if link is None or what not in ("page", "video"):
            await _answer(writer, HTTPStatus.NOT_FOUND, b"not found\n", head_only=request.method == "HEAD")
            return
        if what == "page":
            body = handoff_page(link.passenger_name, f"/h/{link.token}/{VIDEO_NAME}", link.video_path.name)
            await _answer(writer, HTTPStatus.OK, body, {"Content-Type": "text/html; charset=utf-8",
                                                        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
                                                        "Referrer-Policy": "no-referrer"},
                          head_only=request.method == "HEAD")
            return
        await self._send_video(request, link, writer)

    async def _send_video(self, request: HttpRequest, link: LinkInfo, writer: asyncio.StreamWriter) -> None:
        try:
            file = await asyncio.to_thread(open, link.video_path, "rb")
        except OSError:
            await _answer(writer, HTTPStatus.NOT_FOUND, b"not found\n")  # the video was moved or deleted
            return
        counter = _Counter()
        status = HTTPStatus.OK
        range_header = request.headers.get("range")
        try:
            size = os.fstat(file.fileno()).st_size  # the file being sent, even if replaced meanwhile
            try:
                span = parse_range(range_header, size)
            except UnsatisfiableRange:
                status = HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE
                await _answer(writer, status, b"", {"Content-Range": f"bytes */{size}"})
                return
            start, end = span if span is not None else (0, size - 1)
            headers = {"Content-Type": "video/mp4", "Accept-Ranges": "bytes",
                       "Content-Disposition": _disposition(link.video_path.name)}
            if span is not None:
                status = HTTPStatus.PARTIAL_CONTENT
                headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            length = end - start + 1 if size else 0
            writer.write(_head(status, length, headers))
            await writer.drain()
            if request.method == "HEAD":
                return
            await _stream(file, writer, start, length, counter)
        finally:
            await asyncio.to_thread(file.close)
            if request.method == "GET":  # also when the phone hung up mid-way: what it got is recorded
                await self._record(link, request, status, counter.sent)

    async def _record(self, link: LinkInfo, request: HttpRequest, status: int, sent: int) -> None:
        try:
            await self.links.record_download(link.id, remote_address=request.remote,
                                             range_header=request.headers.get("range"), status=int(status),
                                             bytes_sent=sent)
        except Exception:  # noqa: BLE001 - the download itself went through
            log.exception("cannot record a download of hand-off link %s", link.id)


@dataclass
class _Counter:
    sent: int = 0


async def _stream(file: BinaryIO, writer: asyncio.StreamWriter, start: int, length: int, counter: _Counter) -> None:
    """Send `length` bytes from `start`, one chunk in memory at a time, counting what went out."""
    def read(offset: int, count: int) -> bytes:
        file.seek(offset)
        return file.read(count)

    while counter.sent < length:
        chunk = await asyncio.to_thread(read, start + counter.sent, min(CHUNK, length - counter.sent))
        if not chunk:
            break  # the file shrank under us: the client sees a short body and retries
        writer.write(chunk)
        await writer.drain()
        counter.sent += len(chunk)


def _route(target: str) -> tuple[str, str]:
    """(token, "page" | "video" | "") for a request target."""
    parts = unquote(urlsplit(target).path).split("/")
    if len(parts) == 3 and parts[1] == "h":
        return parts[2], "page"
    if len(parts) == 4 and parts[1] == "h" and parts[3] == VIDEO_NAME:
        return parts[2], "video"
    return "", ""


def _disposition(name: str) -> str:
    """The file name a download is saved under: ASCII for old clients, UTF-8 (RFC 6266) for the rest."""
    plain = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
    return f"inline; filename=\"{plain}\"; filename*=UTF-8''{quote(name)}"


def _head(status: HTTPStatus, length: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status.value} {status.phrase}", f"Content-Length: {length}", "Cache-Control: no-store",
             "X-Content-Type-Options: nosniff", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _answer(writer: asyncio.StreamWriter, status: HTTPStatus, body: bytes,
                  headers: dict[str, str] | None = None, *, head_only: bool = False) -> None:
    headers = {"Content-Type": "text/plain; charset=utf-8", **(headers or {})}
    writer.write(_head(status, len(body), headers) + (b"" if head_only else body))
    await writer.drain()

