"""SHA-256 certificate fingerprints as the station shows them and a Detector is given them
(standard library only: the reference Detector imports this, not the certificate maker)."""

from __future__ import annotations

import hashlib
import re

_HEX64 = re.compile(r"[0-9a-f]{64}")


class BadFingerprint(ValueError):
    """Text that is not a SHA-256 fingerprint."""


def fingerprint_of(der: bytes) -> str:
    """The SHA-256 fingerprint of a certificate in DER form: 64 lowercase hex digits."""
    return hashlib.sha256(der).hexdigest()


def parse_fingerprint(text: str) -> str:
    """A fingerprint as a person copies it (any case, with or without `:` or spaces) → 64 hex digits."""
    cleaned = re.sub(r"[\s:]", "", text).lower()
    if not _HEX64.fullmatch(cleaned):
        raise BadFingerprint(f"a SHA-256 fingerprint is 64 hex digits (colons allowed), got {text[:100]!r}")
    return cleaned
