"""Command line: `ingest-station [options]` runs the station; subcommands do the rest.

Each subcommand's work lives in its own module, imported only when that command runs,
so `detector` on a small desk computer never loads Qt or the database layer.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence

from app.config import ConfigError, Settings, load_settings
from app.logging_setup import setup_logging
from app.version import __version__
from app.cli_options import storage_options

EXIT_STARTUP_FAILED = 2


def _station_options(parser: argparse.ArgumentParser) -> None:
    storage_options(parser)
    parser.add_argument("--no-gui", action="store_true", default=None, help="run headless, events on the console")
    parser.add_argument("--host", metavar="H", help="listen address (default 0.0.0.0) [INGEST_HOST]")
    parser.add_argument("--port", metavar="N", type=int, help="listen port (default 8765) [INGEST_PORT]")
    parser.add_argument("--token", metavar="T", help="pairing token Detectors must present [INGEST_TOKEN]")
    parser.add_argument("--library", metavar="DIR", help="where passengers' folders go [INGEST_LIBRARY]")
    parser.add_argument("--redis-url", metavar="URL", help="use this Redis instead of the embedded one [INGEST_REDIS_URL]")
    parser.add_argument("--workers", metavar="N", type=int, help="pipeline workers inside the station (default 2)")
    parser.add_argument("--no-mdns", dest="mdns", action="store_false", default=None,
                        help="do not advertise the station over mDNS [INGEST_MDNS=0]")
    parser.add_argument("--tls", action="store_true", default=None,
                        help="serve wss:// with the station's own certificate (its fingerprint is shown beside "
                             "the token) [INGEST_TLS=1]")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ingest-station",
        description="Drop-zone ingest station: imports SD cards from Detectors, one folder and video per passenger.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _station_options(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    worker = commands.add_parser("worker", help="join the worker pool of a shared setup (Postgres + Redis)")
    storage_options(worker)
    worker.add_argument("--redis-url", metavar="URL", help="the shared Redis [INGEST_REDIS_URL]")
    worker.add_argument("--concurrency", metavar="N", type=int, default=2, help="steps run at once (default 2)")

    migrate = commands.add_parser("migrate", help="bring the database to the newest schema and exit")
    storage_options(migrate)

    for register in EXTRA_COMMANDS:
        register(commands)
    return parser


# Subcommands added by other parts of the program: each is `register(subparsers)` and sets
# `handler` with `set_defaults(handler=...)`; the handler takes the parsed args and returns an exit code.
EXTRA_COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = []


def settings_from_args(args: argparse.Namespace) -> Settings:
    flags = {
        key: getattr(args, key, None)
        for key in ("data_dir", "config_file", "db_url", "log_level", "host", "port", "token", "library",
                    "redis_url", "workers", "no_gui", "mdns", "tls")
    }
    return load_settings(flags)


def main(argv: Sequence[str] | None = None) -> int:
    _register_extra_commands()
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from_args(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_STARTUP_FAILED
    handler = getattr(args, "handler", None)
    if handler is not None:
        return handler(args, settings)
    if args.command == "migrate":
        return run_migrate(settings)
    if args.command == "worker":
        return run_worker(args, settings)
    return run_station(settings)


def _register_extra_commands() -> None:
    """Import the modules that add subcommands (kept out of this file's imports on purpose)."""
    from app.media import cli_commands as media_commands  # noqa: PLC0415 - argparse only; PyAV loads when run

    if media_commands.register not in EXTRA_COMMANDS:
        EXTRA_COMMANDS.append(media_commands.register)
    from app.detector import cli as detector_commands  # noqa: PLC0415 - argparse only; no Qt, no database

    if detector_commands.register not in EXTRA_COMMANDS:
        EXTRA_COMMANDS.append(detector_commands.register)
    from app.pipeline import cli_commands as pipeline_commands  # noqa: PLC0415 - status, retry

    if pipeline_commands.register not in EXTRA_COMMANDS:
        EXTRA_COMMANDS.append(pipeline_commands.register)
    from app.pipeline import export_command  # noqa: PLC0415 - export a passenger's folder

    if export_command.register not in EXTRA_COMMANDS:
        EXTRA_COMMANDS.append(export_command.register)
    from app.pipeline import verify_command  # noqa: PLC0415 - argparse only; reads the library when run

    if verify_command.register not in EXTRA_COMMANDS:
        EXTRA_COMMANDS.append(verify_command.register)


def run_station(settings: Settings) -> int:
    from app.display import display_problem  # noqa: PLC0415

    reason = ""
    if not settings.no_gui:
        problem = display_problem()
        if problem is None:
            try:
                from app.gui.main import run_gui  # noqa: PLC0415
            except ImportError as exc:
                problem = f"the window cannot be loaded ({exc})"
            else:
                setup_logging(settings.log_level, settings.log_dir, console=True)
                return run_gui(settings)
        reason = f"{problem}; starting headless"
    setup_logging(settings.log_level, settings.log_dir, console=False)
    from app.headless import serve_headless  # noqa: PLC0415

    return asyncio.run(serve_headless(settings, reason))


def run_migrate(settings: Settings) -> int:
    from app.db.engine import Database, DatabaseError  # noqa: PLC0415
    from app.db.migrate import current_revision, upgrade  # noqa: PLC0415

    setup_logging(settings.log_level, None)
    try:
        db = Database(settings.db_url)
        before = current_revision(db.engine)
        upgrade(db.engine)
        after = current_revision(db.engine)
    except (DatabaseError, Exception) as exc:  # noqa: BLE001 - any failure is reported, not a traceback
        print(f"error: migration failed on {settings.db_url}: {exc}", file=sys.stderr)
        return EXIT_STARTUP_FAILED
    print(f"database {db.describe()}: {before or 'empty'} -> {after}")
    db.close()
    return 0


def run_worker(args: argparse.Namespace, settings: Settings) -> int:
    from app.pipeline.worker_main import serve_worker  # noqa: PLC0415

    setup_logging(settings.log_level, settings.log_dir)
    return asyncio.run(serve_worker(settings, concurrency=args.concurrency))


if __name__ == "__main__":
    sys.exit(main())
