"""The desk window: Detectors on the left, the Imports tree in the middle, details on the right,
the station's vital signs in the status line."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QItemSelection, QModelIndex, QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QFrame,
    QLabel,
    QMainWindow,
    QSizePolicy,
    QSplitter,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app.events import Event
from app.gui.activity import ActivityNotifier
from app.gui.detectors_state import DetectorsState
from app.gui.event_bridge import EventBridge
from app.gui.garbage import GuiThreadCollector
from app.gui.imports_controller import ImportsController
from app.gui.imports_model import ImportsModel
from app.gui.lag_monitor import LagMonitor
from app.gui.passengers_controller import PassengersController
from app.gui.passengers_model import Kind as PassengerKind
from app.gui.passengers_model import PassengersModel
from app.gui.resources import icon
from app.gui.views.detectors_panel import DetectorsPanel
from app.gui.views.imports_view import ImportsView
from app.gui.views.passengers_view import PassengersPanel
from app.gui.views.settings_dialog import SettingsDialog
from app.gui.views.status_bar import StationStatusBar
from app.gui.views.step_details import StepDetailsPanel
from app.version import __version__


PREFERRED_SIZE = QSize(1440, 860)
LIBRARY_REFRESH_S = 10.0  # the library disk's free space: read again this often


def _initial_size() -> QSize:
    """The preferred size, shrunk to fit a small desk laptop's screen (1366x768 is common)."""
    screen = QGuiApplication.primaryScreen()
    if screen is None:
        return PREFERRED_SIZE
    available = screen.availableGeometry()
    return PREFERRED_SIZE.boundedTo(QSize(int(available.width() * 0.95), int(available.height() * 0.92)))


