"""Pictures of a QR code as a camera would film it: a printed card, sharp or degraded.

Used by the generated sample clips (`samples.py`). A `QrLook` says how the card appears in the
frame; `LOOKS` holds the named variants tests and the benchmark use. Everything is grayscale
uint8 (the luma plane of the video).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import qrcode
import qrcode.constants


@dataclass(frozen=True)
class QrLook:
    """How a QR card appears: its size and the ways the camera spoils it."""

    height_frac: float = 0.45  # card height as a share of the frame height
    blur_sigma: float = 0.0  # Gaussian blur, in pixels of a 1080p frame
    motion_px: int = 0  # length of a horizontal motion blur, in pixels of a 1080p frame
    rotate_deg: float = 0.0  # in-plane tilt
    perspective: float = 0.0  # 0..0.5: how far the card leans away (keystone)
    noise_sigma: float = 0.0  # sensor noise on the card
    contrast: float = 1.0  # 1: black on white; lower: washed out (sun glare)


LOOKS: dict[str, QrLook] = {
    "sharp": QrLook(),
    "blurred": QrLook(blur_sigma=2.2),
    "motion": QrLook(motion_px=9),
    "tilted": QrLook(rotate_deg=28.0),
    "small": QrLook(height_frac=0.17),
    "perspective": QrLook(perspective=0.32, rotate_deg=8.0),
    "noisy": QrLook(noise_sigma=18.0, contrast=0.75),
    "glare": QrLook(contrast=0.45, blur_sigma=1.0),
}
DEGRADED_LOOKS = tuple(name for name in LOOKS if name != "sharp")


def qr_modules(text: str) -> np.ndarray:
    """The QR symbol as a boolean matrix (True = dark), with the standard 4-module quiet zone."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    code.add_data(text.encode("utf-8"))
    code.make(fit=True)
    return np.array(code.get_matrix(), dtype=bool)


def qr_card(text: str, frame_height: int, look: QrLook, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The card as filmed: (gray image, alpha mask 0..1), both the same shape, ready to paste."""
    modules = qr_modules(text)
    side = max(int(frame_height * look.height_frac), modules.shape[0])
    scale = frame_height / 1080.0
    dark, light = _inks(look.contrast)
    symbol = np.where(modules, dark, light).astype(np.uint8)
    card = cv2.resize(symbol, (side, side), interpolation=cv2.INTER_NEAREST)
    alpha = np.ones(card.shape, np.float32)
    if look.rotate_deg or look.perspective:
        card, alpha = _warp(card, alpha, look, light)
    if look.blur_sigma:
        card = cv2.GaussianBlur(card, (0, 0), look.blur_sigma * scale)
    if look.motion_px:
        length = max(2, int(look.motion_px * scale))
        kernel = np.full((1, length), 1.0 / length, np.float32)
        card = cv2.filter2D(card, -1, kernel)
    if look.noise_sigma:
        noise = rng.normal(0.0, look.noise_sigma, card.shape)
        card = np.clip(card.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    return card, alpha


def paste(frame: np.ndarray, card: np.ndarray, alpha: np.ndarray, x: int, y: int) -> None:
    """Blend the card into the frame at (x, y), clipped to the frame's edges (in place)."""
    h, w = card.shape
    fh, fw = frame.shape
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, fw), min(y + h, fh)
    if x0 >= x1 or y0 >= y1:
        return
    patch = card[y0 - y : y1 - y, x0 - x : x1 - x].astype(np.float32)
    a = alpha[y0 - y : y1 - y, x0 - x : x1 - x]
    region = frame[y0:y1, x0:x1].astype(np.float32)
    frame[y0:y1, x0:x1] = (patch * a + region * (1.0 - a)).astype(np.uint8)


def _inks(contrast: float) -> tuple[int, int]:
    span = 235 * max(0.05, min(contrast, 1.0))
    mid = 128 + (1.0 - contrast) * 60  # washed-out prints drift towards light grey
    return int(max(0, mid - span / 2)), int(min(255, mid + span / 2))


def _warp(card: np.ndarray, alpha: np.ndarray, look: QrLook, light: int) -> tuple[np.ndarray, np.ndarray]:
    """Tilt the card in the image plane and lean it away from the camera (keystone)."""
    side = card.shape[0]
    pad = side // 2
    src = np.float32([[0, 0], [side, 0], [side, side], [0, side]])
    inset = side * look.perspective / 2
    dst = np.float32([[inset, 0], [side - inset, 0], [side, side], [0, side]])  # top edge farther away
    dst[:, 1] = dst[:, 1] * (1.0 - look.perspective / 3)
    theta = np.deg2rad(look.rotate_deg)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]], np.float32)
    centre = dst.mean(axis=0)
    dst = (dst - centre) @ rot.T + pad + side / 2
    matrix = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    size = (side + 2 * pad, side + 2 * pad)
    warped = cv2.warpPerspective(card, matrix, size, flags=cv2.INTER_LINEAR, borderValue=light)
    mask = cv2.warpPerspective(alpha, matrix, size, flags=cv2.INTER_LINEAR, borderValue=0.0)
    return warped, mask
