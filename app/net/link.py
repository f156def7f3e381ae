"""The connected Detectors, and the way the orchestrator sends them copy requests."""

from __future__ import annotations

import logging
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from app.net.protocol import ProtocolError, validate_copy_request

if TYPE_CHECKING:
    from collections.abc import Mapping

log = logging.getLogger(__name__)

# Copy requests remembered for shared-path checks; the oldest are forgotten beyond this many
# (the orchestrator re-sends open requests when a card is listed again).
MAX_REMEMBERED_REQUESTS = 10_000


class LinkedSession(Protocol):
    """What the registry needs of one Detector connection."""

    detector_id: str
    capabilities: frozenset[str]  # what it announced in hello

    def send(self, message: dict[str, Any]) -> None: ...

    def replace(self) -> None: ...


@dataclass(frozen=True)
class SentRequest:
    """A `sd:copy_request` as the station sent it (shared-path mode checks `dest` against it)."""

    request_id: str
    detector_id: str
    card_id: str
    mode: str
    dest_dir: str | None
    paths: frozenset[str]


class DetectorLink:
    """Registry of connected Detectors (one connection per `detector_id`)."""

    def __init__(self) -> None:
        self._sessions: dict[str, LinkedSession] = {}
        # A token per connection, unique across restarts: a request sent on a connection that
        # is gone is sent again (the orchestrator's reconciler compares it with `sent_to`).
        self._tokens: dict[str, str] = {}
        self._requests: OrderedDict[str, SentRequest] = OrderedDict()

    def add(self, session: LinkedSession) -> None:
        """A Detector said hello; an older connection with the same id is replaced (closed 4409)."""
        old = self._sessions.get(session.detector_id)
        self._sessions[session.detector_id] = session
        if old is not session:
            self._tokens[session.detector_id] = secrets.token_hex(8)
        if old is not None and old is not session:
            log.info("detector %s reconnected; closing its previous connection", session.detector_id)
            old.replace()

    def remove(self, session: LinkedSession) -> bool:
        """Forget a closed connection; False when a newer one already took its place."""
        if self._sessions.get(session.detector_id) is session:
            del self._sessions[session.detector_id]
            self._tokens.pop(session.detector_id, None)
            return True
        return False

    def count(self) -> int:
        return len(self._sessions)

    def connected(self) -> list[str]:
        return sorted(self._sessions)

    def session_of(self, detector_id: str) -> str | None:
        """The token of the Detector's current connection, or None when it is not connected."""
        return self._tokens.get(detector_id)

    def capabilities(self, detector_id: str) -> frozenset[str]:
        """What the connected Detector announced in its hello (empty when it is not connected)."""
        session = self._sessions.get(detector_id)
        return session.capabilities if session is not None else frozenset()

    def send_copy_request(self, detector_id: str, data: Mapping[str, Any]) -> bool:
        """Queue a `sd:copy_request` to that Detector. False when it is not connected (the request
        stays open on the orchestrator's side and is sent again when the card is listed again)."""
        try:
            clean = validate_copy_request(data)
        except ProtocolError as exc:
            raise ValueError(f"not a valid sd:copy_request: {exc.message}") from None
        self._requests[clean["request_id"]] = SentRequest(
            clean["request_id"], detector_id, clean["card_id"], clean["mode"], clean["dest_dir"],
            frozenset(entry["path"] for entry in clean["files"]))
        self._requests.move_to_end(clean["request_id"])
        while len(self._requests) > MAX_REMEMBERED_REQUESTS:
            self._requests.popitem(last=False)
        session = self._sessions.get(detector_id)
        if session is None:
            return False
        session.send({"type": "sd:copy_request", "data": clean})
        return True

    def has_capability(self, detector_id: str, capability: str) -> bool:
        session = self._sessions.get(detector_id)
        return session is not None and capability in session.capabilities

    def send_addition(self, detector_id: str, capability: str, message: dict[str, Any]) -> bool:
        """Send a message of a protocol addition, only to a connected Detector that announced
        its capability. False when it was not sent."""
        if not self.has_capability(detector_id, capability):
            return False
        self._sessions[detector_id].send(message)
        return True

    def send_copy_cancel(self, detector_id: str, data: Mapping[str, Any]) -> bool:
        """Tell a Detector that announced `cancel` to send nothing more of a request
        (`{"request_id","card_id","reason"}`). False when it is gone or cannot hear it; either
        way the station refuses that request's uploads from now on (the orchestrator's rule)."""
        return self.send_addition(detector_id, "cancel", {"type": "sd:copy_cancel", "data": {
            "request_id": data["request_id"], "card_id": data["card_id"], "reason": data["reason"]}})

    def sent_request(self, request_id: str) -> SentRequest | None:
        return self._requests.get(request_id)
