"""Start behind a splash, refuse clearly, stop everything when the window closes; settings;
tray and title when minimised."""

from __future__ import annotations

import asyncio
import re
import socket
import tomllib

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QMessageBox

from app.gui.main import run_gui, serve_window
from app.instance_lock import InstanceLock
from app.core_events import PipelineCompleted, PipelineStarted
from tests.gui.helpers import open_window, wait_until

pytestmark = pytest.mark.gui


def _answer_failure_box(seen: list[dict[str, str]]) -> QTimer:
    """Read the start-up failure dialog as the crew would, then close it."""
    timer = QTimer()

    def look() -> None:
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, QMessageBox) and widget.objectName() == "startupFailure" and widget.isVisible():
                seen.append({"text": widget.text(), "informative": widget.informativeText(),
                             "detailed": widget.detailedText()})
                widget.done(0)
                timer.stop()

    timer.timeout.connect(look)
    timer.start(50)
    return timer


def test_second_station_on_the_same_data_folder_is_refused_with_a_dialog(qapp, station_settings):
    holder = InstanceLock(station_settings.data_dir)
    holder.acquire()  # the first station
    seen: list[dict[str, str]] = []
    timer = _answer_failure_box(seen)
    try:
        code = run_gui(station_settings)
    finally:
        timer.stop()
        holder.release()
    assert code == 2
    assert seen, "a dialog was shown"
    assert seen[0]["text"] == "The station could not start."
    assert f"another station is already running on {station_settings.data_dir}" in seen[0]["informative"]
    assert "Traceback" not in seen[0]["informative"]
    assert str(station_settings.data_dir) in seen[0]["detailed"]


def test_closing_the_window_stops_the_server_redis_and_releases_the_folder(run_async, station_settings):
    seen = {}

    def shown(window) -> None:
        seen["port"] = window.station.port
        seen["redis_dir"] = window.station.settings.redis_dir
        seen["sockets_while_running"] = list(window.station.settings.redis_dir.glob("*.sock"))
        seen["title"] = window.windowTitle()
        QTimer.singleShot(200, window.close)

    assert run_async(serve_window(station_settings, on_shown=shown)) == 0
    assert seen["title"].startswith("Ingest Station — ")
    with socket.socket() as probe:
        probe.settimeout(1)
        assert probe.connect_ex(("127.0.0.1", seen["port"])) != 0, "the Detector port is closed"
    lock = InstanceLock(station_settings.data_dir)
    lock.acquire()  # a new station may start on this folder now
    lock.release()
    assert seen["sockets_while_running"], "the embedded Redis listened on a unix socket"
    assert not list(seen["redis_dir"].glob("*.sock")), "the embedded Redis is gone"


def test_settings_are_validated_saved_and_restart_keys_named(run_async, station_settings):
    async def scenario() -> None:
        async with open_window(station_settings) as window:
            dialog = window.open_settings()
            save = dialog.buttons.button(QDialogButtonBox.StandardButton.Save)
            dialog.db_url.setText("mysql://nope")
            assert not save.isEnabled()
            assert "Database URL: use sqlite:///PATH" in dialog.problem.text()
            dialog.db_url.setText(station_settings.db_url)
            assert save.isEnabled()

            old_token = dialog.token.text()
            regenerate = next(b for b in dialog.findChildren(type(save)) if b.text() == "Regenerate")
            regenerate.click()
            new_token = dialog.token.text()
            assert new_token != old_token and len(new_token) >= 16
            dialog.port.setValue(9911)
            dialog.qr_window.setValue(7.5)
            assert dialog.reserve_gb.value() == 2.0  # the default room kept free on the library's disk
            dialog.reserve_gb.setValue(5.5)
            old_library = station_settings.library
            dialog.library.setText(str(old_library.parent / "elsewhere"))
            save.click()
            assert dialog.isVisible(), "stays open to say a restart is needed"
            assert dialog.notice.text() == ("Saved. Restart the station for the new library folder and port "
                                            "to take effect.")
            stored = tomllib.loads(station_settings.config_file.read_text())
            assert stored["port"] == 9911 and stored["token"] == new_token and stored["qr_window_s"] == 7.5
            assert stored["library"] == str(old_library.parent / "elsewhere")
            # What is safe applies now; the rest waits for the restart.
            assert window.station.settings.qr_window_s == 7.5 and window.station.settings.token == new_token
            assert window.station.settings.library_reserve_bytes == stored["library_reserve_bytes"] == 5_500_000_000
            assert window.station.settings.library == old_library and window.station.settings.port == 0
            dialog.buttons.buttons()[0].click()  # Close
            await wait_until(lambda: window.settings_dialog is None, what="dialog closed")
            assert new_token in window.status.token.text()
            window.status.copy_token.click()  # the crew pastes it into a Detector's set-up
            assert QApplication.clipboard().text() == new_token
            assert window.status.address.text() == f"Listening on <b>127.0.0.1:{window.station.port}</b>"
            assert window.status.workers.text() == "Workers: 0/2 busy"
            # Long database and Redis paths give way: the window fits a 1366-pixel laptop screen.
            assert window.minimumSizeHint().width() <= 1366, window.minimumSizeHint()
            assert window.status.database.full_text() == f"Database: {window.station.db.describe()}"
            # The room left on the library's disk; in red once imports are about to stop.
            assert re.fullmatch(r"Library: [\d.]+ [KMGT]?B free", window.status.library.text())
            window.station.settings.library_reserve_bytes = window.station.library_room().free
            await window.refresh_library_free()
            assert "color:#c43d3d" in window.status.library.text() and "free" in window.status.library.text()
    run_async(scenario())


