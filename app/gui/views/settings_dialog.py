"""Settings: library, port, pairing token, small-file threshold, QR window, database and Redis,
and the drop zone's branding of passengers' videos (name, logo, title cards, music).
Checked as typed; saved to the config file; says which changes need a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.config import ConfigError, Settings, apply_settings, new_token
from app.pipeline.branding_options import logo_problem, music_problem
from app.config import check_token as strong_token

RESTART_NAMES = {"library": "library folder", "host": "listen address", "port": "port", "db_url": "database URL",
                 "redis_url": "Redis URL", "workers": "workers"}
MB = 1_000_000
GB = 1_000_000_000


def check_db_url(text: str) -> str | None:
    if text.startswith("sqlite:///") and len(text) > len("sqlite:///"):
        return None
    if text.startswith(("postgresql+psycopg://", "postgresql://", "postgres://")) and "/" in text.split("://", 1)[1]:
        return None
    return "use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"


def check_redis_url(text: str) -> str | None:
    if not text or text.startswith(("redis://", "rediss://", "unix://")):
        return None
    return "leave empty for the embedded Redis, or use redis://HOST:PORT/DB"


def check_library(text: str) -> str | None:
    if not text.strip():
        return "choose a folder"
    if not Path(text).expanduser().is_absolute():
        return "use a full path"
    return None


def check_token(text: str) -> str | None:
    try:  # the station's own rule, so the dialog never accepts a token the station refuses
        strong_token(text)
    except ConfigError as exc:
        return str(exc)
    return None


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.setWindowTitle("Settings")
        self.setMinimumWidth(560)
        self.restart_needed: list[str] = []

        self.library = QLineEdit(str(settings.library))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        library_row = QHBoxLayout()
        library_row.addWidget(self.library, 1)
        library_row.addWidget(browse)

        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(settings.port or 8765)

        self.token = QLineEdit(settings.token)
        regenerate = QPushButton("Regenerate")
        regenerate.setToolTip("Make a new pairing token; every Detector must then be given the new one")
        regenerate.clicked.connect(lambda: self.token.setText(new_token()))
        token_row = QHBoxLayout()
        token_row.addWidget(self.token, 1)
        token_row.addWidget(regenerate)

        self.small_file_mb = QDoubleSpinBox()
        self.small_file_mb.setRange(0.1, 100_000)
        self.small_file_mb.setDecimals(1)
        self.small_file_mb.setSuffix(" MB")
        self.small_file_mb.setValue(settings.small_file_bytes / MB)
        self.small_file_mb.setToolTip("Clips smaller than this are fetched first and searched for a passenger QR code")

        self.reserve_gb = QDoubleSpinBox()
        self.reserve_gb.setRange(0, 100_000)
        self.reserve_gb.setDecimals(1)
        self.reserve_gb.setSuffix(" GB")
        self.reserve_gb.setValue(settings.library_reserve_bytes / GB)
        self.reserve_gb.setToolTip("Kept free on the library's disk: an import stops with a message, before "
                                   "anything is copied, when a card's files would leave less than this")

        self.qr_window = QDoubleSpinBox()
        self.qr_window.setRange(0.5, 120)
        self.qr_window.setDecimals(1)
        self.qr_window.setSuffix(" s")
        self.qr_window.setValue(settings.qr_window_s)
        self.qr_window.setToolTip("How many seconds at the start of a clip are searched for the QR code")

        self.db_url = QLineEdit(settings.db_url)
        self.redis_url = QLineEdit(settings.redis_url or "")
        self.redis_url.setPlaceholderText("embedded (started by the station)")

        self.drop_zone_name = QLineEdit(settings.drop_zone_name)
        self.drop_zone_name.setPlaceholderText("on the title cards; empty: no title cards")
        self.logo_path, logo_row = self._file_row(settings.logo_path, "Logo (PNG)", "Images (*.png *.jpg *.jpeg)")
        self.music_path, music_row = self._file_row(settings.music_path, "Music bed", "Audio (*.mp3 *.m4a *.aac *.wav *.flac *.ogg *.mp4)")
        self.intro_s = self._seconds(settings.intro_s, "Length of the intro card (the passenger's name, the day, the drop zone)")
        self.outro_s = self._seconds(settings.outro_s, "Length of the outro card (the logo)")
        self.music_level = QDoubleSpinBox()
        self.music_level.setRange(-60, 0)
        self.music_level.setDecimals(0)
        self.music_level.setSuffix(" dB")
        self.music_level.setValue(settings.music_level_db)
        self.music_level.setToolTip("How loud the music is under the clips' own sound")

        self.checks: dict[str, tuple[QLineEdit, Any]] = {
            "library": (self.library, check_library),
            "token": (self.token, check_token),
            "db_url": (self.db_url, check_db_url),
            "redis_url": (self.redis_url, check_redis_url),
            "logo_path": (self.logo_path, logo_problem),
            "music_path": (self.music_path, music_problem),
        }
        form = QFormLayout()
        form.addRow("Library folder", library_row)
        form.addRow("Port", self.port)
        form.addRow("Pairing token", token_row)
        form.addRow("Small-file threshold", self.small_file_mb)
        form.addRow("Keep free on the library disk", self.reserve_gb)
        form.addRow("QR search window", self.qr_window)
        form.addRow("Database URL", self.db_url)
        form.addRow("Redis URL", self.redis_url)
        form.addRow(QLabel("<b>Passengers' videos</b>"))
        form.addRow("Drop zone name", self.drop_zone_name)
        form.addRow("Logo", logo_row)
        form.addRow("Intro card", self.intro_s)
        form.addRow("Outro card", self.outro_s)
        form.addRow("Music bed", music_row)
        form.addRow("Music level", self.music_level)

        self.problem = QLabel(objectName="errorText")
        self.problem.setWordWrap(True)
        self.notice = QLabel(objectName="noticeText")
        self.notice.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(self.notice)
        layout.addWidget(self.buttons)
        for field, _ in self.checks.values():
            field.textChanged.connect(self.validate)
        self.validate()

    def _browse(self) -> None:
        dialog = QFileDialog(self, "Library folder", self.library.text())
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly)
        dialog.fileSelected.connect(self.library.setText)
        dialog.open()

    def _file_row(self, value: str, title: str, pattern: str) -> tuple[QLineEdit, QHBoxLayout]:
        field = QLineEdit(value)
        field.setPlaceholderText("none")
        browse = QPushButton("Browse…")

        def choose() -> None:
            dialog = QFileDialog(self, title, str(Path(field.text()).parent) if field.text() else "", pattern)
            dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
            dialog.fileSelected.connect(field.setText)
            dialog.open()

        browse.clicked.connect(choose)
        row = QHBoxLayout()
        row.addWidget(field, 1)
        row.addWidget(browse)
        return field, row

    @staticmethod
    def _seconds(value: float, tip: str) -> QDoubleSpinBox:
        box = QDoubleSpinBox()
        box.setRange(0, 30)
        box.setDecimals(1)
        box.setSuffix(" s")
        box.setValue(value)
        box.setToolTip(tip)
        return box

    def problems(self) -> dict[str, str]:
        found = {}
        for key, (field, check) in self.checks.items():
            problem = check(field.text().strip())
            field.setProperty("invalid", "true" if problem else "false")
            field.style().unpolish(field)
            field.style().polish(field)
            if problem:
                found[key] = problem
        return found

    def validate(self) -> bool:
        problems = self.problems()
        labels = {"library": "Library folder", "token": "Pairing token", "db_url": "Database URL",
                  "redis_url": "Redis URL", "logo_path": "Logo", "music_path": "Music bed"}
        self.problem.setText("\n".join(f"{labels[key]}: {text}" for key, text in problems.items()))
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(not problems)
        return not problems

    def changes(self) -> dict[str, Any]:
        wanted = {
            "library": str(Path(self.library.text().strip()).expanduser()),
            "port": self.port.value(),
            "token": self.token.text().strip(),
            "small_file_bytes": int(round(self.small_file_mb.value() * MB)),
            "library_reserve_bytes": int(round(self.reserve_gb.value() * GB)),
            "qr_window_s": float(self.qr_window.value()),
            "db_url": self.db_url.text().strip(),
            "redis_url": self.redis_url.text().strip(),
            "drop_zone_name": self.drop_zone_name.text().strip(),
            "logo_path": self.logo_path.text().strip(),
            "music_path": self.music_path.text().strip(),
            "intro_s": float(self.intro_s.value()),
            "outro_s": float(self.outro_s.value()),
            "music_level_db": float(self.music_level.value()),
        }
        current = self.settings.public()
        current.setdefault("redis_url", "")
        return {key: value for key, value in wanted.items() if str(current.get(key, "")) != str(value)}

    def save(self) -> None:
        """Write the changes; stay open to say which ones wait for a restart."""
        if not self.validate():
            return
        changes = self.changes()
        if not changes:
            self.accept()
            return
        # The core saves them and applies what is safe to change while running; the rest waits
        # for the restart the dialog asks for.
        try:
            self.restart_needed = apply_settings(self.settings, changes)
        except (ConfigError, OSError) as exc:
            self.problem.setText(f"Not saved: {exc}")
            return
        if self.restart_needed:
            words = [RESTART_NAMES.get(key, key) for key in self.restart_needed]
            names = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
            self.notice.setText(f"Saved. Restart the station for the new {names} to take effect.")
            self.buttons.clear()
            self.buttons.addButton(QDialogButtonBox.StandardButton.Close).clicked.connect(self.accept)
            return
        self.accept()
