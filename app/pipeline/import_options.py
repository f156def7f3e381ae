"""The station's choices for one card import, kept with the execution."""

from __future__ import annotations

from dataclasses import dataclass

from app.config import Settings
from app.db.models import PipelineExecution


@dataclass(frozen=True)
class ImportOptions:
    """The station's choices for one import. They travel with the execution, so a worker on
    another machine (with its own config file) imports the card the way the desk asked."""

    small_file_bytes: int
    qr_window_s: float
    qr_interval_s: float
    import_proxies: bool
    probe_head_bytes: int = 64 * 1024 * 1024  # a big clip's head searched when its index cannot be read (`range`)
    index_head_bytes: int = 256 * 1024  # a big clip's first bytes asked to find its index (`range`)

    @classmethod
    def from_settings(cls, settings: Settings) -> ImportOptions:
        return cls(settings.small_file_bytes, settings.qr_window_s, settings.qr_interval_s, settings.import_proxies,
                   settings.probe_head_bytes, settings.index_head_bytes)

    @classmethod
    def of(cls, execution: PipelineExecution, settings: Settings) -> ImportOptions:
        """The options the execution was started with (the local settings for an older one)."""
        stored = (execution.params or {}).get("options")
        return cls(**stored) if stored else cls.from_settings(settings)
