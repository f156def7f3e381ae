"""Can this process open a window? Asked before Qt is imported, so a server never crashes."""

from __future__ import annotations

import os
import sys


def display_problem() -> str | None:
    """None when a window can be shown, else why not."""
    if os.environ.get("QT_QPA_PLATFORM", "").startswith(("offscreen", "minimal")):
        return None
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display (DISPLAY and WAYLAND_DISPLAY are unset)"
    try:
        import PySide6.QtWidgets  # noqa: F401, PLC0415
    except ImportError as exc:
        return f"Qt cannot be loaded ({exc})"
    return None
