"""What a file on a card is, by its extension."""

from __future__ import annotations

from pathlib import PurePosixPath

VIDEO = "video"
PHOTO = "photo"
PROXY = "proxy"  # GoPro's low-resolution previews and thumbnails
OTHER = "other"

_KINDS = {
    VIDEO: {".mp4", ".mov", ".m4v", ".mts", ".avi", ".mkv", ".360"},
    PHOTO: {".jpg", ".jpeg", ".png", ".heic", ".gpr", ".dng"},
    PROXY: {".lrv", ".thm"},
}


def kind_of(path: str) -> str:
    suffix = PurePosixPath(path).suffix.lower()
    for kind, suffixes in _KINDS.items():
        if suffix in suffixes:
            return kind
    return OTHER


def is_imported_kind(kind: str, import_proxies: bool) -> bool:
    return kind in (VIDEO, PHOTO) or (import_proxies and kind == PROXY)
