"""Smoke check: every passenger of a sample card has their folder in the library.

Usage: check_library.py CARD_JSON LIBRARY
CARD_JSON is what `ingest-station sample-card DIR` printed. For each passenger the library
must hold `<date>/<booking id> <name>/` with a passenger.json naming them and each of their
clips and photos (in the camera's subfolder), byte for byte the size it has on the card. Exit 1 with the reason otherwise.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def check_passenger(passenger: dict, card_root: Path, library: Path) -> str | None:
    """None when the passenger's folder is complete, else what is wrong."""
    booking = passenger["booking_id"]
    documents = [p for p in library.glob("*/*/passenger.json")
                 if json.loads(p.read_text(encoding="utf-8")).get("booking_id") == booking]
    if len(documents) != 1:
        return f"{booking}: expected one folder with its passenger.json, found {len(documents)}"
    folder = documents[0].parent
    document = json.loads(documents[0].read_text(encoding="utf-8"))
    if document.get("passenger_name") != passenger["passenger_name"]:
        return f"{booking}: passenger.json names {document.get('passenger_name')!r}, the card {passenger['passenger_name']!r}"
    for card_path in [*passenger["clips"], *passenger["photos"]]:
        found = [p for p in folder.glob(f"*/{Path(card_path).name}") if p.is_file()]  # <camera>/<clip>
        expected = (card_root / card_path).stat().st_size
        if len(found) != 1:
            return f"{booking}: {Path(card_path).name} is missing from {folder}'s camera folders"
        filed = found[0]
        if filed.stat().st_size != expected:
            return f"{booking}: {filed} has {filed.stat().st_size} bytes, the card {expected}"
    print(f"  {folder.relative_to(library)}: {len(passenger['clips'])} clip(s), {len(passenger['photos'])} photo(s)")
    return None


def main(card_json: str, library: str) -> int:
    card = json.loads(Path(card_json).read_text(encoding="utf-8"))
    passengers = card["passengers"]
    if not passengers:
        print("the sample card has no passengers", file=sys.stderr)
        return 1
    problems = [p for p in (check_passenger(x, Path(card["root"]), Path(library)) for x in passengers) if p]
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
