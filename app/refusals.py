"""Why the orchestrator refuses what a Detector says about a transfer.

Shared by `app/pipeline` (raises them) and `app/net` (answers them with the protocol's error
code, `code`), so neither layer imports the other and nothing is matched by name.
"""

from __future__ import annotations


class TransferRefused(LookupError):
    """The message changes nothing; the Detector is answered `error` with `code`."""

    code = "unknown_request"


class UnknownRequest(TransferRefused):
    """A request id or path the station never asked for (or no longer wants), or a request that
    was sent to another Detector."""

    code = "unknown_request"


class RequestClosed(TransferRefused):
    """The import the request belongs to was cancelled or has ended: nothing of it is stored."""

    code = "conflict"
