"""Finding a station without being given its address: browse mDNS for `_ingest-station._tcp`
(docs/protocol.md, "Transport") and take the first station that resolves and speaks protocol 1."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
from collections.abc import Sequence
from typing import Any

from zeroconf import InterfaceChoice, IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from app.net.mdns import DETECTOR_PATH, SERVICE_TYPE
from app.net.protocol import PROTOCOL_VERSION

log = logging.getLogger(__name__)

RESOLVE_TIMEOUT_MS = 3000
_PATH_RE = re.compile(r"/[A-Za-z0-9._~/-]{0,200}")


class StationNotFound(RuntimeError):
    """No station answered on the local network in time."""


def _txt(info: AsyncServiceInfo, key: str) -> str | None:
    value = info.properties.get(key.encode())
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else None


def station_url(info: AsyncServiceInfo, station_id: str | None = None, fingerprint: str | None = None) -> str | None:
    """`ws://ADDRESS:PORT/PATH` (`wss://` when TXT says `tls=1`) for a resolved service, or None when it
    is not a station for us. With `fingerprint` (the user's --fingerprint) only a station advertising
    it is taken; TXT is spoofable, so the Detector still pins the certificate itself on connecting."""
    if _txt(info, "protocol") != str(PROTOCOL_VERSION):
        return None
    if station_id is not None and _txt(info, "station_id") != station_id:
        return None
    tls = _txt(info, "tls") == "1"
    if fingerprint is not None and (not tls or (_txt(info, "fingerprint") or "").lower() != fingerprint):
        return None
    path = _txt(info, "path") or DETECTOR_PATH
    # A station on this machine may also announce 127.0.0.1: take an address a peer can reach first.
    addresses = sorted(info.parsed_addresses(IPVersion.V4Only), key=lambda a: ipaddress.IPv4Address(a).is_loopback)
    if not addresses or not info.port or not _PATH_RE.fullmatch(path):
        return None
    return f"{'wss' if tls else 'ws'}://{addresses[0]}:{info.port}{path}"


async def find_station(timeout: float, *, station_id: str | None = None, fingerprint: str | None = None,
                       interfaces: Sequence[str] | InterfaceChoice = InterfaceChoice.All) -> str:
    """The first station found, as a WebSocket URL; StationNotFound after `timeout` seconds."""
    found: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    resolving: set[asyncio.Task[None]] = set()
    try:
        aiozc = AsyncZeroconf(interfaces=list(interfaces) if not isinstance(interfaces, InterfaceChoice) else interfaces,
                              ip_version=IPVersion.V4Only)
    except OSError as exc:
        raise StationNotFound(f"cannot browse the local network for a station (mDNS): {exc}") from None

    async def resolve(name: str) -> None:
        info = AsyncServiceInfo(SERVICE_TYPE, name)
        if await info.async_request(aiozc.zeroconf, RESOLVE_TIMEOUT_MS):
            url = station_url(info, station_id, fingerprint)
            if url is not None and not found.done():
                log.info("found station %s at %s", _txt(info, "station_id"), url)
                found.set_result(url)

    def on_change(zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange,
                  **_: Any) -> None:
        if state_change is ServiceStateChange.Added:
            task = asyncio.create_task(resolve(name))
            resolving.add(task)
            task.add_done_callback(resolving.discard)

    browser = AsyncServiceBrowser(aiozc.zeroconf, SERVICE_TYPE, handlers=[on_change])
    try:
        return await asyncio.wait_for(found, timeout)
    except TimeoutError:
        which = f"station {station_id!r}" if station_id else "station"
        which += " with that --fingerprint" if fingerprint else ""
        raise StationNotFound(f"no {which} found on the local network in {timeout:g} s (mDNS {SERVICE_TYPE}); "
                              "give its address with --station ws://HOST:PORT") from None
    finally:
        for task in list(resolving):
            task.cancel()
        await asyncio.gather(*resolving, return_exceptions=True)
        await browser.async_cancel()
        await aiozc.async_close()
