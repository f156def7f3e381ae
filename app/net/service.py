"""The Detector link as a station service: its routes on the station's server (`/detector`,
`/ui`, `GET /api/executions`, `GET /api/passengers`). What the sessions work with: NetContext."""

from __future__ import annotations

import hmac
import logging
from http import HTTPStatus
from urllib.parse import parse_qs

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from app.net.admission import Admission, Limits
from app.net.context import NetContext
from app.net.detector_session import DetectorSession
from app.net.http import error_response, json_response
from app.net.protocol import DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, MAX_TEXT_BYTES, ProtocolError, day
from app.net.ui_session import UiSession

log = logging.getLogger(__name__)


class NetService(NetContext):
    def install(self) -> None:
        server = self.server
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

    async def _serve_detector(self, ws: ServerConnection) -> None:
        await DetectorSession(self, ws).serve()

    async def _serve_ui(self, ws: ServerConnection) -> None:
        await UiSession(self, ws).serve()

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
        return json_response(HTTPStatus.OK, await self.orchestrator.passengers(wanted))


def _bearer_ok(request: Request, token: str) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and bool(token) and hmac.compare_digest(given.strip().encode(), token.encode())
