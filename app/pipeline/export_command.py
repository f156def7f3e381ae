"""`ingest-station export BOOKING_OR_FOLDER DEST`: a passenger's folder to a USB stick, verified."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from app.cli_options import storage_options
from app.config import Settings

EXIT_OK = 0
EXIT_NOT_VERIFIED = 1
EXIT_CANNOT_RUN = 2


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:

    export = commands.add_parser("export", help="copy a passenger's folder to DEST and verify every file (SHA-256)")
    storage_options(export)
    export.add_argument("what", metavar="BOOKING_OR_FOLDER", help="a booking id, or a passenger's folder")
    export.add_argument("dest", metavar="DEST", help="an existing folder, e.g. a USB stick")
    export.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_export(args.what, Path(args.dest), settings))


async def _export(what: str, dest: Path, settings: Settings) -> int:
    from app.pipeline.cli_commands import _open_db  # noqa: PLC0415
    from app.pipeline.export import ExportError, export_passenger  # noqa: PLC0415

    try:
        db = _open_db(settings)
    except Exception as exc:  # noqa: BLE001 - reported, whatever the driver raised
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    try:
        report = await export_passenger(db, settings.library, what, dest)
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    finally:
        db.close()
    for file in report.files:
        mark = "CHANGED" if file.problem else "ok"
        print(f"{mark:<8} {file.name}  {file.size} bytes  sha256 {file.sha256}" + (f"  — {file.problem}" if file.problem else ""))
    if report.verified:
        print(f"exported {len(report.files)} files ({report.bytes} bytes) to {report.dest}: every file verified")
        return EXIT_OK
    print(f"exported to {report.dest}, but {len(report.problems)} file(s) changed on the way: do not hand this copy over",
          file=sys.stderr)
    return EXIT_NOT_VERIFIED
