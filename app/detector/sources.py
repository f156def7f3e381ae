"""Where the Detector's cards come from: one folder (`--card`) or mounts under a root (`--watch`)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Protocol

from app.detector.card import Card, read_card

# A mounted card sits at ROOT/CARD or ROOT/USER/CARD (udisks: /media/USER/LABEL).
WATCH_DEPTH = 2


class CardSource(Protocol):
    async def scan(self) -> dict[str, Card]:
        """The cards present now, by card id."""
        ...


class SingleCard:
    """`--card DIR`: one folder served as a card for as long as it exists."""

    def __init__(self, root: Path, card_id: str | None = None) -> None:
        self.root = Path(root)
        self.card_id = card_id
        self._card: Card | None = None

    async def scan(self) -> dict[str, Card]:
        if not self.root.is_dir():
            self._card = None  # removed: read it afresh when it is back
            return {}
        if self._card is None:
            self._card = await asyncio.to_thread(read_card, self.root, self.card_id)
        return {self._card.card_id: self._card}


def find_card_roots(root: Path, depth: int = WATCH_DEPTH) -> list[Path]:
    """Folders under `root` (itself included) that hold a `DCIM/` folder."""
    found: list[Path] = []
    level = [root]
    for _ in range(depth + 1):
        deeper: list[Path] = []
        for folder in level:
            try:
                if (folder / "DCIM").is_dir():
                    found.append(folder)
                    continue
                deeper.extend(sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")))
            except OSError:
                continue  # unmounted while looking
        level = deeper
    return found


class WatchedRoot:
    """`--watch ROOT`: every card mounted under ROOT. A card is listed again only when it was
    inserted again (its folder appeared anew), not on every scan."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._known: dict[Path, Card] = {}

    async def scan(self) -> dict[str, Card]:
        roots = await asyncio.to_thread(find_card_roots, self.root)
        present: dict[Path, Card] = {}
        for folder in roots:
            card = self._known.get(folder)
            if card is None:
                card = await asyncio.to_thread(read_card, folder)
            present[folder] = card
        self._known = present
        return {card.card_id: card for card in present.values()}
