"""The core's refusals (app/refusals.py) as protocol error codes: the one table."""

from __future__ import annotations

import logging
from typing import Any

from app.net.protocol import BAD_MESSAGE, CONFLICT, INTERNAL, UNKNOWN_REQUEST, ProtocolError
from app.refusals import (
    MoveRefused,
    NotFound,
    PassengerNotFound,
    Refused,
    RequestClosed,
    RetryRefused,
    TransferRefused,
    UnknownRequest,
)

log = logging.getLogger(__name__)

REFUSAL_CODES: dict[type[Refused], str] = {
    TransferRefused: UNKNOWN_REQUEST,
    UnknownRequest: UNKNOWN_REQUEST,
    RequestClosed: CONFLICT,  # an upload for an import that was cancelled or has ended
    NotFound: BAD_MESSAGE,  # a UI request naming an execution or step that does not exist
    PassengerNotFound: BAD_MESSAGE,
    RetryRefused: CONFLICT,  # a step that is not failed
    MoveRefused: CONFLICT,
}


def refusal_error(exc: Refused, ref: Any = None) -> ProtocolError:
    """The `error` a peer is answered with (the nearest class in the table wins)."""
    for cls in type(exc).__mro__:
        code = REFUSAL_CODES.get(cls)
        if code is not None:
            return ProtocolError(code, str(exc) or cls.__doc__ or code, ref)
    log.error("refusal %r has no protocol error code (add it to REFUSAL_CODES)", exc)
    return ProtocolError(INTERNAL, str(exc), ref)
