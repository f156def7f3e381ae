"""SHA-256 of a whole file, read in large blocks without a copy per block (library checks:
`ingest-station verify`, the card's read-back)."""

from __future__ import annotations

import hashlib
from pathlib import Path

READ_BYTES = 1024 * 1024


def hash_file(path: Path) -> tuple[int, str]:
    """(size, SHA-256 hex) of the file's bytes as they read back now."""
    hasher = hashlib.sha256()
    size = 0
    with open(path, "rb", buffering=0) as fh:
        buffer = bytearray(READ_BYTES)
        view = memoryview(buffer)
        while n := fh.readinto(buffer):
            hasher.update(view[:n])
            size += n
    return size, hasher.hexdigest()
