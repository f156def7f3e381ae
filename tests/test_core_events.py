"""The typed events keep the wire form of docs/protocol.md, and come back typed from it (the
Redis relay of remote workers' events)."""

from __future__ import annotations

import json

import pytest

from app.core_events import (
    EVENT_TYPES,
    CardRemoved,
    CardStatusChanged,
    CardWiped,
    ClipsAssigned,
    CoreEvent,
    DetectorConnected,
    DetectorDisconnected,
    PassengerUpdated,
    PipelineCancelled,
    PipelineCompleted,
    PipelineFailed,
    PipelineStarted,
    QrDecoded,
    StepCompleted,
    StepStarted,
    TransferProgress,
    TransferRequested,
    from_wire,
)

TS = "2026-11-24T03:00:00.000Z"
PASSENGER = {"booking_id": "BK-1042", "passenger_name": "Ana Silva", "jump_date": "2026-11-24"}
ONE_OF_EACH: list[CoreEvent] = [
    DetectorConnected(detector_id="desk-left", name="Desk left", ts=TS),
    DetectorDisconnected(detector_id="desk-left", name="Desk left", ts=TS),
    CardRemoved(detector_id="desk-left", card_id="3A1F", ts=TS),
    PipelineStarted(execution_id=7, card_id="3A1F", detector_id="desk-left", files_total=10, files_new=6, ts=TS),
    StepStarted(execution_id=7, step_id=70, step="decode_qr", key="GX010001.MP4", attempt=2, ts=TS),
    StepCompleted(execution_id=7, step_id=70, step="decode_qr", key="GX010001.MP4", status="succeeded",
                  duration_ms=420, progress={"done": 3, "total": 9}, ts=TS),
    PipelineCompleted(execution_id=7, summary={"jumps": [{"jump_id": 1, "passenger": PASSENGER}],
                                               "files_imported": 6}, ts=TS),
    PipelineFailed(execution_id=7, step_id=70, step="decode_qr", error="moov atom not found", ts=TS),
    PipelineCancelled(execution_id=7, cancelled_steps=4, ts=TS),
    QrDecoded(execution_id=7, jump_id=1, clip="DCIM/100GOPRO/GX010001.MP4", passenger=PASSENGER, passenger_id=3,
              camera="C3441325", ts=TS),
    ClipsAssigned(execution_id=7, jump_id=1, file_ids=[11, 12], ts=TS),
    TransferRequested(execution_id=7, request_id="r-1", ts=TS),
    TransferProgress(execution_id=7, request_id="r-1", path="DCIM/100GOPRO/GX010001.MP4", bytes=10, total=20, ts=TS),
    PassengerUpdated(passenger_id=3, video_state="ready", reason="video ready", execution_id=8, ts=TS),
    CardStatusChanged(execution_id=7, card_id="3A1F", detector_id="desk-left", state="complete", files_total=10,
                      files_verified=10, safe_to_format=True, ts=TS),
    CardWiped(execution_id=7, card_id="3A1F", detector_id="desk-left", request_id="w-7-ab12", deleted=9,
              kept=[{"path": "DCIM/100GOPRO/GX010002.MP4", "reason": "changed"}], ts=TS),
]


def test_every_event_class_is_in_the_catalogue_once():
    assert sorted(type(e).TYPE for e in ONE_OF_EACH) == sorted(EVENT_TYPES)


@pytest.mark.parametrize("event", ONE_OF_EACH, ids=lambda e: e.type)
def test_an_event_crosses_redis_as_json_and_comes_back_the_same(event: CoreEvent):
    relayed = json.loads(json.dumps(event.to_message()))
    again = from_wire(relayed["type"], relayed["data"])
    assert type(again) is type(event) and again.data == event.data and again.ts == TS


def test_the_wire_form_is_the_protocols():
    completed = ONE_OF_EACH[6].data
    assert completed == {"execution_id": 7, "jumps": [{"jump_id": 1, "passenger": PASSENGER}], "files_imported": 6,
                         "ts": TS}  # the pipeline's own fields beside the execution, as before
    # A command's passenger update names no execution; a step's no day: absent, not null.
    assert PassengerUpdated(passenger_id=3, video_state="waiting", reason="render queued", day="2026-11-24",
                            ts=TS).data == {"passenger_id": 3, "video_state": "waiting", "reason": "render queued",
                                            "day": "2026-11-24", "ts": TS}
    assert ONE_OF_EACH[4].to_message() == {"type": "pipeline:step_started", "data": {
        "execution_id": 7, "step_id": 70, "step": "decode_qr", "key": "GX010001.MP4", "attempt": 2, "ts": TS}}


@pytest.mark.parametrize(("type_", "data"), [
    ("pipeline:no_such_event", {"execution_id": 7}),
    ("pipeline:step_started", {"execution_id": 7}),  # fields missing
])
def test_a_relayed_event_that_does_not_fit_is_refused(type_: str, data: dict):
    with pytest.raises(ValueError):
        from_wire(type_, data)
