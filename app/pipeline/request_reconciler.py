"""The station's reconciler of copy requests: a `transfer_request` row is the command, and this
loop sends every open one that was not sent on its Detector's current connection, every
`every_s` seconds and at once when woken. A `transfer:requested` event (Redis pub/sub from a
worker on another machine, which may drop it) only wakes it: a lost event delays a request by
one period, never forever."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

RECONCILE_EVERY_S = 2.0


class RequestReconciler:
    """Runs `send_unsent()` periodically and on `wake()`, one pass at a time."""

    def __init__(self, send_unsent: Callable[[], Awaitable[int]], every_s: float = RECONCILE_EVERY_S) -> None:
        self.send_unsent = send_unsent
        self.every_s = every_s
        self._woken = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="copy-request-reconciler")

    def wake(self) -> None:
        self._woken.set()

    def wake_later(self, delay_s: float) -> None:
        asyncio.get_running_loop().call_later(delay_s, self._woken.set)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._woken.wait(), self.every_s)
            except TimeoutError:
                pass
            self._woken.clear()
            try:
                sent = await self.send_unsent()
            except Exception:  # the database or a Detector hiccups: the next pass tries again
                log.exception("sending the open copy requests failed; trying again in %g s", self.every_s)
                continue
            if sent:
                log.info("reconciler sent %d copy request(s)", sent)


__all__ = ["RECONCILE_EVERY_S", "RequestReconciler"]
