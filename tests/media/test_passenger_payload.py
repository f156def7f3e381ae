from __future__ import annotations

import json

import pytest

from app.pipeline.passenger import NotPassengerCode, is_passenger_code, parse_passenger_code


def test_protocol_example_is_a_passenger_with_every_field_kept() -> None:
    text = ('{"v":1,"booking_id":"BK-2026-1042","passenger_name":"Ana Silva","jump_date":"2026-11-23",'
            '"email":"ana@example.org","package":"video+photos","instructor":"J. Berg","camera_flyer":"M. Costa"}')
    passenger = parse_passenger_code(text)
    assert passenger.booking_id == "BK-2026-1042"
    assert passenger.passenger_name == "Ana Silva"
    assert passenger.payload == json.loads(text)


def test_unknown_extra_fields_are_kept_as_they_are() -> None:
    passenger = parse_passenger_code('{"booking_id":"B1","passenger_name":"Zoë","shoe_size":[42,43]}')
    assert passenger.payload["shoe_size"] == [42, 43]


@pytest.mark.parametrize("text", [
    "https://example.org/tshirt",
    "just a sticker",
    "[1, 2, 3]",
    '{"booking_id":"B1"}',
    '{"passenger_name":"Ana"}',
    '{"booking_id":"","passenger_name":"Ana"}',
    '{"booking_id":"B1","passenger_name":"   "}',
    '{"booking_id":42,"passenger_name":"Ana"}',
    '{"booking_id":"B1","passenger_name":"' + "x" * 201 + '"}',
    '{"booking_id":"B1","passenger_name":"Ana"',
])
def test_texts_that_are_not_passenger_objects_are_refused(text: str) -> None:
    assert not is_passenger_code(text)
    with pytest.raises(NotPassengerCode):
        parse_passenger_code(text)


def test_names_of_exactly_200_characters_are_accepted() -> None:
    name = "y" * 200
    assert parse_passenger_code(json.dumps({"booking_id": "B1", "passenger_name": name})).passenger_name == name
