"""The Passengers view's model, fed with plain rows shaped as `passengers_read` answers them
(no station): what each row says, warnings that show, clips under their passenger, rows that
change in place."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPixmap

from app.gui.passengers_data import clip_row, passenger_row
from app.gui.passengers_model import CONFLICT_ROLE, VIDEO_COLOURS, Column, Kind, PassengersModel

pytestmark = pytest.mark.gui

DAY = "2026-11-23"


def clip(file_id: int, name: str, *, camera: str = "GOPRO-ANA", method: str | None = "whole", readable: bool = True,
         by_hand: bool = False) -> dict[str, Any]:
    return {"file_id": file_id, "execution_id": 1, "camera": camera, "card_id": "3A1F", "path": f"DCIM/100GOPRO/{name}",
            "name": name, "stored_path": f"/lib/{DAY}/x/{camera}/{name}", "kind": "video", "size": 12_500_000,
            "modified": "2026-11-23T10:00:00+00:00", "state": "stored",
            "search": {"method": method, "bytes": 10, "found": False} if method else None,
            "placed_by_hand": by_hand, "readable": readable}


def passenger(pid: int, name: str, booking: str, *, state: str = "ready", clips=(), warnings=(), conflict=False,
              day: str = DAY, qr_frame: str | None = None) -> dict[str, Any]:
    return {"passenger_id": pid, "booking_id": booking, "passenger_name": name, "day": day, "conflict": conflict,
            "folder": f"/lib/{day}/{booking} {name}", "cameras": sorted({c["camera"] for c in clips}),
            "clips": list(clips), "video": {"state": state, "path": f"/lib/{day}/{booking} {name}/v.mp4",
                                            "duration_s": 75.0, "error": None},
            "qr_frame": qr_frame, "warnings": list(warnings)}


def text(model: PassengersModel, node, column: Column, role=Qt.ItemDataRole.DisplayRole):
    return model.index_of(node, column).data(role)


def test_rows_say_what_the_crew_checks(qapp):
    ana_clips = [clip(11, "GX010001.MP4"), clip(12, "GX020001.MP4", camera="C3441", method=None, by_hand=True),
                 clip(13, "GX010002.MP4", readable=False)]
    ana = passenger(1, "Ana Silva", "BK-1042", clips=ana_clips, qr_frame="/nowhere/qr.jpg", warnings=[
        {"kind": "never_searched", "file_id": 12, "message": "GX020001.MP4 was never searched for a code"},
        {"kind": "unreadable", "file_id": 13, "message": "GX010002.MP4 cannot be read: left out of the video"},
        {"kind": "clock_reset", "file_id": 11, "message": "GX010001.MP4: camera GOPRO-ANA's clock looks reset"}])
    ben = passenger(2, "Ben Keller", "BK-1043", state="rendering", clips=[clip(21, "GX010003.MP4")])
    other = passenger(3, "Ana Sylva", "BK-1042", state="failed", conflict=True, clips=[clip(31, "GX010004.MP4")],
                      warnings=[{"kind": "conflict", "message": "booking BK-1042 is also Ana Silva on this day"}])
    model = PassengersModel()
    asked: list[tuple[int, str]] = []
    model.thumbnail_wanted.connect(lambda pid, path: asked.append((pid, path)))
    model.show_day(DAY, [passenger_row(p) for p in (ana, ben, other)], [clip_row(clip(40, "GX010000.MP4"))])

    assert [model.index(r, 0).data() for r in range(model.rowCount())] == \
        ["Ana Silva", "Ben Keller", "Ana Sylva", "Unassigned clips"]
    a = model.passenger(1)
    assert [text(model, a, c) for c in Column] == ["Ana Silva", "BK-1042", "C3441, GOPRO-ANA", "3 clips", "ready",
                                                   "1:15", "3 warnings"]
    assert "never searched" in text(model, a, Column.WARNINGS, Qt.ItemDataRole.ToolTipRole)
    assert not text(model, a, Column.WARNINGS, Qt.ItemDataRole.DecorationRole).isNull()  # the warning icon
    assert QColor(text(model, a, Column.VIDEO, Qt.ItemDataRole.ForegroundRole)) == VIDEO_COLOURS["ready"]
    assert text(model, model.passenger(2), Column.VIDEO) == "rendering"
    assert text(model, model.passenger(2), Column.DURATION) == ""  # no length for a video being made
    b = model.passenger(3)
    assert (text(model, b, Column.VIDEO), text(model, b, Column.WARNINGS)) == ("failed", "conflict")
    assert text(model, b, Column.NAME, CONFLICT_ROLE) is True
    assert "also Ana Silva" in text(model, b, Column.WARNINGS, Qt.ItemDataRole.ToolTipRole)
    assert asked == [(1, "/nowhere/qr.jpg")]

    # The clips, under their passenger, with their marks.
    clips = {c.row.name: c for c in a.children}
    assert [c.kind for c in a.children] == [Kind.CLIP] * 3
    assert text(model, clips["GX020001.MP4"], Column.CAMERAS) == "C3441"
    assert text(model, clips["GX020001.MP4"], Column.WARNINGS) == "placed by hand · never searched"
    assert text(model, clips["GX010002.MP4"], Column.WARNINGS) == "unreadable"
    assert "left out of the video" in text(model, clips["GX010002.MP4"], Column.WARNINGS, Qt.ItemDataRole.ToolTipRole)
    assert text(model, clips["GX010001.MP4"], Column.WARNINGS) == "clock reset"
    assert "clock looks reset" in text(model, clips["GX010001.MP4"], Column.WARNINGS, Qt.ItemDataRole.ToolTipRole)
    assert [c.name for c in model.unassigned_clips()] == ["GX010000.MP4"]

    # A QR frame arrives: the passenger's row shows it.
    frame = QPixmap(64, 36)
    frame.fill(QColor("white"))
    model.set_thumbnail(1, frame)
    assert isinstance(text(model, a, Column.NAME, Qt.ItemDataRole.DecorationRole), QPixmap)


def test_a_passenger_read_again_changes_in_place(qapp):
    ana = passenger(1, "Ana Silva", "BK-1042", state="waiting", clips=[clip(11, "GX010001.MP4")])
    ben = passenger(2, "Ben Keller", "BK-1043", clips=[clip(21, "GX010003.MP4"), clip(22, "GX010005.MP4")])
    model = PassengersModel()
    model.show_day(DAY, [passenger_row(ana), passenger_row(ben)], [])
    resets, inserted, removed = [], [], []
    model.modelReset.connect(lambda: resets.append(1))
    model.rowsInserted.connect(lambda parent, first, last: inserted.append(model.node_at(parent)))
    model.rowsRemoved.connect(lambda parent, first, last: removed.append(model.node_at(parent)))

    model.set_video_state(1, "rendering")  # from the event, at once
    assert text(model, model.passenger(1), Column.VIDEO) == "rendering"
    # Ben's second clip moved to Ana; both read again.
    moved = clip(22, "GX010005.MP4", by_hand=True)
    model.upsert_passenger(passenger_row(passenger(1, "Ana Silva", "BK-1042", clips=[clip(11, "GX010001.MP4"), moved])))
    model.upsert_passenger(passenger_row(passenger(2, "Ben Keller", "BK-1043", state="rendering",
                                                   clips=[clip(21, "GX010003.MP4")])))
    assert resets == []
    assert [n.kind for n in inserted] == [Kind.PASSENGER] and [n.kind for n in removed] == [Kind.PASSENGER]
    assert [c.id for c in model.passenger(1).children] == [11, 22]
    assert text(model, model.passenger(1), Column.VIDEO) == "ready"
    assert text(model, model.clip(22), Column.WARNINGS) == "placed by hand"
    # A passenger of another day leaves the view.
    model.upsert_passenger(passenger_row(passenger(2, "Ben Keller", "BK-1043", day="2026-11-24")))
    assert model.passenger(2) is None and [p.id for p in model.passengers()] == [1]
