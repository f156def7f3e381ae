"""A station the test scripts by hand: a real WebSocket server on 127.0.0.1 that welcomes a
Detector, records what it sends (messages and the bytes of each upload) and sends whatever the
test tells it to, well-formed or not. For the reference Detector's side of the protocol."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve

from tests.net.conftest import TOKEN


@dataclass
class Upload:
    begin: dict[str, Any]
    data: bytearray = field(default_factory=bytearray)
    end: dict[str, Any] | None = None  # the sd:file_copied or sd:copy_error that closed it
    frames: list[int] = field(default_factory=list)  # size of each binary frame


class ScriptedStation:
    def __init__(self, *, chunk_size: Any = 64 * 1024, close_first_with: int | None = None,
                 first_reply: Any = None) -> None:
        self.chunk_size = chunk_size
        self.first_reply = first_reply  # sent instead of welcome to the first connection, which stays open
        self.close_first_with = close_first_with  # e.g. 4409: the first connection is closed right after welcome
        self.hellos: list[dict[str, Any]] = []
        self.received: list[dict[str, Any]] = []
        self.uploads: list[Upload] = []
        self.connection: ServerConnection | None = None
        self.reading = asyncio.Event()  # cleared: the station stops reading (the Detector's sends back up)
        self.reading.set()
        self.pause_on_begin = False  # stop reading at each sd:upload_begin (the test sets `reading` again)
        self._server: Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    async def __aenter__(self) -> ScriptedStation:
        self._server = await serve(self._handle, "127.0.0.1", 0, max_size=None, compression=None)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, ws: ServerConnection) -> None:
        hello = json.loads(await ws.recv())
        self.hellos.append(hello)
        if hello["data"].get("token") != TOKEN:
            await ws.close(4401, "wrong token")
            return
        if self.first_reply is not None and len(self.hellos) == 1:
            await ws.send(json.dumps(self.first_reply))
            await ws.wait_closed()
            return
        await ws.send(json.dumps({"type": "welcome", "data": {"station_id": "scripted", "version": "0",
                                                               "protocol": 1, "chunk_size": self.chunk_size}}))
        if self.close_first_with is not None and len(self.hellos) == 1:
            await ws.close(self.close_first_with, "scripted close")
            return
        self.connection = ws
        async for frame in ws:
            await self.reading.wait()
            if isinstance(frame, bytes):
                self.uploads[-1].data += frame
                self.uploads[-1].frames.append(len(frame))
                continue
            message = json.loads(frame)
            self.received.append(message)
            if message["type"] == "sd:upload_begin":
                self.uploads.append(Upload(message["data"]))
                if self.pause_on_begin:
                    self.reading.clear()
            elif message["type"] in ("sd:file_copied", "sd:copy_error") and self.uploads and self.uploads[-1].end is None \
                    and self.uploads[-1].begin["path"] == message["data"]["path"]:
                self.uploads[-1].end = message

    async def send(self, type_: str, data: Any) -> None:
        await self.send_raw(json.dumps({"type": type_, "data": data}))

    async def send_raw(self, frame: str | bytes) -> None:
        assert self.connection is not None, "no Detector connected"
        await self.connection.send(frame)

    def of_type(self, type_: str) -> list[dict[str, Any]]:
        return [m["data"] for m in self.received if m["type"] == type_]

    def listed(self) -> dict[str, Any] | None:
        lists = self.of_type("sd:file_list")
        return lists[-1] if lists else None
