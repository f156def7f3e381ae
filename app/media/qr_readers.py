"""Read QR codes in a grayscale image with three libraries, best first.

`read_zxing` (zxing-cpp: fast and robust on blurred, tilted and perspective codes) is the main
reader; `read_pyzbar` and `read_opencv` are fallbacks for the rare frame it misses. Each returns
the texts of the QR codes it found (UTF-8 decoded from the symbol's bytes), [] when none.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import cv2
import numpy as np
import zxingcpp

log = logging.getLogger(__name__)

Reader = Callable[[np.ndarray], list[str]]


def _text(raw: bytes, fallback: str = "") -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return fallback or raw.decode("latin-1")


def read_zxing(gray: np.ndarray) -> list[str]:
    results = zxingcpp.read_barcodes(gray, formats=zxingcpp.BarcodeFormat.QRCode)
    return [_text(r.bytes, r.text) for r in results if r.valid]


def read_pyzbar(gray: np.ndarray) -> list[str]:
    from pyzbar import pyzbar  # noqa: PLC0415 - loads libzbar only when a fallback is needed

    try:
        symbols = pyzbar.decode(np.ascontiguousarray(gray), symbols=[pyzbar.ZBarSymbol.QRCODE])
    except Exception as exc:  # noqa: BLE001 - a broken libzbar must not stop the other readers
        log.debug("pyzbar failed: %s", exc)
        return []
    return [_text(s.data) for s in symbols]


_opencv_detector: cv2.QRCodeDetector | None = None


def read_opencv(gray: np.ndarray) -> list[str]:
    global _opencv_detector
    if _opencv_detector is None:
        _opencv_detector = cv2.QRCodeDetector()
    try:
        ok, texts, _, _ = _opencv_detector.detectAndDecodeMulti(gray)
    except cv2.error as exc:
        log.debug("OpenCV QR failed: %s", exc)
        return []
    return [t for t in texts if t] if ok else []


PRIMARY: tuple[tuple[str, Reader], ...] = (("zxing", read_zxing),)
FALLBACKS: tuple[tuple[str, Reader], ...] = (("pyzbar", read_pyzbar), ("opencv", read_opencv))
