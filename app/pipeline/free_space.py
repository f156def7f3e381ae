"""Room on the library's disk before files are asked for.

A disk filled by an import fails every write at once: uploads, renders, the database beside
the library, the system. So a step asks for a jump's files only when they fit with a reserve
left free (`library_reserve_bytes`); otherwise it fails with a sentence the crew can act on, and
"Retry" after freeing space goes on where it stopped. Nothing is asked for, nothing written.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from app.pipeline.base import StepFailure
from app.units import human_bytes


class LibraryFull(StepFailure):
    """The files asked for do not fit on the library's disk with the reserve kept free: the step
    asking for them fails with this sentence (no traceback, no automatic retry)."""


def free_bytes(library: Path) -> int:
    """Free bytes on the disk the library is (or will be) on: its nearest existing folder."""
    folder = Path(library).absolute()
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    return shutil.disk_usage(folder).free


@dataclass(frozen=True)
class LibraryRoom:
    """The room left on the library's disk, as the window's status line and the headless
    console show it: "low" under twice the reserve (imports stop at the reserve)."""

    free: int | None  # None: the disk cannot be read (a share that is gone)
    reserve: int

    @property
    def state(self) -> str:
        if self.free is None:
            return "unreachable"
        return "low" if self.free < 2 * self.reserve else "ok"


def check_room(library: Path, needed: int, reserve: int) -> None:
    """Raise LibraryFull when `needed` bytes would eat into the `reserve`."""
    if needed <= 0:
        return
    free = free_bytes(library)
    if needed + reserve > free:
        raise LibraryFull(
            f"the library's disk ({library}) has {human_bytes(free)} free: the files asked for need {human_bytes(needed)}, "
            f"and {human_bytes(reserve)} is kept free for the database and the videos. Free some space "
            "(or move the library to a bigger disk), then retry")
