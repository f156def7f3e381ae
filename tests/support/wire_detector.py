"""A Detector speaking the protocol by hand over a real WebSocket, keeping every message it is
sent, so a test can act as a well-behaved or a rogue reader and see exactly what the station says."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from typing import Any, Self

from websockets.asyncio.client import ClientConnection, connect


class WireDetector:
    def __init__(self, port: int, token: str, detector_id: str, capabilities: tuple[str, ...] = ("upload",),
                 path: str = "/detector") -> None:
        self.url = f"ws://127.0.0.1:{port}{path}"
        self.token = token
        self.detector_id = detector_id
        self.capabilities = capabilities
        self.inbox: list[dict[str, Any]] = []
        self.chunk_size = 64 * 1024
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._ws = await connect(self.url, compression=None, max_size=None)
        await self.send("hello", {"role": "detector", "detector_id": self.detector_id, "token": self.token,
                                  "capabilities": list(self.capabilities)})
        welcome = json.loads(await asyncio.wait_for(self._ws.recv(), 10))
        assert welcome["type"] == "welcome", welcome
        self.chunk_size = welcome["data"]["chunk_size"]
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._ws is not None
        await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    async def _read(self) -> None:
        assert self._ws is not None
        async for raw in self._ws:
            if isinstance(raw, str):
                self.inbox.append(json.loads(raw))

    async def send(self, type_: str, data: dict[str, Any], id_: str | None = None) -> None:
        assert self._ws is not None
        message: dict[str, Any] = {"type": type_, "data": data}
        if id_ is not None:
            message["id"] = id_
        await self._ws.send(json.dumps(message))

    async def upload(self, request_id: str, path: str, payload: bytes, offset: int = 0) -> None:
        """`sd:upload_begin`, the bytes from `offset` in frames, `sd:file_copied`."""
        await self.begin(request_id, path, payload, offset)
        await self.frames(payload, offset)
        await self.send("sd:file_copied", copied(request_id, path, payload))

    async def begin(self, request_id: str, path: str, payload: bytes, offset: int = 0) -> None:
        await self.send("sd:upload_begin", {"request_id": request_id, "path": path, "size": len(payload),
                                            "offset": offset})

    async def frames(self, payload: bytes, offset: int = 0) -> None:
        assert self._ws is not None
        for start in range(offset, len(payload), self.chunk_size):
            await self._ws.send(payload[start:start + self.chunk_size])

    def received(self, type_: str) -> list[dict[str, Any]]:
        return [m["data"] for m in self.inbox if m["type"] == type_]

    async def next(self, type_: str, match: Callable[[dict[str, Any]], bool] = lambda data: True,
                   after: int = 0, timeout: float = 60) -> dict[str, Any]:
        """The `data` of the first message of this type (from inbox index `after`) that matches."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for message in self.inbox[after:]:
                if message["type"] == type_ and match(message["data"]):
                    return message["data"]
            assert asyncio.get_running_loop().time() < deadline, f"no {type_} in time; got {self.inbox}"
            await asyncio.sleep(0.02)

    async def answer_to(self, type_: str, data: dict[str, Any], ref: str, timeout: float = 30) -> dict[str, Any]:
        """Send a message with id `ref` and return the station's answer (a reply or an `error`)."""
        await self.send(type_, data, ref)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for message in self.inbox:
                if message["data"].get("ref") == ref:
                    return message
            assert asyncio.get_running_loop().time() < deadline, f"no answer to {ref} in time; got {self.inbox}"
            await asyncio.sleep(0.02)


def copied(request_id: str, path: str, payload: bytes) -> dict[str, Any]:
    """The `data` of `sd:file_copied` for these bytes."""
    return {"request_id": request_id, "path": path, "size": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
