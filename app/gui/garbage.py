"""Garbage collection on the GUI thread only, in small steps.

Python's automatic collector runs on whichever thread happens to allocate: on a database or
worker thread it can destroy Qt objects there (Qt then crashes later, firing a timer of a
freed object), and a full collection of this program's large heap (Qt, SQLAlchemy, FFmpeg
bindings) stops every thread for 100-300 ms. So, while the window runs: everything alive
after start-up is frozen out of the collector's sight, automatic collection is off, and a
timer on the GUI thread collects each generation when its threshold is passed (the approach
pyqtgraph's GarbageCollector takes).
"""

from __future__ import annotations

import gc
import time

from PySide6.QtCore import QObject, QTimer


class GuiThreadCollector(QObject):
    def __init__(self, interval_ms: int = 500, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thresholds = gc.get_threshold()
        self.longest_ms = 0.0
        self._timer = QTimer(self, interval=interval_ms)
        self._timer.timeout.connect(self.check)
        self._was_enabled = gc.isenabled()

    def start(self) -> None:
        gc.collect()
        gc.freeze()  # the start-up heap: modules, the station, the window
        gc.disable()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        gc.unfreeze()
        if self._was_enabled:
            gc.enable()

    def check(self) -> None:
        started = time.perf_counter()
        first, second, third = gc.get_count()
        if first > self.thresholds[0]:
            gc.collect(0)
            if second > self.thresholds[1]:
                gc.collect(1)
                if third > self.thresholds[2]:
                    gc.collect(2)
        self.longest_ms = max(self.longest_ms, 1000 * (time.perf_counter() - started))
