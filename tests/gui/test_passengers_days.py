"""Which day the Passengers view shows: the newest day that has passengers, else the desk's today
(an injected clock, never the machine's date); a newer day's first passenger is followed until
the crew picks a day; then the crew's day stays."""

from __future__ import annotations

from datetime import date

import pytest

from app.db.models import Passenger
from app.gui.passengers_controller import PassengersController
from app.gui.passengers_model import PassengersModel
from app.core_events import PassengerUpdated, PipelineCompleted
from tests.gui.helpers import open_window, wait_until

pytestmark = pytest.mark.gui


def _add(session, name: str, booking: str, day: str) -> int:
    record = Passenger(booking_id=booking, passenger_name=name, day=day, folder=f"/lib/{day}/{booking} {name}")
    session.add(record)
    session.flush()
    return record.id


def _names(model: PassengersModel) -> list[str]:
    return [row.passenger_name for row in model.passengers()]


def test_the_day_shown(run_async, station_settings):
    async def scenario() -> None:
        async with open_window(station_settings) as window:
            station = window.station
            model = PassengersModel()
            controller = PassengersController(station, model, [].append, today=lambda: date(2031, 5, 6))
            shown: list[str] = []
            controller.days_changed.connect(lambda days, day: shown.append(day))
            try:
                await controller.load()
                assert (model.day, controller.days, _names(model)) == ("2031-05-06", [], [])

                # The first passengers: an older day, then a newer one; the view follows the newest.
                await station.db.run(lambda s: _add(s, "Ana Silva", "BK-1", "2026-11-22"))
                ben = await station.db.run(lambda s: _add(s, "Ben Keller", "BK-2", "2026-11-23"))
                controller.handle_event(station.bus.publish(PassengerUpdated(passenger_id=ben,
                                                                             video_state="waiting", reason="new footage")))
                await wait_until(lambda: model.day == "2026-11-23", what="the newest day")
                await controller.idle()
                assert _names(model) == ["Ben Keller"] and controller.days == ["2026-11-23", "2026-11-22"]

                # The crew picks the older day: it stays, whatever passengers the newest day gains.
                await controller.choose_day("2026-11-22")
                assert _names(model) == ["Ana Silva"]
                before = len(shown)
                cleo = await station.db.run(lambda s: _add(s, "Cléo Roy", "BK-3", "2026-11-23"))
                controller.handle_event(station.bus.publish(PassengerUpdated(passenger_id=cleo,
                                                                             video_state="waiting", reason="new footage")))
                controller.handle_event(station.bus.publish(PipelineCompleted(execution_id=1, summary={"jumps": []})))
                await wait_until(lambda: len(shown) > before, what="the day read again")
                await controller.idle()
                assert shown[-1] == model.day == "2026-11-22" and _names(model) == ["Ana Silva"]
            finally:
                await controller.close()
    run_async(scenario())
