"""Where the program's own files live: a source checkout or a PyInstaller bundle.

Every lookup of a bundled file (resources, migrations, the redis-server binary) goes
through here, so nothing else in the code assumes a source checkout.
"""

from __future__ import annotations

import sys
from pathlib import Path


def bundle_root() -> Path:
    """The folder holding `resources/` and `migrations/`."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root)
    return Path(__file__).resolve().parent.parent


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def resource_path(*parts: str) -> Path:
    return bundle_root().joinpath("resources", *parts)


def migrations_path() -> Path:
    return bundle_root() / "migrations"


def bundled_binary(name: str) -> Path | None:
    """A helper binary shipped inside the one-file build (e.g. redis-server)."""
    if not is_frozen():
        return None
    candidate = bundle_root() / "bin" / name
    return candidate if candidate.exists() else None
