"""`ingest-station --no-gui`: the station core with a console view of its events."""

from __future__ import annotations

import gc
import logging
import sys

from app.config import Settings
from app.console import ConsoleView
from app.shutdown import stop_on_signals
from app.station import StartupError, Station
from app.version import __version__

log = logging.getLogger(__name__)


async def serve_headless(settings: Settings, reason: str = "") -> int:
    station = Station(settings)
    first = f"ingest-station {__version__} running headless"
    print(f"{first} ({reason})" if reason else first, flush=True)
    try:
        await station.start()
    except StartupError as exc:
        print(f"error: cannot start the station: {exc}", file=sys.stderr, flush=True)
        return 2
    print(
        f"listening on {settings.host}:{station.port}  pairing token: {settings.token}\n"
        f"data: {settings.data_dir}  library: {settings.library}\n"
        f"database: {station.db.describe()}  redis: {station.describe_redis()}",
        flush=True,
    )
    # Everything alive after start-up stays alive: keep it out of the collector's full passes,
    # which otherwise stop every thread (uploads, workers) for 100-300 ms on this heap.
    gc.collect()
    gc.freeze()
    view = ConsoleView(sys.stdout)
    unsubscribe = station.bus.subscribe(view.show)
    stop = stop_on_signals()
    try:
        await stop.wait()
        print("stopping…", flush=True)
    finally:
        unsubscribe()
        await station.stop()
    return 0
