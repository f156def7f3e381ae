"""The drop zone's branding as it travels with a render step (a worker on another machine
renders the desk's way), and back to the media layer's `Branding`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.config import Settings
from app.media.branding import Branding


def branding_params(settings: Settings) -> dict[str, Any]:
    """Plain data for a step's params. The logo and music paths must be readable where the
    render runs (in a shared setup: on the shared library storage)."""
    return {
        "drop_zone": settings.drop_zone_name, "logo": settings.logo_path or None,
        "intro_s": settings.intro_s, "outro_s": settings.outro_s,
        "music": settings.music_path or None, "music_level_db": settings.music_level_db,
    }


def branding_of(params: dict[str, Any] | None) -> Branding:
    if not params:
        return Branding()
    return Branding(
        drop_zone=str(params.get("drop_zone") or ""),
        logo=Path(params["logo"]) if params.get("logo") else None,
        intro_s=float(params.get("intro_s", 3.0)), outro_s=float(params.get("outro_s", 2.0)),
        music=Path(params["music"]) if params.get("music") else None,
        music_level_db=float(params.get("music_level_db", -18.0)),
    )


def logo_problem(path: str) -> str | None:
    """What is wrong with a logo file, for the settings dialog (None: usable or not set)."""
    if not path.strip():
        return None
    from app.media.branding import load_logo  # noqa: PLC0415 - Pillow only when a logo is set

    return None if load_logo(Path(path).expanduser()) is not None else "not a readable image (PNG with transparency)"


def music_problem(path: str) -> str | None:
    if not path.strip():
        return None
    from app.media.branding import branding_problems  # noqa: PLC0415 - loads FFmpeg

    return "cannot be read as audio" if branding_problems(Branding(music=Path(path).expanduser())) else None
