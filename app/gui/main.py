"""`ingest-station` with a display: one asyncio loop (qasync) runs the window, the Detector
server and the embedded workers; closing the window stops them all."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
from dataclasses import dataclass

import qasync
from PySide6.QtWidgets import QApplication, QMessageBox

from app.config import Settings
from app.gui.main_window import MainWindow
from app.gui.resources import icon, style_sheet
from app.gui.views.splash import Splash
from app.station import StartupError, Station

log = logging.getLogger(__name__)

EXIT_STARTUP_FAILED = 2


@dataclass(frozen=True)
class StartupFailure:
    message: str


def make_application() -> QApplication:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Ingest Station")
    app.setOrganizationName("ingest-station")
    app.setWindowIcon(icon("app"))
    app.setStyleSheet(style_sheet())
    # The loop, not the last window, decides when the program ends: the station stops first.
    app.setQuitOnLastWindowClosed(False)
    return app


def run_gui(settings: Settings) -> int:
    app = make_application()
    # asyncio.Runner, not asyncio.run(loop_factory=): the latter needs Python 3.12
    with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
        outcome = runner.run(serve_window(settings))
    # Collect the finished loop's Qt objects here, on the GUI thread (a collection started by
    # chance on another thread would destroy them there).
    gc.collect()
    if isinstance(outcome, StartupFailure):
        show_startup_failure(settings, outcome.message)
        return EXIT_STARTUP_FAILED
    return 0


async def serve_window(settings: Settings, *, on_shown=None) -> int | StartupFailure:
    """Start the station behind the splash, run the window until it closes, stop everything."""
    splash = Splash()
    splash.show()
    splash.say("Starting: database, Redis, Detector server…")
    station = Station(settings)
    try:
        await station.start()
    except StartupError as exc:
        splash.close()
        return StartupFailure(str(exc))
    except Exception as exc:  # noqa: BLE001 - a dialog, never a traceback; the log keeps the details
        log.exception("the station failed to start")
        splash.close()
        return StartupFailure(f"unexpected error: {exc.__class__.__name__}: {exc}")

    window = MainWindow(station)
    closed = asyncio.Event()
    window.closed.connect(closed.set)
    previous = _close_on_signals(window)
    try:
        splash.say("Loading recent imports…")
        await window.start()
        window.show()
        splash.finish(window)
        if on_shown is not None:
            on_shown(window)
        await closed.wait()
    finally:
        window.hide()
        await window.shutdown()
        await station.stop()
        _restore_signals(previous)
        window.deleteLater()
    return 0


def _close_on_signals(window: MainWindow) -> dict[int, object]:
    """Ctrl-C or SIGTERM close the window, so the station stops the same clean way."""
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[signum] = signal.signal(signum, lambda *_: window.close())
        except (ValueError, OSError):  # not the main thread
            pass
    return previous


def _restore_signals(previous: dict[int, object]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)  # type: ignore[arg-type]


def show_startup_failure(settings: Settings, message: str) -> None:
    box = QMessageBox(QMessageBox.Icon.Critical, "Ingest Station cannot start", "The station could not start.")
    box.setInformativeText(message)
    box.setDetailedText(
        f"Data folder: {settings.data_dir}\nConfig file: {settings.config_file}\n"
        f"Database: {settings.db_url}\nLog folder: {settings.log_dir}"
    )
    box.setObjectName("startupFailure")
    box.exec()
