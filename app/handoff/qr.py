"""The hand-off link as a QR code picture (PNG bytes) for the window to show."""

from __future__ import annotations

import cv2
import numpy as np

from app.media.qr_art import qr_modules

MODULE_PX = 8


def qr_png(text: str, module_px: int = MODULE_PX) -> bytes:
    """Black modules on white, with the standard quiet zone; sharp at any size a phone scans."""
    modules = qr_modules(text)
    picture = np.where(modules, 0, 255).astype(np.uint8)
    picture = np.kron(picture, np.ones((module_px, module_px), np.uint8))
    ok, encoded = cv2.imencode(".png", picture)
    if not ok:
        raise RuntimeError("cannot encode the QR code as PNG")
    return encoded.tobytes()