def test_ready_video_notifies_and_title_shows_activity_when_minimised(run_async, station_settings):
    async def scenario() -> None:
        async with open_window(station_settings) as window:
            station = window.station
            station.bus.publish(PipelineStarted(execution_id=41, card_id="C1", detector_id="desk-left",
                                                files_total=3, files_new=3))
            window.showMinimized()
            await wait_until(window.isMinimized, what="minimised")
            await asyncio.sleep(0)
            assert window.windowTitle().startswith("(▶ 1 importing)")
            station.bus.publish(PipelineCompleted(execution_id=41, summary={"files_imported": 3, "jumps": [
                {"jump_id": 1, "passenger": {"passenger_name": "Ana Silva", "booking_id": "BK-1"}, "clips": 2,
                 "output_dir": "/x"}]}))
            assert window.activity.sent == ["Ana Silva's video is ready"]
            assert window.windowTitle().startswith("(✓ 1 ready)")
            window.showNormal()
            await wait_until(lambda: not window.isMinimized(), what="restored")
            assert not window.windowTitle().startswith("(")
    run_async(scenario())


def test_the_window_opens_no_larger_than_the_screen_it_is_on(qapp):
    from app.gui.main_window import PREFERRED_SIZE, _initial_size

    available = qapp.primaryScreen().availableGeometry()
    size = _initial_size()
    assert size.width() <= available.width() and size.height() <= available.height()
    assert size.width() <= PREFERRED_SIZE.width() and size.height() <= PREFERRED_SIZE.height()


def test_branding_settings_check_the_logo_and_music_and_apply_at_once(run_async, station_settings, tmp_path):
    from PIL import Image

    logo = tmp_path / "logo.png"
    Image.new("RGBA", (40, 20), (255, 0, 255, 200)).save(logo)
    not_an_image = tmp_path / "logo.txt"
    not_an_image.write_text("hello")

    async def scenario() -> None:
        async with open_window(station_settings) as window:
            dialog = window.open_settings()
            save = dialog.buttons.button(QDialogButtonBox.StandardButton.Save)
            dialog.logo_path.setText(str(not_an_image))
            assert not save.isEnabled()
            assert "Logo: not a readable image" in dialog.problem.text()
            dialog.music_path.setText(str(not_an_image))
            assert "Music bed: cannot be read as audio" in dialog.problem.text()
            dialog.music_path.setText("")
            dialog.logo_path.setText(str(logo))
            assert save.isEnabled()
            dialog.drop_zone_name.setText("Skydive Algarve")
            dialog.intro_s.setValue(4.0)
            save.click()
            # (the test station listens on port 0, which the dialog shows as 8765: that one waits for a restart)
            assert "branding" not in dialog.notice.text() and "logo" not in dialog.notice.text()
            stored = tomllib.loads(station_settings.config_file.read_text())
            assert stored["drop_zone_name"] == "Skydive Algarve" and stored["logo_path"] == str(logo)
            assert window.station.settings.intro_s == 4.0 and window.station.settings.logo_path == str(logo)
    run_async(scenario())
