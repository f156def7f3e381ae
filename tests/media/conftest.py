"""Generated clips shared by the media tests (small: 320x240 or 480x270, a few seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.media.samples import passenger_text

ANA = passenger_text("BK-2026-1042", "Ana Silva", email="ana@example.org")
BEN = passenger_text("BK-2026-1043", "Benoît Müller")


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")
