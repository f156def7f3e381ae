"""A passenger's Hand-off… (QR code and link) and Export…, a card's Open report, from the menus."""

from __future__ import annotations

import asyncio
import hashlib
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import zxingcpp
from PySide6.QtCore import QUrl
from PySide6.QtGui import QImage

from app.db.models import Jump, PassengerExport, PipelineExecution, PipelineStep
from app.gui.imports_model import Kind
from app.media.samples import ClipSpec, write_clip
from tests.gui.helpers import add_card_import, open_window, wait_until

pytestmark = pytest.mark.gui


def _actions(window, kind: Kind, node_id: int) -> dict:
    menu = window.imports.menu_for(window.model.index_of(kind, node_id))
    return {action.text(): action for action in menu.actions() if action.text()}


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _decode(image: QImage) -> list[str]:
    """What a phone's camera reads: zxing-cpp (OpenCV's own detector misses ~2 % of valid codes)."""
    image = image.convertToFormat(QImage.Format.Format_Grayscale8)
    pixels = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())[:, :image.width()]
    return [code.text for code in zxingcpp.read_barcodes(np.ascontiguousarray(pixels))]


async def _passenger_with_video(window) -> tuple[int, Path]:
    station = window.station
    ids = await station.db.run(lambda s: add_card_import(s, library=str(station.settings.library)))
    jump_id = ids["jumps"]["Ana Silva"]
    folder = station.settings.library / "2026-11-23" / "BK-1042 Ana Silva"
    video = write_clip(folder / "BK-1042 Ana Silva.mp4", ClipSpec(duration_s=1.0))

    def rendered(session) -> None:
        session.get(Jump, jump_id).video_path = str(video)
    await station.db.run(rendered)
    await window.controller.load_recent()
    await wait_until(lambda: window.model.node(Kind.JUMP, jump_id).row.video_path, what="the video in the tree")
    return jump_id, folder


def test_hand_off_shows_the_link_as_a_qr_code_and_revokes_it(run_async, station_settings):
    async def scenario() -> None:
        async with open_window(station_settings) as window:
            jump_id, _ = await _passenger_with_video(window)
            _actions(window, Kind.JUMP, jump_id)["Hand-off…"].trigger()
            dialog = await wait_until(lambda: window.controller.handoff_dialog, what="the hand-off dialog")
            assert dialog.url.startswith(f"http://127.0.0.1:{window.station.handoff.port}/h/")
            assert _decode(dialog.qr.pixmap().toImage()) == [dialog.url]  # what the phone's camera reads
            assert await asyncio.to_thread(_status, dialog.url) == 200
            dialog.revoke_button.click()
            await window.controller.idle()
            assert await asyncio.to_thread(_status, dialog.url) == 404
    run_async(scenario())


def test_export_copies_the_folder_to_the_chosen_stick(run_async, station_settings, tmp_path):
    async def scenario() -> None:
        async with open_window(station_settings) as window:
            jump_id, folder = await _passenger_with_video(window)
            stick = tmp_path / "stick"
            stick.mkdir()
            messages: list[str] = []
            window.controller.message.connect(messages.append)
            _actions(window, Kind.JUMP, jump_id)["Export…"].trigger()
            dialog = await wait_until(lambda: window.controller.export_dialog, what="the folder chooser")
            dialog.fileSelected.emit(str(stick))  # the crew picked the stick
            await wait_until(lambda: any("every file verified" in m for m in messages), what="the export verified")
            copy = stick / folder.name / "BK-1042 Ana Silva.mp4"
            assert hashlib.sha256(copy.read_bytes()).digest() == hashlib.sha256(
                (folder / copy.name).read_bytes()).digest()
            states = await window.station.db.read(lambda s: [e.state for e in s.query(PassengerExport)])
            assert states == ["verified"]
    run_async(scenario())


def test_open_report_opens_the_cards_offload_report(run_async, station_settings):
    async def scenario() -> None:
        async with open_window(station_settings) as window:
            station = window.station
            ids = await station.db.run(lambda s: add_card_import(s, library=str(station.settings.library)))
            execution_id = ids["execution"]
            await window.controller.load_recent()
            assert not _actions(window, Kind.EXECUTION, execution_id)["Open report"].isEnabled()  # still running
            report = station.settings.library / "2026-11-23" / "_reports" / f"GOPRO-ANA {execution_id}" / "report.html"
            report.parent.mkdir(parents=True)
            report.write_text("<html></html>")

            def completed(session) -> None:
                session.add(PipelineStep(execution_id=execution_id, name="write_report", state="succeeded",
                                         output={"report": str(report)}))
                session.get(PipelineExecution, execution_id).state = "succeeded"
            await station.db.run(completed)
            await window.controller.load_recent()
            await wait_until(lambda: _actions(window, Kind.EXECUTION, execution_id)["Open report"].isEnabled(),
                             what="Open report enabled once the import completed")
            _actions(window, Kind.EXECUTION, execution_id)["Open report"].trigger()
            await window.controller.idle()
            assert window.opened_urls[-1] == QUrl.fromLocalFile(str(report))
    run_async(scenario())
