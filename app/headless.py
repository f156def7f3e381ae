"""`ingest-station --no-gui`: the station core with a console view of its events."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from functools import partial

from app.config import Settings
from app.console import ConsoleView
from app.console_out import ConsoleOut
from app.core_events import WireEvent
from app.shutdown import stop_on_signals
from app.station import StartupError, Station
from app.units import human_bytes
from app.version import __version__

log = logging.getLogger(__name__)

LIBRARY_CHECK_S = 30.0  # how often the room left on the library's disk is read


async def serve_headless(settings: Settings, reason: str = "") -> int:
    station = Station(settings)
    first = f"ingest-station {__version__} running headless"
    print(f"{first} ({reason})" if reason else first, flush=True)
    try:
        await station.start()
    except StartupError as exc:
        print(f"error: cannot start the station: {exc}", file=sys.stderr, flush=True)
        return 2
    # With TLS on, the fingerprint Detectors pin (`--fingerprint`) right under the token it goes with.
    certificate = (f"wss:// on; certificate SHA-256 fingerprint: {station.fingerprint}\n"
                   if station.fingerprint else "")
    print(
        f"listening on {settings.host}:{station.port}  pairing token: {settings.token}\n"
        f"{certificate}"
        f"data: {settings.data_dir}  library: {settings.library}\n"
        f"database: {station.db.describe()}  redis: {station.describe_redis()}",
        flush=True,
    )
    freeze_start_up_heap()
    console = ConsoleOut(sys.stdout)  # from here on the loop never waits for the console
    view = ConsoleView(console)
    unsubscribe = station.bus.subscribe(view.show)
    unsubscribe_cards = station.bus.subscribe(partial(show_card_end, console))
    room = asyncio.create_task(watch_library_room(station, console), name="library-room")
    stop = stop_on_signals()
    try:
        await stop.wait()
        console.line("stopping…")
    finally:
        room.cancel()
        unsubscribe()
        unsubscribe_cards()
        await station.stop()
        console.close()
    return 0


async def watch_library_room(station: Station, console: ConsoleOut, every_s: float = LIBRARY_CHECK_S) -> None:
    """The headless desk has no status line: the console says when the library's disk runs low,
    cannot be read, or has room again (once per change, not on every check)."""
    said = "ok"
    while True:
        room = await asyncio.to_thread(station.library_room)
        state = room.state
        if state != said:
            if state == "low":
                line = (f"library disk low: {human_bytes(room.free or 0)} free in {station.settings.library}; "
                        f"imports stop when a card's files would leave less than {human_bytes(room.reserve)}")
            elif state == "unreachable":
                line = f"library disk cannot be read: {station.settings.library}"
            else:
                line = f"library disk: {human_bytes(room.free or 0)} free again"
            console.line(line)
            log.warning("%s", line)
            said = state
        await asyncio.sleep(every_s)


def freeze_start_up_heap() -> None:
    """Everything alive after start-up stays alive: keep it out of the collector's full passes,
    which otherwise stop every thread (uploads, workers, a listing's ack) for 100-300 ms on this
    heap. (The window does the same in app/gui/garbage.py, and collects on its own thread.)"""
    gc.collect()
    gc.freeze()


def card_end_line(event: WireEvent) -> str | None:
    """What the desk must know about a card, in words: format it or not; it was wiped."""
    data = event.data
    if event.type == "card:status" and data.get("safe_to_format"):
        return (f"card {data['card_id']} safe to format: all {data['files_total']} files verified "
                "in the library")
    if event.type == "card:status" and data.get("state") == "incomplete":
        return (f"card {data['card_id']} incomplete: {data['files_verified']} of {data['files_total']} files "
                "verified in the library; do not format it")
    if event.type == "card:wiped":
        return f"card {data['card_id']} wiped by {data['detector_id']}: {data['deleted']} files deleted, " \
               f"{len(data.get('kept') or [])} kept"
    return None


def show_card_end(console: ConsoleOut, event: WireEvent) -> None:
    line = card_end_line(event)
    if line is not None:
        console.line(line)
        log.info("%s", line)
