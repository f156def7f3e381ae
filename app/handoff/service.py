"""The hand-off as a station service: the links, their HTTP server, and the calls the window
and the console make (`create_link`, `revoke_link`, `qr_png`)."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from datetime import datetime

import psutil

from app.config import Settings
from app.db.engine import Database
from app.db.types import utcnow
from app.handoff.http_server import HandoffHttpServer
from app.handoff.links import Clock, HandoffLinks, LinkInfo
from app.handoff.qr import qr_png

_ANY = ("", "0.0.0.0", "::")


@dataclass(frozen=True)
class HandoffUrl:
    """What the window shows for a new link."""

    id: int
    url: str  # the page a phone opens (the QR code holds it)
    video_url: str
    passenger_name: str
    expires_at: datetime


class HandoffService:
    def __init__(self, settings: Settings, db: Database, *, clock: Clock = utcnow) -> None:
        self.settings = settings
        self.links = HandoffLinks(db, days=settings.handoff_days, clock=clock)
        self.server = HandoffHttpServer(self.links, settings.host, settings.handoff_listen_port)

    async def start(self) -> None:
        await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()

    @property
    def port(self) -> int:
        return self.server.bound_port

    async def create_link(self, jump_id: int) -> HandoffUrl:
        """A new link to the passenger's rendered video (HandoffError when there is none)."""
        return self.describe(await self.links.create(jump_id))

    async def revoke_link(self, link_id: int) -> None:
        await self.links.revoke(link_id)

    def describe(self, link: LinkInfo) -> HandoffUrl:
        base = f"http://{_host_for_url(self.address())}:{self.port}/h/{link.token}"
        return HandoffUrl(link.id, base, f"{base}/video.mp4", link.passenger_name, link.expires_at)

    def address(self) -> str:
        """The address phones on the LAN reach this station at."""
        if self.settings.handoff_host:
            return self.settings.handoff_host
        if self.settings.host not in _ANY:
            return self.settings.host
        return lan_address()

    @staticmethod
    def qr_png(url: str) -> bytes:
        return qr_png(url)


def lan_address() -> str:
    """This machine's first private IPv4 address on an interface that is up (read from the
    interfaces; no packet is sent), else the host name's address, else loopback."""
    stats = psutil.net_if_stats()
    candidates: list[ipaddress.IPv4Address] = []
    for name, addresses in psutil.net_if_addrs().items():
        if name in stats and not stats[name].isup:
            continue
        for address in addresses:
            if address.family == socket.AF_INET:
                ip = ipaddress.IPv4Address(address.address)
                if not ip.is_loopback and not ip.is_link_local:
                    candidates.append(ip)
    private = [ip for ip in candidates if ip.is_private]
    if private or candidates:
        return str((private or candidates)[0])
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def _host_for_url(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