class MainWindow(QMainWindow):
    closed = Signal()

    def __init__(self, station: Any, open_url: Callable[[QUrl], Any] = QDesktopServices.openUrl) -> None:
        super().__init__()
        self.station = station
        self.setWindowIcon(icon("app"))
        self.resize(_initial_size())
        self.lag = LagMonitor()
        self.collector = GuiThreadCollector(parent=self)

        self.model = ImportsModel(self)
        self.detectors = DetectorsState(parent=self)
        self.details = StepDetailsPanel()
        self.controller = ImportsController(station, self.model, self.detectors, self.details, open_url, self)
        self.imports = ImportsView(self.model, self.controller)
        self.detectors_panel = DetectorsPanel(self.detectors)
        self.activity = ActivityNotifier(self, self.model, station.settings.station_id)
        self.settings_dialog: SettingsDialog | None = None
        # The crew's view of the day: the tab the window opens on.
        self.passengers_model = PassengersModel(self)
        self.passengers_controller = PassengersController(station, self.passengers_model, open_url, parent=self)
        self.passengers = PassengersPanel(self.passengers_model, self.passengers_controller)

        self._build_toolbar()
        self._build_body()
        self.status = StationStatusBar(self)
        self.setStatusBar(self.status)
        self.controller.message.connect(lambda text: self.status.showMessage(text, 6000))
        self.controller.problem.connect(lambda text: self.status.showMessage("⚠ " + text, 10000))
        self.passengers_controller.message.connect(lambda text: self.status.showMessage(text, 6000))
        self.imports.selectionModel().selectionChanged.connect(self._selection_changed)
        # One details panel for both tabs: it shows the last selection made, and on a tab's
        # change the selection of the tab brought to the front.
        self.passengers.tree.selectionModel().currentChanged.connect(lambda *_: self._show_passenger_details())
        self.passengers_model.dataChanged.connect(self._passenger_changed)
        self.tabs.currentChanged.connect(self._tab_changed)

        self.bridge = EventBridge(station.bus, self)
        self.bridge.received.connect(self.handle_event)
        self._clock = QTimer(self, interval=1000)
        self._clock.timeout.connect(self._tick)
        self._library_due = 0.0  # when the library disk's free space is read next (monotonic)
        self._library_read: asyncio.Task[None] | None = None
        self.activity.refresh_title()

    # -- layout -------------------------------------------------------------------------------
    def _build_toolbar(self) -> None:
        bar = QToolBar("Station")
        bar.setMovable(False)
        bar.setIconSize(QSize(26, 26))
        logo = QLabel()
        logo.setPixmap(icon("app").pixmap(30, 30))
        bar.addWidget(logo)
        brand = QLabel("Ingest Station", objectName="brand")
        bar.addWidget(brand)
        sub = QLabel(f"  {self.station.settings.station_id}  ·  v{__version__}", objectName="brandSub")
        bar.addWidget(sub)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        bar.addWidget(spacer)
        self.settings_action = QAction("Settings…", self)
        self.settings_action.triggered.connect(self.open_settings)
        bar.addAction(self.settings_action)
        self.addToolBar(bar)

    def _build_body(self) -> None:
        imports_panel = QFrame(objectName="panel")
        layout = QVBoxLayout(imports_panel)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(QLabel("Imports", objectName="panelTitle"))
        layout.addWidget(self.imports)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.detectors_panel)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.passengers, icon("passenger"), "Passengers")
        self.tabs.addTab(imports_panel, icon("card"), "Imports")
        splitter.addWidget(self.tabs)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([300, 910, 270])
        splitter.setHandleWidth(8)
        body = QWidget()
        outer = QVBoxLayout(body)
        outer.setContentsMargins(8, 8, 8, 4)
        outer.addWidget(splitter)
        self.setCentralWidget(body)

    # -- life ---------------------------------------------------------------------------------
    async def start(self) -> None:
        """Show the station's state: the address, the recent imports, and then live events."""
        station = self.station
        self.status.show_station(
            f"{station.settings.host}:{station.port}", station.settings.token,
            station.db.describe() if station.db else "—", station.describe_redis(),
            fingerprint=station.fingerprint or "",
        )
        await self.refresh_library_free()
        self._tick()
        self._clock.start()
        self.lag.start()
        await self.controller.load_recent()
        await self.passengers_controller.load()
        self.collector.start()

    async def shutdown(self) -> None:
        self.collector.stop()
        self._clock.stop()
        if self._library_read is not None:
            self._library_read.cancel()
        self.bridge.close()
        self.activity.close()
        await self.lag.stop()
        await self.controller.close()
        await self.passengers_controller.close()

    def handle_event(self, event: Event) -> None:
        self.controller.handle_event(event)
        self.passengers_controller.handle_event(event)
        self.activity.handle_event(event)

    async def refresh_library_free(self) -> None:
        """The room left on the library's disk, read on a thread (a network share may be slow)."""
        self._library_due = time.monotonic() + LIBRARY_REFRESH_S
        room = await asyncio.to_thread(self.station.library_room)
        self.status.set_library_room(room, str(self.station.settings.library))

    def _tick(self) -> None:
        if time.monotonic() >= self._library_due and (self._library_read is None or self._library_read.done()):
            self._library_read = asyncio.ensure_future(self.refresh_library_free())
        self.model.tick()
        total = self.station.count_workers()
        self.status.set_workers(min(self.model.running_steps(), total) if total else self.model.running_steps(), total)
        self.status.workers.setToolTip(f"Event loop lag: worst {self.lag.max_ms:.0f} ms, "
                                       f"95th percentile {self.lag.percentile_ms(0.95):.0f} ms")

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        current = self.imports.selectionModel().currentIndex()
        self.controller.select(self.model.node_at(current))

    def _tab_changed(self, _index: int) -> None:
        if self.tabs.currentWidget() is self.passengers:
            self._show_passenger_details()
        else:
            self._selection_changed(QItemSelection(), QItemSelection())

    def _passenger_changed(self, top_left: QModelIndex, _bottom_right: QModelIndex, _roles: Any = None) -> None:
        """A passenger shown in the panel was read again (video ready, a clip moved): show it anew."""
        node = self.passengers_model.node_at(top_left)
        shown = self.details.shown
        if node is None or shown is None or shown[0] != "passenger":
            return
        passenger = node.parent if node.kind is PassengerKind.CLIP else node
        if passenger is not None and passenger.kind is PassengerKind.PASSENGER and passenger.id == shown[1]:
            self._show_passenger_details()

    def _show_passenger_details(self) -> None:
        """The Passengers view's current row in the details panel (a clip: its passenger)."""
        self.controller.select(None)  # the Imports tree's selection no longer refreshes the panel
        node = self.passengers.tree.current_node()
        clip = None
        if node is not None and node.kind is PassengerKind.CLIP and node.parent is not None:
            clip, node = node.row.name, node.parent
        if node is not None and node.kind is PassengerKind.PASSENGER:
            self.details.show_passenger(node.row, self.passengers_model.thumbnail(node.id), clip)
        elif node is not None and node.kind is PassengerKind.UNASSIGNED:
            self.details.show_unassigned_clips(len(node.children))
        else:
            self.details.show_nothing()

    def open_settings(self) -> SettingsDialog:
        dialog = SettingsDialog(self.station.settings, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.status.set_token(self.station.settings.token))
        dialog.destroyed.connect(lambda: setattr(self, "settings_dialog", None))
        self.settings_dialog = dialog
        dialog.open()
        return dialog

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.WindowStateChange:
            self.activity.window_state_changed()
        super().changeEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        event.accept()
        self.closed.emit()
