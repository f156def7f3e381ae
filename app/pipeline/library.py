"""The library on disk: `<library>/<date>/<booking_id> <passenger_name>/` per passenger,
`<date>/_unassigned/<card_id>/` for clips nobody claimed, partial uploads in a staging
folder inside the library (so the final move is one atomic rename).

Names are made safe for Windows, macOS and Linux, whatever a QR code or a card says.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path, PurePosixPath

UNASSIGNED = "_unassigned"
STAGING = ".ingest-staging"
FRAMES = ".ingest-frames"
MAX_COMPONENT = 100

_FORBIDDEN = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


def safe_component(text: str, fallback: str = "unnamed") -> str:
    """One path component that every desktop OS accepts and that cannot climb out."""
    text = unicodedata.normalize("NFC", text)
    text = _FORBIDDEN.sub("_", text)
    text = re.sub(r"\s+", " ", text).strip().rstrip(". ")
    if text in ("", ".", ".."):
        text = fallback
    if text.split(".")[0].upper() in _RESERVED:
        text = "_" + text
    encoded = text.encode("utf-8")[:MAX_COMPONENT]
    return encoded.decode("utf-8", errors="ignore").rstrip(". ") or fallback


def jump_folder_name(booking_id: str, passenger_name: str) -> str:
    return safe_component(f"{booking_id} {passenger_name}")


def video_name(jump) -> str:
    """The rendered video's file name in the jump's folder."""
    return safe_component(f"{jump.booking_id} {jump.passenger_name}") + ".mp4"


class Library:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def staging_dir(self, execution_id: int) -> Path:
        return self.root / STAGING / str(execution_id)

    def staged_path(self, execution_id: int, card_path: str) -> Path:
        """Where a verified upload lands before it is filed (mirrors the card's tree)."""
        parts = [safe_component(p) for p in PurePosixPath(card_path).parts]
        return self.staging_dir(execution_id).joinpath("files", *parts)

    def frames_dir(self, execution_id: int) -> Path:
        """The frames where passengers' codes were read (thumbnails in the window). In the
        library, not a worker's data folder, so the station's window finds them in a shared setup."""
        return self.root / FRAMES / str(execution_id)

    def partial_path(self, execution_id: int, card_path: str) -> Path:
        staged = self.staged_path(execution_id, card_path)
        return staged.with_name(staged.name + ".partial")

    def jump_dir(self, day: str, booking_id: str, passenger_name: str) -> Path:
        return self.root / day / jump_folder_name(booking_id, passenger_name)

    def unassigned_dir(self, day: str, card_id: str) -> Path:
        return self.root / day / UNASSIGNED / safe_component(card_id)

    def contains(self, path: Path) -> bool:
        try:
            Path(os.path.realpath(path)).relative_to(os.path.realpath(self.root))
            return True
        except ValueError:
            return False


def move_into(source: Path, folder: Path, name: str | None = None) -> Path:
    """Atomically move a file into `folder`, never overwriting another file."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / safe_component(name or source.name)
    if source.resolve() == target.resolve():
        return target
    stem, suffix, n = target.stem, target.suffix, 1
    while target.exists():
        n += 1
        target = folder / f"{stem} ({n}){suffix}"
    os.replace(source, target)  # same filesystem: the library holds the staging folder
    return target
