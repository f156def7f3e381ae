"""The headless console's writer: a line never waits for the console; past its bound the oldest
waiting lines are dropped, and the console is told how many."""

from __future__ import annotations

import fcntl
import os
import threading

from app.console_out import ConsoleOut

F_SETPIPE_SZ = 1031


def test_lines_wait_for_a_stalled_console_and_the_dropped_ones_are_counted():
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, F_SETPIPE_SZ, 4096)
    console = ConsoleOut(os.fdopen(write_end, "w", encoding="utf-8"), max_waiting=50)
    for n in range(500):  # ~100 KiB: far more than the pipe holds; not one call may block
        console.line(f"line {n:03d} " + "x" * 200)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.extend(os.fdopen(read_end, encoding="utf-8")))
    reader.start()
    console.close(timeout_s=10)
    console.out.close()
    reader.join(10)
    text = "".join(received)
    assert "line 499 " in text  # the newest lines waited and went out
    [note] = [line for line in received if "console lines not shown" in line]
    shown = sum(1 for line in received if line.startswith("line "))
    assert shown >= 50 and int(note.split()[1]) == 500 - shown
