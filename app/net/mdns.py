"""The station on the LAN's mDNS/DNS-SD: `_ingest-station._tcp.local.` with TXT `station_id`,
`protocol`, `path` (and with TLS on `tls=1`, `fingerprint`) (docs/protocol.md, "Transport"), so a Detector finds it without an address.

Advertising is a convenience: if the network has no multicast, the station logs it and runs on.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
import threading

import ifaddr
from zeroconf import Error as ZeroconfError
from zeroconf import InterfaceChoice, IPVersion, ServiceInfo, Zeroconf

from app.net.protocol import PROTOCOL_VERSION

log = logging.getLogger(__name__)

SERVICE_TYPE = "_ingest-station._tcp.local."
DETECTOR_PATH = "/detector"
CLOSE_TIMEOUT_S = 3.0
WILDCARDS = ("", "0.0.0.0", "::")


def _ipv4_addresses() -> list[str]:
    """The machine's IPv4 addresses a peer can reach: loopback and link-local only when there is
    nothing else (a Detector on another machine would take 127.0.0.1 for the station's)."""
    found = [ipaddress.IPv4Address(ip.ip) for adapter in ifaddr.get_adapters() for ip in adapter.ips
             if isinstance(ip.ip, str)]
    reachable = [a for a in found if not (a.is_loopback or a.is_link_local)]
    return [str(a) for a in (reachable or found)]


def _dns_label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", text).strip("-")[:63] or "ingest-station"


def station_service_info(station_id: str, host: str, port: int, fingerprint: str | None = None,
                         ) -> tuple[ServiceInfo, list[str] | InterfaceChoice]:
    """The service record for a station listening on `host:port`, and the interfaces to announce it on.
    With TLS on (`fingerprint` given) TXT also says `tls=1` and the certificate's fingerprint."""
    interfaces: list[str] | InterfaceChoice
    if host in WILDCARDS:
        addresses, interfaces = _ipv4_addresses(), InterfaceChoice.All
    else:
        address = ipaddress.ip_address(host)  # ValueError for a host name: the caller says why
        if address.version != 4:
            raise ValueError(f"mDNS advertising needs an IPv4 listen address, not {host}")
        addresses, interfaces = [host], [host]
    label = _dns_label(station_id)
    info = ServiceInfo(
        SERVICE_TYPE, f"{station_id[:63]}.{SERVICE_TYPE}", port=port,
        addresses=[socket.inet_aton(a) for a in addresses], server=f"{label}.local.",
        properties={"station_id": station_id, "protocol": str(PROTOCOL_VERSION), "path": DETECTOR_PATH,
                    **({"tls": "1", "fingerprint": fingerprint} if fingerprint else {})})
    return info, interfaces


class StationAdvertiser:
    """Announces the station after it listens; withdraws the announcement when it stops.

    Runs zeroconf on its own thread (the library's blocking API), never on the station's loop:
    under the window's qasync loop a nested Qt event pass can step a new task from inside
    another one, which kills that task, and a zeroconf left half set up never closes."""

    def __init__(self, station_id: str, host: str, port: int, *, fingerprint: str | None = None) -> None:
        self.station_id, self.host, self.port = station_id, host, port
        self.fingerprint = fingerprint
        self.registered = threading.Event()
        self._zeroconf: Zeroconf | None = None
        self._closing = False
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Returns at once; the announcement (≈1 s of probing for a unique name) runs on."""
        self._thread = threading.Thread(target=self._advertise, name="mdns-advertiser", daemon=True)
        self._thread.start()

    def _advertise(self) -> None:
        try:
            info, interfaces = station_service_info(self.station_id, self.host, self.port, self.fingerprint)
            zeroconf = Zeroconf(interfaces=interfaces, ip_version=IPVersion.V4Only)
        except (OSError, ValueError, ZeroconfError) as exc:
            log.warning("not advertising the station over mDNS: %s", exc)
            return
        with self._lock:
            if self._closing:
                zeroconf.close()
                return
            self._zeroconf = zeroconf
        try:
            zeroconf.register_service(info, allow_name_change=True)
        except (OSError, ZeroconfError) as exc:
            if not self._closing:
                log.warning("cannot advertise the station over mDNS: %s", exc)
            return
        self.registered.set()
        log.info("advertising %s over mDNS as %s", self.station_id, info.name)

    def close(self) -> None:
        """Blocking: says goodbye on the network, closes the sockets, ends the thread."""
        with self._lock:
            self._closing = True
            zeroconf = self._zeroconf
        if zeroconf is not None:
            try:
                zeroconf.close()
            except (OSError, ZeroconfError) as exc:
                log.warning("mDNS did not close cleanly: %s", exc)
        if self._thread is not None:
            self._thread.join(CLOSE_TIMEOUT_S)

    async def stop(self) -> None:
        await asyncio.to_thread(self.close)
