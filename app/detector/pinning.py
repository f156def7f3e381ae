"""The Detector's side of the optional `wss://` link: the station's certificate is self-signed, so
no CA can vouch for it; the Detector pins its SHA-256 fingerprint instead (`--fingerprint`).

Rules (docs/protocol.md, "Decisions"): `wss://` without a fingerprint is refused unless the user
said `--insecure` (encrypted, but anyone on the LAN could pose as the station and be given the
token); a fingerprint with a plain `ws://` station is refused (the link would not be what the user
asked for); a certificate that does not match is refused before the token is sent.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection

from app.net.fingerprint import fingerprint_of


class PinRefused(RuntimeError):
    """The link is not the one the user asked for; connecting again cannot help."""


@dataclass(frozen=True)
class Pinning:
    fingerprint: str | None = None  # 64 lowercase hex digits (app.net.fingerprint.parse_fingerprint)
    insecure: bool = False  # wss:// with any certificate

    def context_for(self, url: str) -> ssl.SSLContext | None:
        """The TLS context to connect to `url` with (None for ws://), or PinRefused."""
        tls = urlsplit(url).scheme == "wss"
        if not tls:
            if self.fingerprint:
                raise PinRefused(f"--fingerprint was given but the station at {url} does not use TLS (ws://); "
                                 "turn tls on at the station, or leave --fingerprint out for a plain link")
            return None
        if not self.fingerprint and not self.insecure:
            raise PinRefused(f"{url} uses TLS but no --fingerprint was given: pass the SHA-256 fingerprint the "
                             "station shows beside its pairing token (or --insecure to accept any certificate: "
                             "encrypted, but not proof that it is your station)")
        # No CA and no host name to check: the fingerprint below is the whole check.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context

    def check(self, ws: ClientConnection) -> None:
        """After the TLS handshake, before a word of the protocol (the token): the station's
        certificate must be the pinned one."""
        if not self.fingerprint:
            return
        tls = ws.transport.get_extra_info("ssl_object")
        der = tls.getpeercert(binary_form=True) if isinstance(tls, ssl.SSLObject) else None
        presented = fingerprint_of(der) if der else "none"
        if presented != self.fingerprint:
            raise PinRefused(f"the station's certificate does not match --fingerprint: expected {self.fingerprint}, "
                             f"it presented {presented}. The token was not sent. Another machine may be posing as the "
                             "station, or the station made a new certificate (its data folder was replaced): "
                             "compare with the fingerprint the station shows")
