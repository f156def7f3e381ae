"""`wipe`: delete from a card exactly the files the station lists, when each is still the file
the station verified (same size, same modified time to the second), and nothing else.

Every folder on the way is opened from the card's root without following symlinks, so no
listed path can reach outside the card; only regular files this Detector listed are deleted.
Empty folders are left as they are.
"""

from __future__ import annotations

import errno
import math
import os
import stat
from dataclasses import dataclass, field
from datetime import datetime

from app.detector.card import Card
from app.detector.station_messages import WipeEntry, WipeRequest

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


@dataclass
class WipeResult:
    deleted: list[str] = field(default_factory=list)
    kept: list[dict[str, str]] = field(default_factory=list)

    def keep(self, path: str, reason: str) -> None:
        self.kept.append({"path": path, "reason": reason})


def _seconds(moment: datetime) -> int:
    """Whole seconds since the epoch, as the card's listing keeps them."""
    return math.floor(moment.timestamp())


def wipe_card(card: Card, request: WipeRequest) -> WipeResult:
    """Blocking (call it on a thread)."""
    result = WipeResult()
    for path in request.malformed:
        result.keep(path, "the entry is malformed")
    seen: set[str] = set()
    for entry in request.files:
        if entry.path in seen:
            continue
        seen.add(entry.path)
        reason = _delete_if_unchanged(card, entry)
        if reason is None:
            result.deleted.append(entry.path)
        else:
            result.keep(entry.path, reason)
    return result


def _delete_if_unchanged(card: Card, entry: WipeEntry) -> str | None:
    """None when deleted, else why the file was kept."""
    listed = card.file(entry.path)
    if listed is None:
        return "not in this card's listing"
    if (listed.size, listed.mtime_s) != (entry.size, _seconds(entry.modified)):
        return "size or modified time differs from this card's listing"
    *folders, name = entry.path.split("/")
    try:
        fd = os.open(card.root, _DIR_FLAGS)
    except OSError as exc:
        return f"the card cannot be opened ({exc.strerror})"
    try:
        for folder in folders:
            child = os.open(folder, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
        info = os.stat(name, dir_fd=fd, follow_symlinks=False)
        if not stat.S_ISREG(info.st_mode):
            return "not a regular file"
        if info.st_size != entry.size:
            return f"size changed ({info.st_size} bytes, verified {entry.size})"
        if math.floor(info.st_mtime) != _seconds(entry.modified):
            return "modified time changed"
        os.unlink(name, dir_fd=fd)
    except FileNotFoundError:
        return "no longer on the card"
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            return "a folder on its path is a link or not a folder"
        return f"not deleted: {exc.strerror or exc}"
    finally:
        os.close(fd)
    return None
