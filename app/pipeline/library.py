"""The library on disk: `<library>/<date>/<booking_id> <passenger_name>/` per passenger,
`<date>/_unassigned/<card_id>/` for clips nobody claimed, partial uploads in a staging
folder inside the library (so the final move is one atomic rename).

Names are made safe for Windows, macOS and Linux, whatever a QR code or a card says.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from pathlib import Path, PurePosixPath

UNASSIGNED = "_unassigned"
STAGING = ".ingest-staging"
FRAMES = ".ingest-frames"
# Videos whose footage was all moved to other passengers: kept (nothing is deleted), out of the
# passenger's folder, where a hand-off link or the crew would take them for the passenger's own.
RETIRED = ".ingest-retired"
MAX_COMPONENT = 100

_FORBIDDEN = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
# Windows' device names (with any extension, and with spaces before the dot: "CON .txt").
_DIGITS = [*"0123456789", "\u00b9", "\u00b2", "\u00b3"]  # COM¹, COM², COM³ are devices too
_RESERVED = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$",
             *(f"COM{d}" for d in _DIGITS), *(f"LPT{d}" for d in _DIGITS)}
_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,10}")  # an extension worth keeping when a name is cut


def safe_component(text: str, fallback: str = "unnamed") -> str:
    """One path component that every desktop OS accepts and that cannot climb out."""
    text = unicodedata.normalize("NFC", text)
    text = _FORBIDDEN.sub("_", text)
    text = re.sub(r"\s+", " ", text).strip().rstrip(". ")
    if text in ("", ".", ".."):
        text = fallback
    if text.split(".")[0].rstrip(" ").upper() in _RESERVED:
        text = "_" + text
    stem, suffix = _split_suffix(text)
    return _fit(stem, suffix) or fallback


def numbered(name: str, n: int) -> str:
    """`name` with ` (n)` before its extension, still within MAX_COMPONENT bytes."""
    stem, suffix = _split_suffix(name)
    return _fit(stem, f" ({n}){suffix}")


def _split_suffix(name: str) -> tuple[str, str]:
    stem, dot, ext = name.rpartition(".")
    if dot and stem and _SUFFIX.fullmatch(dot + ext):
        return stem, dot + ext
    return name, ""


def _fit(stem: str, tail: str) -> str:
    """`stem + tail` cut to MAX_COMPONENT UTF-8 bytes by shortening the stem, so a long name keeps
    its extension (never cut inside a character, never ending in a dot or space before the tail)."""
    room = MAX_COMPONENT - len(tail.encode("utf-8"))
    cut = stem.encode("utf-8")[:room].decode("utf-8", errors="ignore").rstrip(". ")
    return cut + tail if cut else ""


def jump_folder_name(booking_id: str, passenger_name: str) -> str:
    return safe_component(f"{booking_id} {passenger_name}")


def video_name(jump) -> str:
    """The rendered video's file name in the jump's folder."""
    return safe_component(f"{jump.booking_id} {jump.passenger_name}") + ".mp4"


def preview_path(video: Path) -> Path:
    """The watermarked low-resolution preview beside a passenger's video (shown before a sale)."""
    return video.with_name(video.stem + " (preview).mp4")


class Library:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def staging_root(self) -> Path:
        """Partial uploads live inside the library so filing a verified file is one rename."""
        return self.root / STAGING

    def staging_dir(self, execution_id: int) -> Path:
        return self.staging_root / str(execution_id)

    def staged_path(self, execution_id: int, file_id: int, card_path: str = "") -> Path:
        """Where a verified upload lands before it is filed. Named by the station's own file id,
        never by the card's name: two card names that clean to one (`a?b.MP4`, `a_b.MP4`) must
        not share a file. The card's extension is kept for tools that look at it."""
        suffix = PurePosixPath(card_path).suffix
        return self.staging_dir(execution_id) / "files" / f"{int(file_id)}{suffix if _SUFFIX.fullmatch(suffix) else ''}"

    def frames_dir(self, execution_id: int) -> Path:
        """The frames where passengers' codes were read (thumbnails in the window). In the
        library, not a worker's data folder, so the station's window finds them in a shared setup."""
        return self.root / FRAMES / str(execution_id)

    def partial_path(self, execution_id: int, file_id: int, card_path: str = "") -> Path:
        """The bytes of an upload still arriving (kept for a resume); `cleanup` removes leftovers."""
        staged = self.staged_path(execution_id, file_id, card_path)
        return staged.with_name(staged.name + ".partial")

    def jump_dir(self, day: str, booking_id: str, passenger_name: str) -> Path:
        return self.root / day / jump_folder_name(booking_id, passenger_name)

    def retired_dir(self, day: str, folder_name: str) -> Path:
        return self.root / RETIRED / day / safe_component(folder_name)

    def unassigned_dir(self, day: str, card_id: str) -> Path:
        return self.root / day / UNASSIGNED / safe_component(card_id)

    def contains(self, path: Path) -> bool:
        try:
            Path(os.path.realpath(path)).relative_to(os.path.realpath(self.root))
            return True
        except ValueError:
            return False


def move_into(source: Path, folder: Path, name: str | None = None) -> Path:
    """Atomically move a file into `folder` as `name` (cleaned), never overwriting another file:
    a name taken already is numbered (`a_b (2).MP4`)."""
    folder.mkdir(parents=True, exist_ok=True)
    first = safe_component(name or source.name)
    target = folder / first
    if source.resolve() == target.resolve():
        return target
    n = 1
    while not _place(source, target):
        n += 1
        target = folder / numbered(first, n)
    return target


def _place(source: Path, target: Path) -> bool:
    """Move `source` to `target` unless `target` exists; False when it does."""
    try:
        os.link(source, target)  # fails when the name is taken, even if another process just took it
    except FileExistsError:
        if not os.path.samefile(source, target):
            return False  # another file: try the next name
        # linked before a crash, not unlinked yet: finish the move
    except OSError:  # a filesystem without hard links (FAT, some network shares)
        if os.path.lexists(target):
            return False
        os.replace(source, target)  # same filesystem: the library holds the staging folder
        return True
    os.unlink(source)
    return True


def already_filed(folder: Path, name: str, size: int, sha256: str | None) -> Path | None:
    """The file that `move_into(…, folder, name)` placed before a crash, found by its bytes (its
    name may carry a number when another clip's name cleaned to the same)."""
    first = safe_component(name)
    if not folder.is_dir() or sha256 is None:
        return None
    number = re.compile(r" \((\d+)\)" + re.escape(_split_suffix(first)[1]) + "$")
    for candidate in sorted(folder.iterdir()):
        found = number.search(candidate.name)
        if candidate.name != first and not (found and candidate.name == numbered(first, int(found.group(1)))):
            continue
        if candidate.is_file() and candidate.stat().st_size == size and _sha256(candidate) == sha256:
            return candidate
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(8 * 1024 * 1024):
            digest.update(block)
    return digest.hexdigest()
