"""The reference Detector: connects to the station, lists its cards, serves copy requests.

Speaks docs/protocol.md from the Detector's side, including the additions `range`, `cancel`,
`status` and `wipe`. The station is a peer, not a master: what it sends is checked
(app/detector/station_messages.py) and a message that fails is logged and ignored; shared-path
copies go only inside `--shared-root`; frames and messages are bounded.

Reconnects with backoff when the station goes away (every card is listed again on reconnect,
which resumes waiting imports). Gives up only when the station refuses its token (4401), and,
unless it keeps trying (`--watch`), when another Detector took its id (4409).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import socket
import ssl
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidMessage, InvalidURI

from app.detector import station_messages as incoming
from app.detector.card import Card
from app.detector.discovery import StationNotFound
from app.detector.pinning import Pinning, PinRefused
from app.detector.shared_copy import SharedPathRefused, copy_into_shared_root
from app.detector.sources import CardSource
from app.detector.station_messages import BadStationMessage, CopyEntry, CopyRequest, WipeRequest, shorten
from app.detector.transfer import upload_file
from app.detector.wipe import wipe_card
from app.net.protocol import CLOSE_REPLACED, CLOSE_UNAUTHORIZED, DEFAULT_CHUNK_SIZE, DETECTOR_ID_RE, MAX_TEXT_BYTES
from app.version import __version__

log = logging.getLogger(__name__)

FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 10.0
REPLACED_BACKOFF_S = 5.0  # after 4409: two clones with one id must not take turns in a tight loop
WELCOME_TIMEOUT_S = 15.0
MAX_QUEUED_REQUESTS = 1000  # copy and wipe requests waiting; more are dropped (the station sends again)
MAX_REMEMBERED = 10_000  # cancelled request ids kept
MAX_CARD_STATUSES = 256
REDACTED = "<redacted>"


class StationRefused(RuntimeError):
    """The station will not take this Detector (wrong token, id taken); retrying cannot help."""


def detector_url(station: str) -> str:
    """`ws://HOST:PORT` (or with the path) → the `/detector` endpoint."""
    parts = urlsplit(station if "://" in station else f"ws://{station}")
    if parts.scheme not in ("ws", "wss"):
        raise ValueError(f"--station must be ws://HOST:PORT, got {station!r}")
    return urlunsplit((parts.scheme, parts.netloc, parts.path if parts.path not in ("", "/") else "/detector", "", ""))


def scheme_hint(url: str | None, exc: BaseException) -> str:
    """What to try when the failure looks like one side speaking TLS and the other not."""
    if url is None:
        return ""
    scheme = urlsplit(url).scheme
    if scheme == "ws" and isinstance(exc, InvalidMessage):  # a TLS station answers HTTP with TLS bytes
        return "; if the station has tls on, connect with wss://HOST:PORT and --fingerprint"
    # A plain station answers the TLS hello with HTTP (SSLError), or drops it as a bad request (reset).
    if scheme == "wss" and isinstance(exc, ssl.SSLError | ConnectionResetError):
        return "; if the station has tls off, connect with ws://HOST:PORT"
    return ""


class _Bounded(OrderedDict[str, Any]):
    """Remembers the newest `limit` keys (a station cannot grow the Detector's memory)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def remember(self, key: str, value: Any = True) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


class DetectorAgent:
    def __init__(self, station: str | None, token: str, source: CardSource, *, detector_id: str,
                 name: str | None = None, scan_interval: float = 1.0, trace: TextIO | None = None,
                 shared_root: Path | None = None, keep_trying: bool = False, wipe: bool = True,
                 ranges: bool = True,
                 discover: Callable[[], Awaitable[str]] | None = None, pinning: Pinning | None = None,
                 say: Callable[[str], None] = lambda line: print(line, flush=True)) -> None:
        self.url = detector_url(station) if station else None
        if self.url is None and discover is None:
            raise ValueError("give the station's address (--station) or a way to discover it")
        self.discover = discover
        self.pinning = pinning or Pinning()  # wss:// and the station's certificate (app/detector/pinning.py)
        self.token = token
        self.source = source
        self.detector_id = detector_id
        if not DETECTOR_ID_RE.fullmatch(self.detector_id):
            raise ValueError(f"detector id {self.detector_id!r} must match {DETECTOR_ID_RE.pattern}")
        self.name = name or f"Reference Detector on {socket.gethostname()}"
        self.scan_interval = scan_interval
        self.trace = trace  # every text message in and out, one JSON line each (token redacted)
        self.shared_root = shared_root
        self.keep_trying = keep_trying
        self.wipe_enabled = wipe
        self.ranges = ranges  # announce `range` (off: the station asks only for whole files)
        self.say = say  # what the person at the desk should read ("safe to format")
        self.first_backoff, self.max_backoff, self.replaced_backoff = FIRST_BACKOFF_S, MAX_BACKOFF_S, REPLACED_BACKOFF_S
        self.chunk_size = DEFAULT_CHUNK_SIZE
        self.cards: dict[str, Card] = {}  # listed to the station on this connection
        self.cancelled = _Bounded(MAX_REMEMBERED)
        self.card_status = _Bounded(MAX_CARD_STATUSES)  # card id → the last `sd:card_status` data
        self.connections = 0
        self.replaced = 0  # times the station closed this Detector with 4409

    @property
    def capabilities(self) -> list[str]:
        return ["upload", *(["shared_path"] if self.shared_root else []), *(["range"] if self.ranges else []),
                "cancel", "status", *(["wipe"] if self.wipe_enabled else [])]

    # -- the outer loop -------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        backoff = self.first_backoff
        while not stop.is_set():
            try:
                url = self.url or await self._discovered_url()
                tls = self.pinning.context_for(url)
                async with connect(url, compression=None, max_size=MAX_TEXT_BYTES, open_timeout=10, ssl=tls) as ws:
                    self.pinning.check(ws)
                    if await self._until_closed(ws, stop):
                        return
                    code = ws.close_code
                    if code == CLOSE_UNAUTHORIZED:
                        raise StationRefused("the station refused the pairing token (4401)")
                    if code == CLOSE_REPLACED:
                        backoff = self._replaced(backoff)
                    else:
                        if self.connections:
                            backoff = self.first_backoff
                        log.warning("connection to the station closed (%s); reconnecting", code)
            except StationRefused:
                raise
            except PinRefused as exc:
                raise StationRefused(str(exc)) from None
            except StationNotFound as exc:
                if not self.keep_trying:
                    raise
                log.warning("%s; looking again in %.1f s", exc, backoff)
            except (OSError, InvalidHandshake, TimeoutError, InvalidURI) as exc:
                log.warning("cannot reach the station at %s (%s)%s; retrying in %.1f s", self.url or "(discovered)",
                            shorten(str(exc) or exc.__class__.__name__, 200), scheme_hint(self.url, exc), backoff)
            try:
                await asyncio.wait_for(stop.wait(), backoff)
            except TimeoutError:
                pass
            backoff = min(backoff * 2, self.max_backoff)

    async def _discovered_url(self) -> str:
        assert self.discover is not None
        return await self.discover()  # browsed again on every reconnect: the station may have moved

    async def _until_closed(self, ws: ClientConnection, stop: asyncio.Event) -> bool:
        """Run one session; True when `stop` ended it."""
        session = asyncio.create_task(self._session(ws))
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({session, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if session not in done:
            session.cancel()
            await asyncio.gather(session, return_exceptions=True)
            return True
        try:
            session.result()
        except ConnectionClosed:
            pass
        return False

    def _replaced(self, backoff: float) -> float:
        self.replaced += 1
        message = f"another Detector connected as {self.detector_id!r} (4409)"
        if not self.keep_trying:
            raise StationRefused(message)
        backoff = max(backoff, self.replaced_backoff)
        log.warning("%s; if it is a copy of this one, give each its own --state-dir or --detector-id. "
                    "Connecting again in %.1f s", message, backoff)
        return backoff

    # -- one connection -------------------------------------------------------------------
    async def _session(self, ws: ClientConnection) -> None:
        await self._send(ws, "hello", {"role": "detector", "detector_id": self.detector_id, "name": self.name,
                                       "version": __version__, "token": self.token,
                                       "capabilities": self.capabilities})
        welcome = self._traced_in(await asyncio.wait_for(ws.recv(), WELCOME_TIMEOUT_S))
        if not self._welcomed(welcome):
            return
        self.connections += 1
        self.cards = {}
        queue: asyncio.Queue[CopyRequest | WipeRequest] = asyncio.Queue(MAX_QUEUED_REQUESTS)
        tasks = [asyncio.create_task(self._watch(ws)), asyncio.create_task(self._serve(ws, queue))]
        try:
            async for frame in ws:
                if isinstance(frame, bytes):
                    log.warning("ignored a binary frame from the station (%d bytes)", len(frame))
                    continue
                message = self._traced_in(frame)
                kind = message.get("type")
                try:
                    self._dispatch(str(kind), message.get("data"), queue)
                except BadStationMessage as exc:
                    log.warning("ignored a malformed %s from the station: %s", shorten(kind, 64), exc)
        finally:
            for task in tasks:
                task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            for result in results:
                if isinstance(result, Exception) and not isinstance(result, (ConnectionClosed, asyncio.CancelledError)):
                    log.error("detector task failed: %r", result)

    def _welcomed(self, message: dict[str, Any]) -> bool:
        raw = message.get("data")
        data: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if message.get("type") != "welcome":
            reason = f"the station refused the hello: {shorten(data.get('code'), 64)}: {shorten(data.get('message'))}"
            if data.get("code") == "unauthorized" or not self.keep_trying:
                raise StationRefused(reason)
            log.warning("%s; trying again", reason)
            return False
        self.chunk_size = incoming.chunk_size(data)
        if self.chunk_size != data.get("chunk_size"):
            log.warning("the station announced chunk_size %s; sending frames of %d bytes",
                        shorten(data.get("chunk_size"), 40), self.chunk_size)
        log.info("connected to station %s as %s (chunk size %d)", shorten(data.get("station_id"), 128),
                 self.detector_id, self.chunk_size)
        return True

    def _dispatch(self, kind: str, data: Any, queue: asyncio.Queue[CopyRequest | WipeRequest]) -> None:
        if kind == "sd:copy_request":
            self._enqueue(queue, incoming.copy_request(data))
        elif kind == "sd:wipe_request":
            self._enqueue(queue, incoming.wipe_request(data))
        elif kind == "sd:copy_cancel":
            request_id = incoming.copy_cancel(data)
            self.cancelled.remember(request_id)
            log.info("the station cancelled request %s", request_id)
        elif kind == "sd:card_status":
            self._card_status(incoming.card_status(data))
        elif kind in ("error", "sd:file_rejected"):
            fields = data if isinstance(data, dict) else {}
            log.warning("station %s: %s", kind, shorten({k: fields.get(k) for k in ("code", "path", "message", "reason")}))
        else:
            log.info("station %s: %s", shorten(kind, 64), shorten(data))

    def _enqueue(self, queue: asyncio.Queue[CopyRequest | WipeRequest], request: CopyRequest | WipeRequest) -> None:
        try:
            queue.put_nowait(request)
        except asyncio.QueueFull:
            log.warning("dropped request %s: %d requests already wait", request.request_id, MAX_QUEUED_REQUESTS)

    def _card_status(self, status: dict[str, Any]) -> None:
        card_id = status["card_id"]
        self.card_status.remember(card_id, status)
        log.info("card %s: %s, %s of %s files verified", card_id, status["state"], status["files_verified"],
                 status["files_total"])
        if status["safe_to_format"] and status["state"] == "complete":
            card = self.cards.get(card_id)
            self.say(f"card {card_id}" + (f" ({card.label})" if card else "") + ": safe to format")

    async def _watch(self, ws: ClientConnection) -> None:
        """List new cards, say which ones left."""
        while True:
            present = await self.source.scan()
            for card_id, card in present.items():
                if card_id not in self.cards:
                    self.cards[card_id] = card
                    log.info("card %s (%s): %d files", card_id, card.label, len(card.files))
                    await self._send(ws, "sd:file_list", {"card_id": card_id, "label": card.label, "slot": None,
                                                          "files": [f.as_message() for f in card.files]})
            for card_id in [c for c in self.cards if c not in present]:
                del self.cards[card_id]
                log.info("card %s removed", card_id)
                await self._send(ws, "sd:card_removed", {"card_id": card_id})
            await asyncio.sleep(self.scan_interval)

    async def _serve(self, ws: ClientConnection, queue: asyncio.Queue[CopyRequest | WipeRequest]) -> None:
        """Copy and wipe requests one after another, each file in the order the station gave."""
        while True:
            request = await queue.get()
            if isinstance(request, WipeRequest):
                await self._wipe(ws, request)
            else:
                await self._copy(ws, request)

    async def _copy(self, ws: ClientConnection, request: CopyRequest) -> None:
        card = self.cards.get(request.card_id)
        if card is None:
            log.warning("request %s for card %s, which is not inserted; it waits for the card",
                        request.request_id, shorten(request.card_id, 128))
            return
        for done, entry in enumerate(request.files):
            if request.request_id in self.cancelled:
                log.info("request %s cancelled: %d of its %d files not sent", request.request_id,
                         len(request.files) - done, len(request.files))
                return
            try:
                await self._copy_one(ws, request, card, entry)
            except (ConnectionClosed, asyncio.CancelledError):
                raise
            except Exception as exc:  # one bad entry must not stop the others
                log.exception("cannot serve %s of request %s", entry.path, request.request_id)
                await self._copy_error(ws, request, entry, f"the Detector failed: {exc.__class__.__name__}", False)

    async def _copy_one(self, ws: ClientConnection, request: CopyRequest, card: Card, entry: CopyEntry) -> None:
        listed = card.file(entry.path)
        if listed is None:
            await self._copy_error(ws, request, entry, "no such file on the card", False)
            return
        local = card.local_path(entry.path)
        if request.mode == "shared_path":
            await self._copy_shared(ws, request, entry, local)
        elif request.mode == "upload":
            await upload_file(ws, self._send, request.request_id, entry.path, local, listed.size, entry.offset,
                              self.chunk_size, length=entry.length,
                              cancelled=lambda: request.request_id in self.cancelled)
        else:
            await self._copy_error(ws, request, entry, f"mode {shorten(request.mode, 16)} is not supported", False)

    async def _copy_shared(self, ws: ClientConnection, request: CopyRequest, entry: CopyEntry, local: Path) -> None:
        if self.shared_root is None or request.dest_dir is None or entry.length is not None:
            reason = ("this Detector copies into no shared folder (started without --shared-root)"
                      if self.shared_root is None else "shared_path needs a dest_dir and whole files")
            await self._copy_error(ws, request, entry, reason, False)
            return
        try:
            dest, size, sha = await asyncio.to_thread(copy_into_shared_root, local, self.shared_root,
                                                      request.dest_dir, entry.path)
        except SharedPathRefused as exc:
            log.warning("refused shared-path copy of %s: %s", entry.path, exc)
            await self._copy_error(ws, request, entry, f"refused: {exc}", False)
            return
        except OSError as exc:
            await self._copy_error(ws, request, entry, f"copy failed: {exc.strerror or exc}", True)
            return
        await self._send(ws, "sd:file_copied", {"request_id": request.request_id, "path": entry.path, "size": size,
                                                "sha256": sha, "dest": dest})

    async def _copy_error(self, ws: ClientConnection, request: CopyRequest, entry: CopyEntry, error: str,
                          retryable: bool) -> None:
        await self._send(ws, "sd:copy_error", {"request_id": request.request_id, "path": entry.path,
                                               "error": error[:2000], "retryable": retryable})

    async def _wipe(self, ws: ClientConnection, request: WipeRequest) -> None:
        card = self.cards.get(request.card_id)
        paths = [*request.malformed, *(f.path for f in request.files)]
        if card is None or not self.wipe_enabled:
            reason = "the card is not in this reader" if card is None else "this Detector does not wipe cards"
            deleted, kept = [], [{"path": p, "reason": reason} for p in paths]
        else:
            result = await asyncio.to_thread(wipe_card, card, request)
            deleted, kept = result.deleted, result.kept
            gone = set(deleted)
            self.cards[card.card_id] = dataclasses.replace(card, files=tuple(f for f in card.files if f.path not in gone))
            self.say(f"card {card.card_id} ({card.label}): wiped {len(deleted)} files"
                     + (f", kept {len(kept)}" if kept else ""))
        log.info("wipe %s of card %s: %d deleted, %d kept", request.request_id, request.card_id, len(deleted), len(kept))
        if request.ignored:
            log.warning("wipe %s: ignored %d entries that name no card path", request.request_id, request.ignored)
        await self._send(ws, "sd:wipe_done", {"request_id": request.request_id, "card_id": request.card_id,
                                              "deleted": deleted, "kept": kept})

    # -- messages -------------------------------------------------------------------------
    async def _send(self, ws: ClientConnection, type_: str, data: dict[str, Any]) -> None:
        message = {"type": type_, "data": data}
        self._trace("out", {"type": type_, "data": {**data, "token": REDACTED}} if "token" in data else message)
        await ws.send(json.dumps(message, separators=(",", ":")))

    def _traced_in(self, raw: str | bytes) -> dict[str, Any]:
        try:
            message = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            log.warning("station sent invalid JSON (%d characters)", len(raw))
            return {}
        self._trace("in", message)
        return message if isinstance(message, dict) else {}

    def _trace(self, direction: str, message: Any) -> None:
        if self.trace is not None:
            self.trace.write(json.dumps({"dir": direction, "message": message}, separators=(",", ":")) + "\n")
            self.trace.flush()
