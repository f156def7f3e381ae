"""Plain-HTTP answers served on the WebSocket port (health checks, scripts)."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from websockets.datastructures import Headers
from websockets.http11 import Response


def json_response(status: HTTPStatus, body: Any) -> Response:
    payload = json.dumps(body, separators=(",", ":"), default=str).encode()
    headers = Headers(
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(payload))),
            ("Cache-Control", "no-store"),
            ("Connection", "close"),
        ]
    )
    return Response(status.value, status.phrase, headers, payload)


def error_response(status: HTTPStatus, message: str) -> Response:
    return json_response(status, {"error": message})
