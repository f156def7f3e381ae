"""The HTTP `Range` header (RFC 9110 §14), for one file of a known size."""

from __future__ import annotations

import re

MAX_HEADER = 200
_SPEC = re.compile(r"^\s*(\d{0,19})\s*-\s*(\d{0,19})\s*$")


class UnsatisfiableRange(ValueError):
    """Malformed, or outside the file: the answer is 416 with `Content-Range: bytes */size`."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one byte range asked for, as (first, last) inclusive; None means the whole file.

    Several ranges at once are valid HTTP but no player asks for them: they are checked, then
    ignored (a server may ignore `Range`), so the whole file is sent.
    """
    if header is None:
        return None
    if len(header) > MAX_HEADER:
        raise UnsatisfiableRange("range header too long")
    unit, sep, specs = header.partition("=")
    if unit.strip().lower() != "bytes" or not sep:
        raise UnsatisfiableRange(f"not a byte range: {header!r}")
    ranges = [_one(spec, size) for spec in specs.split(",")]
    return ranges[0] if len(ranges) == 1 else None


def _one(spec: str, size: int) -> tuple[int, int]:
    match = _SPEC.match(spec)
    if match is None or not (match[1] or match[2]):
        raise UnsatisfiableRange(f"malformed range: {spec!r}")
    first, last = match[1], match[2]
    if not first:  # "-N": the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            raise UnsatisfiableRange("empty suffix range")
        return max(0, size - length), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if end < start:
        raise UnsatisfiableRange(f"range ends before it starts: {spec!r}")
    if start >= size:
        raise UnsatisfiableRange(f"range starts after the end of the file ({size} bytes)")
    return start, min(end, size - 1)
