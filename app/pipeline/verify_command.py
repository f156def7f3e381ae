"""`ingest-station verify [--since DAY]`: read the library back and compare it with the records.

Prints each missing, changed and unrecorded file, then a summary; exit code 0 when the library
matches its records, 1 when anything differs, 2 when it cannot run.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date

from app.cli_options import storage_options
from app.config import Settings

EXIT_CLEAN = 0
EXIT_DIFFERENCES = 1
EXIT_CANNOT_RUN = 2


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:

    verify = commands.add_parser("verify", help="re-read the library and compare every file with its record (SHA-256)")
    storage_options(verify)
    verify.add_argument("--since", metavar="DAY", help="only the library's day folders from DAY (YYYY-MM-DD) on")
    verify.set_defaults(handler=run_verify)


def run_verify(args: argparse.Namespace, settings: Settings) -> int:
    from app.db.types import utcnow  # noqa: PLC0415
    from app.pipeline.cli_commands import _open_db  # noqa: PLC0415 - schema checked, one thread
    from app.pipeline.library_identity import LibraryUnreachable, check_reachable, recorded_library  # noqa: PLC0415
    from app.pipeline.verify import verify_library  # noqa: PLC0415

    since = args.since
    if since is not None:
        try:
            since = date.fromisoformat(since).isoformat()
        except ValueError:
            print(f"error: --since must be a day as YYYY-MM-DD, got {since!r}", file=sys.stderr)
            return EXIT_CANNOT_RUN
    try:
        db = _open_db(settings)
    except Exception as exc:  # noqa: BLE001 - any database problem is reported the same way
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    try:
        with db.session() as session:
            identity = recorded_library(session)
        root = identity.path if identity else settings.library
        if identity is not None:
            check_reachable(identity)
        started = time.monotonic()
        report = verify_library(db.session, root, since, utcnow())
        seconds = time.monotonic() - started
    except LibraryUnreachable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    finally:
        db.close()
    for path, what in report.missing:
        print(f"missing     {path}  ({what})")
    for path, how in report.changed:
        print(f"changed     {path}  ({how})")
    for path in report.unrecorded:
        print(f"unrecorded  {path}")
    scope = f"day folders from {since} on" if since else "whole library"
    print(f"{root} ({scope}): {report.checked} recorded files read back, {report.bytes_read / 1e6:.1f} MB in "
          f"{seconds:.1f} s; {len(report.missing)} missing, {len(report.changed)} changed, "
          f"{len(report.unrecorded)} unrecorded")
    return EXIT_CLEAN if report.clean else EXIT_DIFFERENCES
