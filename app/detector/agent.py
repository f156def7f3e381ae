"""The reference Detector: connects to the station, lists its cards, serves copy requests.

Speaks docs/protocol.md from the Detector's side. Reconnects with backoff when the station
goes away (every card is listed again on reconnect, which resumes waiting imports); gives up
only when the station refuses its token (4401) or another Detector took its id (4409).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from app.detector.card import Card
from app.detector.sources import CardSource
from app.detector.transfer import copy_to_shared_dir, upload_file
from app.net.protocol import CLOSE_REPLACED, CLOSE_UNAUTHORIZED, DETECTOR_ID_RE, DEFAULT_CHUNK_SIZE
from app.version import __version__

log = logging.getLogger(__name__)

FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 10.0


class StationRefused(RuntimeError):
    """The station will not take this Detector (wrong token, id taken); retrying cannot help."""


def detector_url(station: str) -> str:
    """`ws://HOST:PORT` (or with the path) → the `/detector` endpoint."""
    parts = urlsplit(station if "://" in station else f"ws://{station}")
    if parts.scheme not in ("ws", "wss"):
        raise ValueError(f"--station must be ws://HOST:PORT, got {station!r}")
    return urlunsplit((parts.scheme, parts.netloc, parts.path if parts.path not in ("", "/") else "/detector", "", ""))


def default_detector_id() -> str:
    name = "".join(c if DETECTOR_ID_RE.fullmatch(c) else "-" for c in socket.gethostname())[:64]
    return name or "detector"


class DetectorAgent:
    def __init__(self, station: str, token: str, source: CardSource, *, detector_id: str | None = None,
                 name: str | None = None, scan_interval: float = 1.0, trace: TextIO | None = None) -> None:
        self.url = detector_url(station)
        self.token = token
        self.source = source
        self.detector_id = detector_id or default_detector_id()
        if not DETECTOR_ID_RE.fullmatch(self.detector_id):
            raise ValueError(f"detector id {self.detector_id!r} must match {DETECTOR_ID_RE.pattern}")
        self.name = name or f"Reference Detector on {socket.gethostname()}"
        self.scan_interval = scan_interval
        self.trace = trace  # every text message in and out, one JSON line each
        self.chunk_size = DEFAULT_CHUNK_SIZE
        self.cards: dict[str, Card] = {}  # listed to the station on this connection
        self.connections = 0

    # -- the outer loop -------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        backoff = FIRST_BACKOFF_S
        while not stop.is_set():
            try:
                async with connect(self.url, compression=None, max_size=None, open_timeout=10) as ws:
                    session = asyncio.create_task(self._session(ws))
                    stopper = asyncio.create_task(stop.wait())
                    done, _ = await asyncio.wait({session, stopper}, return_when=asyncio.FIRST_COMPLETED)
                    stopper.cancel()
                    if session not in done:
                        session.cancel()
                        await asyncio.gather(session, return_exceptions=True)
                        return
                    try:
                        session.result()
                    except ConnectionClosed:
                        pass
                    code = ws.close_code
                    if code == CLOSE_UNAUTHORIZED:
                        raise StationRefused("the station refused the pairing token (4401)")
                    if code == CLOSE_REPLACED:
                        raise StationRefused(f"another Detector connected as {self.detector_id!r} (4409)")
                    if self.connections:
                        backoff = FIRST_BACKOFF_S
                    log.warning("connection to the station closed (%s); reconnecting", code)
            except StationRefused:
                raise
            except (OSError, InvalidHandshake, TimeoutError, InvalidURI) as exc:
                log.warning("cannot reach the station at %s (%s); retrying in %.1f s", self.url, exc, backoff)
            try:
                await asyncio.wait_for(stop.wait(), backoff)
            except TimeoutError:
                pass
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    # -- one connection -------------------------------------------------------------------
    async def _session(self, ws: ClientConnection) -> None:
        await self._send(ws, "hello", {"role": "detector", "detector_id": self.detector_id, "name": self.name,
                                       "version": __version__, "token": self.token,
                                       "capabilities": ["upload", "shared_path"]})
        welcome = self._traced_in(await ws.recv())
        if welcome.get("type") != "welcome":
            data = welcome.get("data") or {}
            raise StationRefused(f"the station refused the hello: {data.get('code')}: {data.get('message')}")
        self.chunk_size = int(welcome["data"].get("chunk_size") or DEFAULT_CHUNK_SIZE)
        self.connections += 1
        log.info("connected to station %s as %s (chunk size %d)", welcome["data"].get("station_id"),
                 self.detector_id, self.chunk_size)
        self.cards = {}
        requests: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        tasks = [asyncio.create_task(self._watch(ws)), asyncio.create_task(self._serve(ws, requests))]
        try:
            async for frame in ws:
                if isinstance(frame, bytes):
                    continue  # the station sends no binary frames
                message = self._traced_in(frame)
                kind, data = message.get("type"), message.get("data") or {}
                if kind == "sd:copy_request":
                    requests.put_nowait(data)
                elif kind == "error":
                    log.warning("station error %s: %s", data.get("code"), data.get("message"))
                elif kind == "sd:file_rejected":
                    log.warning("station rejected %s: %s", data.get("path"), data.get("reason"))
                else:
                    log.info("%s %s", kind, {k: v for k, v in data.items() if k != "files"})
        finally:
            for task in tasks:
                task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            for result in results:
                if isinstance(result, Exception) and not isinstance(result, (ConnectionClosed, asyncio.CancelledError)):
                    log.error("detector task failed: %r", result)

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

    async def _serve(self, ws: ClientConnection, requests: asyncio.Queue[dict[str, Any]]) -> None:
        """Copy requests one after another, each file in the order the station gave."""
        while True:
            request = await requests.get()
            card = self.cards.get(request.get("card_id", ""))
            if card is None:
                log.warning("request %s for card %s, which is not inserted; it waits for the card",
                            request.get("request_id"), request.get("card_id"))
                continue
            for entry in request.get("files", []):
                try:
                    await self._copy_one(ws, request, card, entry)
                except (ConnectionClosed, asyncio.CancelledError):
                    raise
                except Exception as exc:  # one bad entry must not stop the others
                    log.exception("cannot serve %r of request %s", entry, request.get("request_id"))
                    await self._send(ws, "sd:copy_error", {
                        "request_id": str(request.get("request_id")), "path": str(entry.get("path")),
                        "error": f"the Detector failed: {exc.__class__.__name__}", "retryable": False})

    async def _copy_one(self, ws: ClientConnection, request: dict[str, Any], card: Card, entry: dict[str, Any]) -> None:
        request_id, path = request["request_id"], entry["path"]
        listed = card.file(path)
        if listed is None:
            await self._send(ws, "sd:copy_error", {"request_id": request_id, "path": path,
                                                   "error": "no such file on the card", "retryable": False})
            return
        local = card.local_path(path)
        if request.get("mode") == "shared_path" and request.get("dest_dir"):
            try:
                dest, size, sha = await asyncio.to_thread(copy_to_shared_dir, local, Path(request["dest_dir"]), path)
            except OSError as exc:
                await self._send(ws, "sd:copy_error", {"request_id": request_id, "path": path,
                                                       "error": f"copy failed: {exc}", "retryable": True})
                return
            await self._send(ws, "sd:file_copied", {"request_id": request_id, "path": path, "size": size,
                                                    "sha256": sha, "dest": str(dest)})
            return
        await upload_file(ws, self._send, request_id, path, local, listed.size, int(entry.get("offset") or 0),
                          self.chunk_size)

    # -- messages -------------------------------------------------------------------------
    async def _send(self, ws: ClientConnection, type_: str, data: dict[str, Any]) -> None:
        message = {"type": type_, "data": data}
        self._trace("out", message)
        await ws.send(json.dumps(message, separators=(",", ":")))

    def _traced_in(self, raw: str | bytes) -> dict[str, Any]:
        try:
            message = json.loads(raw)
        except json.JSONDecodeError:
            log.warning("station sent invalid JSON")
            return {}
        self._trace("in", message)
        return message if isinstance(message, dict) else {}

    def _trace(self, direction: str, message: dict[str, Any]) -> None:
        if self.trace is not None:
            self.trace.write(json.dumps({"dir": direction, "message": message}, separators=(",", ":")) + "\n")
            self.trace.flush()
