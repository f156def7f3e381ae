"""The details panel: a selected step's log lines, error, inputs and outputs; a selected
passenger's booking, QR frame and folder."""

from __future__ import annotations

import html
import json
from typing import Any

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QFrame, QLabel, QTextBrowser, QVBoxLayout, QWidget

from app.gui.formatting import human_duration, local_time
from app.gui.passengers_data import PassengerRow
from app.gui.passengers_model import VIDEO_COLOURS, VIDEO_TEXT
from app.pipeline.read_model import ExecutionRow, JumpRow, StepDetails
from app.gui.step_names import state_text, step_title

LEVEL_COLOURS = {"ERROR": "#c43d3d", "WARNING": "#a86a00", "INFO": "#34414f", "DEBUG": "#8a97a5"}
FIELD_NAMES = {"jump_date": "Jump date", "package": "Package", "instructor": "Instructor",
               "camera_flyer": "Camera flyer", "email": "E-mail"}
STATE_COLOURS = {"failed": "#c43d3d", "succeeded": "#247a47", "running": "#1a68c0", "waiting": "#a86a00"}


def _json(value: Any) -> str:
    return html.escape(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def _pixmap_html(pixmap: QPixmap, width: int = 230) -> str:
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    pixmap.scaledToWidth(width).save(buffer, "PNG")
    encoded = bytes(QByteArray(buffer.data()).toBase64()).decode()
    return f'<img src="data:image/png;base64,{encoded}" width="{width}">'


def _fields_table(fields: tuple[tuple[str, str], ...]) -> str:
    """The code's other fields (package, instructor...) as a two-column table."""
    rows = "".join(f'<tr><td style="color:#6b7a8a;padding-right:10px">{html.escape(FIELD_NAMES.get(k, k))}</td>'
                   f"<td>{html.escape(v)}</td></tr>" for k, v in fields)
    return f"<table>{rows}</table>"


def _error_box(title: str, text: str) -> str:
    return ('<table width="100%" cellpadding="6" style="background:#fdecec;border:1px solid #f2b8b8">'
            f'<tr><td style="color:#a32f2f"><b>{html.escape(title)}</b><br>{html.escape(text)}</td></tr></table>')


class StepDetailsPanel(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, objectName="panel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        self.title = QLabel("Details", objectName="panelTitle")
        layout.addWidget(self.title)
        self.body = QTextBrowser()
        self.body.setOpenExternalLinks(False)
        self.body.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        layout.addWidget(self.body)
        self.shown: tuple[str, int] | None = None
        self.show_nothing()

    def text(self) -> str:
        return self.body.toPlainText()

    def show_nothing(self) -> None:
        self.shown = None
        self.title.setText("Details")
        self.body.setHtml('<p style="color:#8a97a5"><i>Select a passenger to see their booking, video and folder, '
                          "or a step to see its log, error, inputs and outputs.</i></p>")

    def show_step(self, details: StepDetails) -> None:
        step = details.step
        self.shown = ("step", step.id)
        self.title.setText(step_title(step.name, step.key))
        colour = STATE_COLOURS.get(step.state, "#4a5866")
        duration = None
        if step.started_at and step.finished_at:
            duration = (step.finished_at - step.started_at).total_seconds()
        parts = [
            f'<p><b style="color:{colour}">{html.escape(state_text(step.state))}</b>'
            f' &nbsp;·&nbsp; attempt {step.attempt}'
            + (f" &nbsp;·&nbsp; {human_duration(duration)}" if duration is not None else "")
            + (f" &nbsp;·&nbsp; started {local_time(step.started_at)}" if step.started_at else "")
            + (f" &nbsp;·&nbsp; worker {html.escape(details.worker_id)}" if details.worker_id else "")
            + "</p>",
        ]
        if step.error:
            parts.append(_error_box("Error", step.error))
        parts.append("<h4>Log</h4>")
        if details.logs:
            lines = []
            for ts, level, attempt, message in details.logs:
                colour = LEVEL_COLOURS.get(level, "#34414f")
                lines.append(
                    f'<span style="color:#8a97a5">{local_time(ts)}</span> '
                    f'<span style="color:{colour}">{html.escape(level):<7}</span> '
                    f'<span style="color:#8a97a5">#{attempt}</span> {html.escape(message)}'
                )
            # pre-wrap: long lines (paths, errors) wrap at the panel's edge instead of being cut
            parts.append('<pre style="font-size:9pt; white-space:pre-wrap">' + "\n".join(lines) + "</pre>")
        else:
            parts.append('<p style="color:#8a97a5"><i>No log lines yet.</i></p>')
        if details.params:
            parts.append(f'<h4>Parameters</h4><pre style="font-size:9pt">{_json(details.params)}</pre>')
        if details.inputs:
            parts.append(f'<h4>Inputs</h4><pre style="font-size:9pt">{_json(details.inputs)}</pre>')
        elif details.depends_on:
            parts.append(f"<h4>Runs after</h4><p>{html.escape(', '.join(details.depends_on))}</p>")
        if details.output is not None:
            parts.append(f'<h4>Output</h4><pre style="font-size:9pt">{_json(details.output)}</pre>')
        self.body.setHtml("".join(parts))

    def show_jump(self, jump: JumpRow, thumbnail: QPixmap | None) -> None:
        self.shown = ("jump", jump.id)
        if jump.unassigned:
            self.title.setText("Unassigned clips")
            self.body.setHtml(
                "<p>These clips were filmed before the first passenger QR code on the card.</p>"
                "<p>Right-click a clip and choose <b>Assign to passenger…</b> to file it with a passenger "
                "of this card or a new one.</p>"
            )
            return
        self.title.setText(jump.passenger_name or "Passenger")
        parts = [f"<p><b>Booking</b> {html.escape(jump.booking_id)} &nbsp;·&nbsp; "
                 f"{jump.clip_count} clip{'s' if jump.clip_count != 1 else ''}"
                 + (f" &nbsp;·&nbsp; {human_duration(jump.total_duration_s)}" if jump.total_duration_s else "")
                 + "</p>"]
        if jump.extra:
            parts.append(_fields_table(jump.extra))
        if thumbnail is not None and not thumbnail.isNull():
            parts.append(f"<p>{_pixmap_html(thumbnail)}<br><small>QR code frame</small></p>")
        if jump.output_dir:
            parts.append(f"<p><b>Folder</b><br>{html.escape(jump.output_dir)}</p>")
        if jump.video_path:
            parts.append(f"<p><b>Video</b><br>{html.escape(jump.video_path)}</p>")
        self.body.setHtml("".join(parts))

    def show_passenger(self, passenger: PassengerRow, thumbnail: QPixmap | None, clip: str | None = None) -> None:
        """The Passengers view's selection: the passenger (of the selected clip, named)."""
        self.shown = ("passenger", passenger.id)
        self.title.setText(passenger.passenger_name)
        clips = len(passenger.clips)
        state = VIDEO_TEXT.get(passenger.video_state, passenger.video_state)
        colour = VIDEO_COLOURS[passenger.video_state].name() if passenger.video_state in VIDEO_COLOURS else "#4a5866"
        parts = [f"<p><b>Booking</b> {html.escape(passenger.booking_id)} &nbsp;·&nbsp; {html.escape(passenger.day)}"
                 f"<br><b>Cameras</b> {html.escape(', '.join(passenger.cameras) or '—')} &nbsp;·&nbsp; "
                 f"{clips} clip{'s' if clips != 1 else ''}"
                 f'<br><b>Video</b> <span style="color:{colour}">'
                 f"{html.escape(state)}</span>"
                 + (f" &nbsp;·&nbsp; {human_duration(passenger.video_duration_s)}"
                    if passenger.video_state == "ready" and passenger.video_duration_s else "")
                 + "</p>"]
        if passenger.booking:
            parts.append(_fields_table(passenger.booking))
        if passenger.conflict:
            parts.append('<p style="color:#c43d3d"><b>Conflict:</b> this booking was read under another name '
                         "the same day; check which is right.</p>")
        if passenger.video_error:
            parts.append(_error_box("Render failed", passenger.video_error))
        if clip:
            parts.append(f"<p><b>Clip</b> {html.escape(clip)}</p>")
        if passenger.warnings:
            items = "".join(f"<li>{html.escape(w.message)}</li>" for w in passenger.warnings)
            parts.append(f'<p style="color:#a86a00"><b>Warnings</b></p><ul style="color:#a86a00">{items}</ul>')
        if thumbnail is not None and not thumbnail.isNull():
            parts.append(f"<p>{_pixmap_html(thumbnail)}<br><small>QR code frame</small></p>")
        if passenger.folder:
            parts.append(f"<p><b>Folder</b><br>{html.escape(passenger.folder)}</p>")
        if passenger.video_path and passenger.video_state == "ready":
            parts.append(f"<p><b>Video</b><br>{html.escape(passenger.video_path)}</p>")
        self.body.setHtml("".join(parts))

    def show_unassigned_clips(self, count: int) -> None:
        self.shown = ("unassigned", count)
        self.title.setText("Unassigned clips")
        self.body.setHtml(f"<p>{count} clip{'s' if count != 1 else ''} of this day belong to no passenger yet: "
                          "filmed before a card's first QR code, or moved here by hand.</p>"
                          "<p>Select a clip and choose <b>Move clip…</b> to give it to a passenger.</p>")

    def show_execution(self, execution: ExecutionRow) -> None:
        self.shown = ("execution", execution.id)
        self.title.setText(execution.card_label or execution.card_id or f"Import {execution.id}")
        colour = STATE_COLOURS.get(execution.state, "#4a5866")
        parts = [
            f'<p><b style="color:{colour}">{html.escape(state_text(execution.state))}</b>'
            f" &nbsp;·&nbsp; import #{execution.id}</p>",
            f"<p><b>Card</b> {html.escape(execution.card_id)}<br><b>Detector</b> {html.escape(execution.detector_id)}"
            f"<br><b>Files</b> {execution.files_new} new of {execution.files_total}"
            f"<br><b>Started</b> {local_time(execution.created_at)}</p>",
        ]
        if execution.error:
            parts.append(f'<p style="color:#c43d3d"><b>Error</b><br>{html.escape(execution.error)}</p>')
        self.body.setHtml("".join(parts))
