"""The headless desk is told when the library's disk runs low, cannot be read, or has room
again: once per change, read from the real disk (the reserve is what moves here)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from types import SimpleNamespace

from app.headless import watch_library_room
from app.pipeline.free_space import LibraryRoom, free_bytes


class DeskDisk:
    """The station's part the watch reads: the library's real free bytes, or None (unplugged)."""

    def __init__(self, library: Path) -> None:
        self.settings = SimpleNamespace(library=library, library_reserve_bytes=0)
        self.unplugged = False
        self.reads = 0

    def library_room(self) -> LibraryRoom:
        self.reads += 1
        free = None if self.unplugged else free_bytes(self.settings.library)
        return LibraryRoom(free, self.settings.library_reserve_bytes)

    async def read_again(self, times: int = 3) -> None:
        """Until the watch has read the disk `times` more times (a positive marker, not a pause)."""
        target = self.reads + times
        for _ in range(500):
            if self.reads >= target:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the watch stopped reading the disk")


class Console:
    """What the watch says, kept as it says it (the real ConsoleOut writes on a thread of its own)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def line(self, text: str) -> None:
        self.lines.append(text)


async def _said(console: Console, count: int) -> list[str]:
    for _ in range(500):
        if len(console.lines) >= count:
            return console.lines
        await asyncio.sleep(0.01)
    raise AssertionError(f"expected {count} lines, got {console.lines!r}")


async def test_low_unreachable_and_room_again_are_each_said_once(tmp_path):
    console = Console()
    disk = DeskDisk(tmp_path)
    watch = asyncio.create_task(watch_library_room(disk, console, every_s=0.02))
    try:
        await disk.read_again()
        assert console.lines == []  # room: nothing said
        disk.settings.library_reserve_bytes = free_bytes(tmp_path)  # now under twice the reserve
        [low] = await _said(console, 1)
        assert re.fullmatch(rf"library disk low: [\d.]+ [KMGT]?B free in {re.escape(str(tmp_path))}; imports stop "
                            r"when a card's files would leave less than [\d.]+ [KMGT]?B", low), low
        await disk.read_again()
        assert len(console.lines) == 1  # said once, not on every check
        disk.unplugged = True
        assert (await _said(console, 2))[1] == f"library disk cannot be read: {tmp_path}"
        disk.unplugged, disk.settings.library_reserve_bytes = False, 0
        assert re.fullmatch(r"library disk: [\d.]+ [KMGT]?B free again", (await _said(console, 3))[2])
    finally:
        watch.cancel()

