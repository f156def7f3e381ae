"""What the core refuses, as typed exceptions: a Detector's message about a transfer, a UI
command (retry, move a clip, …). Nothing changed when one is raised.

Shared by `app/pipeline` (raises them) and `app/net` (answers each with its protocol error
code, in ONE table: `app/net/errors.py`), so neither layer imports the other and nothing is
matched by name. A new refusal: a class here, a row in that table.
"""

from __future__ import annotations


class Refused(Exception):
    """The core refuses a message or command; the message says why."""


# -- a Detector's transfer messages ------------------------------------------------------------
class TransferRefused(Refused, LookupError):
    """A message about a transfer the station cannot take."""


class UnknownRequest(TransferRefused):
    """A request id or path the station never asked for (or no longer wants), or a request that
    was sent to another Detector."""


class RequestClosed(TransferRefused):
    """The import the request belongs to was cancelled or has ended: nothing of it is stored."""


# -- UI commands -------------------------------------------------------------------------------
class NotFound(Refused, LookupError):
    """No such execution or step."""


class RetryRefused(Refused, ValueError):
    """A retry that cannot be done (the step is not failed)."""


class PassengerNotFound(Refused, LookupError):
    """No passenger or clip with that id."""


class MoveRefused(Refused, ValueError):
    """A clip cannot be moved as asked (not filed yet, already there)."""
