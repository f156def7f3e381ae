"""Which clips belong to which passenger's jump (docs/protocol.md, "Which clips belong to a jump").

On one card, files sorted by modified time: a clip carrying a passenger QR code opens that
passenger's jump, which holds it and every later file up to the next passenger clip. Files
before the first passenger clip are unassigned.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class CardFile(Generic[K]):
    ref: K  # whatever identifies the file to the caller (a row id, a path)
    path: str
    modified: datetime
    passenger: dict[str, Any] | None = None  # the QR payload when this clip opens a jump


@dataclass
class JumpGroup(Generic[K]):
    passenger: dict[str, Any] | None  # None: the card's unassigned files
    opened_by: K | None = None
    files: list[K] = field(default_factory=list)

    @property
    def unassigned(self) -> bool:
        return self.passenger is None


def group_into_jumps(files: Sequence[CardFile[K]]) -> list[JumpGroup[K]]:
    """Unassigned group first (only when it has files), then one group per passenger clip."""
    ordered = sorted(files, key=lambda f: (f.modified, f.path))
    unassigned: JumpGroup[K] = JumpGroup(passenger=None)
    groups: list[JumpGroup[K]] = []
    current = unassigned
    for card_file in ordered:
        if card_file.passenger is not None:
            current = JumpGroup(passenger=card_file.passenger, opened_by=card_file.ref)
            groups.append(current)
        current.files.append(card_file.ref)
    return ([unassigned] if unassigned.files else []) + groups
