"""`ingest-station sample-card DIR`: write a generated GoPro-style SD card (for demos and tests).

Prints the card's description as JSON: the passengers, which files belong to whom, the
unassigned clips and the proxies. Writes only under DIR.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from app.config import Settings

DEFAULT_NAMES = ("Ana Silva", "Benoît Müller", "Chen Jing", "Dara O'Neill", "Emeka Obi", "Fatima Zahra")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("sample-card", help="write a generated GoPro-style SD card into DIR")
    parser.add_argument("dir", metavar="DIR", type=Path, help="folder to write the card into (created if missing)")
    parser.add_argument("--passengers", type=int, default=2, metavar="N", help="passengers on the card (default 2)")
    parser.add_argument("--size", default="640x360", metavar="WxH", help="clip resolution (default 640x360)")
    parser.add_argument("--date", default="2026-11-23", metavar="YYYY-MM-DD", help="day of the jumps (default 2026-11-23)")
    parser.set_defaults(handler=run_sample_card)


def run_sample_card(args: argparse.Namespace, settings: Settings) -> int:
    from app.media.sample_card import write_sample_card  # noqa: PLC0415 - PyAV loads only for this command

    try:
        width, height = (int(part) for part in args.size.lower().split("x"))
        start = datetime.fromisoformat(args.date).replace(hour=10, tzinfo=timezone.utc)
    except ValueError:
        print(f"error: --size must look like 640x360 and --date like 2026-11-23 (got {args.size}, {args.date})",
              file=sys.stderr)
        return 2
    if not 1 <= args.passengers <= 99:
        print("error: --passengers must be between 1 and 99", file=sys.stderr)
        return 2
    if width % 2 or height % 2 or width < 64 or height < 64:
        print("error: width and height must be even and at least 64", file=sys.stderr)
        return 2
    passengers = tuple((f"BK-{start.year}-{1042 + i}", DEFAULT_NAMES[i % len(DEFAULT_NAMES)]) for i in range(args.passengers))
    card = write_sample_card(args.dir, passengers=passengers, width=width, height=height, start=start)
    print(json.dumps(card.describe(), indent=2, ensure_ascii=False))
    return 0
