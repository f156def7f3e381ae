"""With TLS on, the window's status bar shows the certificate's fingerprint beside the pairing
token, and its copy button gives the whole fingerprint a Detector pins (`--fingerprint`)."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication

from tests.gui.helpers import open_window

pytestmark = pytest.mark.gui


def test_the_status_bar_shows_and_copies_the_certificate_fingerprint(run_async, station_settings):
    station_settings.tls = True
    station_settings.workers = 0

    async def scenario() -> None:
        async with open_window(station_settings) as window:
            fingerprint = window.station.fingerprint
            assert fingerprint and len(fingerprint) == 64
            status = window.status
            assert status.fingerprint.isVisible() and status.copy_fingerprint.isVisible()
            assert fingerprint[:16] in status.fingerprint.text() and fingerprint in status.fingerprint.toolTip()
            status.copy_fingerprint.click()
            assert QApplication.clipboard().text() == fingerprint
    run_async(scenario())


def test_without_tls_the_status_bar_shows_no_fingerprint(run_async, station_settings):
    station_settings.workers = 0

    async def scenario() -> None:
        async with open_window(station_settings) as window:
            assert window.station.fingerprint is None
            assert not window.status.fingerprint.isVisible() and not window.status.copy_fingerprint.isVisible()
            assert window.status.token.isVisible()
    run_async(scenario())
