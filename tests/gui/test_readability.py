"""What the crew could not read: cut column titles, log lines cut at the panel's edge."""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
from PySide6.QtWidgets import QHeaderView

from app.gui.imports_model import HEADERS, ImportsModel
from app.gui.views.imports_view import ImportsView
from app.gui.views.step_details import StepDetailsPanel

pytestmark = pytest.mark.gui


def test_every_column_is_at_least_as_wide_as_its_title(qtbot):
    view = ImportsView(ImportsModel(), actions=SimpleNamespace())
    qtbot.addWidget(view)
    view.resize(1600, 600)
    header = view.header()
    for column in HEADERS:
        if header.sectionResizeMode(column) == QHeaderView.ResizeMode.Interactive:
            assert header.sectionSize(column) >= header.sectionSizeHint(column), HEADERS[column]


def test_a_long_log_line_wraps_in_the_details_panel(qtbot):
    panel = StepDetailsPanel()
    qtbot.addWidget(panel)
    panel.resize(360, 500)
    long_path = "/media/library/2026-11-23/BK-2026-1042 Ana Silva/" + "very-long-folder-name/" * 8 + "GX010231.MP4"
    step = SimpleNamespace(id=1, name="request_session_videos", key="3", state="failed", attempt=1,
                           started_at=None, finished_at=None, error=None)
    now = datetime(2026, 11, 23, 10, tzinfo=timezone.utc)
    details = SimpleNamespace(step=step, worker_id=None, logs=[(now, "ERROR", 1, f"cannot write {long_path}")],
                              params=None, inputs=None, depends_on=[], output=None)
    panel.show()
    qtbot.waitExposed(panel)
    panel.show_step(details)
    body = panel.body
    assert long_path in panel.text()
    assert body.document().idealWidth() <= body.viewport().width() + 1  # wrapped, nothing beyond the edge
