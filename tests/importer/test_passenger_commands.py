"""The crew's passenger commands over the real `/ui` socket (issue 13): the day's passengers
with their clips, video and warnings; a clip moved to another passenger or to unassigned
(both videos rendered again, the move kept); a render asked again; `GET /api/passengers`."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from pathlib import Path

import av
import pytest
from sqlalchemy import select
from websockets.asyncio.client import connect

from app.db.models import ExecutionFile, PipelineExecution
from app.media.sample_card import write_sample_card
from tests.importer.loopback import TOKEN, LoopbackDetector, start_station, wait_execution

DAY = "2026-11-23"


@pytest.fixture(scope="module")
def card(tmp_path_factory):
    return write_sample_card(tmp_path_factory.mktemp("card"))


@pytest.fixture(params=["sqlite+embedded-redis", "postgres+external-redis"])
async def station(request, tmp_path, card, redis_prefix):
    if request.param.startswith("postgres"):
        db_url, redis_url = request.getfixturevalue("pg_url"), request.getfixturevalue("external_redis_url")
    else:
        db_url = redis_url = None
    station = await start_station(tmp_path / "data", small_file_bytes=(card.largest_qr_clip + card.smallest_jump_clip) // 2,
                                  db_url=db_url, redis_url=redis_url, redis_prefix=redis_prefix)
    station.orchestrator.link = LoopbackDetector(card.root, station)
    ack = await station.orchestrator.file_list("desk-left", "3A1F-77C2", "GOPRO-ANA", "1", card.file_list())
    assert await wait_execution(station, ack.execution_id, "succeeded", "failed", timeout=120) == "succeeded"
    yield station
    await station.stop()


class Ui:
    def __init__(self, ws) -> None:
        self.ws = ws
        self.events: list[dict] = []

    async def ask(self, type_: str, data: dict, ref: str) -> dict:
        await self.ws.send(json.dumps({"type": type_, "id": ref, "data": data}))
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
            if message["data"].get("ref") == ref:
                return message
            self.events.append(message)


async def open_ui(station) -> Ui:
    ws = await connect(f"ws://127.0.0.1:{station.port}/ui")
    await ws.send(json.dumps({"type": "hello", "data": {"role": "ui", "token": TOKEN}}))
    assert json.loads(await ws.recv())["type"] == "welcome"
    return Ui(ws)


def duration_s(path: str | Path) -> float:
    with av.open(str(path)) as container:
        return container.duration / 1_000_000


async def renders_done(station) -> None:
    ids = await station.db.read(lambda s: s.scalars(select(PipelineExecution.id).where(
        PipelineExecution.pipeline == "passenger_render")).all())
    for execution_id in ids:
        assert await wait_execution(station, execution_id, "succeeded", "failed", timeout=60) == "succeeded"


async def test_the_days_passengers_and_moving_a_clip_between_them(station, card):
    ui = await open_ui(station)
    try:
        listed = (await ui.ask("passengers:list", {"day": DAY}, "l1"))["data"]
        by_booking = {p["booking_id"]: p for p in listed["passengers"]}
        ana_card, ben_card = card.passengers
        ana, ben = by_booking[ana_card.booking_id], by_booking[ben_card.booking_id]
        assert (ana["passenger_name"], ana["cameras"], ana["video"]["state"]) == (ana_card.passenger_name, ["GOPRO-ANA"], "ready")
        assert sorted(c["path"] for c in ana["clips"]) == sorted(ana_card.clips + ana_card.photos)
        assert Path(ana["qr_frame"]).is_file()
        assert ana["booking"] == {k: ana_card.payload[k] for k in ("jump_date", "package", "instructor", "camera_flyer")
                                  if k in ana_card.payload}
        assert not [w for p in (ana, ben) for w in p["warnings"] if w["kind"] in ("never_searched", "long_after_code")]
        assert all(c["search"]["method"] == "whole" for c in ana["clips"] if c["kind"] == "video")

        # The crew moves Ana's last clip to Ben: both videos are rendered again.
        moved = next(c for c in ana["clips"] if c["path"] == ana_card.clips[-1])
        answer = (await ui.ask("passenger:move_clip", {"file_id": moved["file_id"], "passenger_id": ben["passenger_id"]},
                               "m1"))
        assert answer["type"] == "passenger:move_clip_result" and answer["data"]["passenger_id"] == ben["passenger_id"]
        await renders_done(station)
        after = {p["booking_id"]: p for p in (await ui.ask("passengers:list", {"day": DAY}, "l2"))["data"]["passengers"]}
        clip_s = duration_s(card.root / moved["path"])
        ana_s = sum(duration_s(card.root / c) for c in ana_card.clips)
        ben_s = sum(duration_s(card.root / c) for c in ben_card.clips)
        assert after[ana_card.booking_id]["video"]["duration_s"] == pytest.approx(ana_s - clip_s, abs=0.2)
        assert after[ben_card.booking_id]["video"]["duration_s"] == pytest.approx(ben_s + clip_s, abs=0.2)
        assert duration_s(after[ben_card.booking_id]["video"]["path"]) == pytest.approx(ben_s + clip_s, abs=0.2)
        [entry] = [c for c in after[ben_card.booking_id]["clips"] if c["file_id"] == moved["file_id"]]
        assert entry["placed_by_hand"] and Path(entry["stored_path"]).read_bytes() == (card.root / moved["path"]).read_bytes()
        assert Path(entry["stored_path"]).parent.parent.name == f"{ben_card.booking_id} {ben_card.passenger_name}"
        document = json.loads((Path(ben["folder"]) / "passenger.json").read_text())
        assert moved["path"] in [c["card_path"] for c in document["clips"]]

        # ... then to unassigned: under the card's unassigned clips, Ben rendered again without it.
        answer = await ui.ask("passenger:move_clip", {"file_id": moved["file_id"], "passenger_id": None}, "m2")
        assert answer["data"]["passenger_id"] is None
        assert Path(answer["data"]["stored_path"]).parent == station.settings.library / DAY / "_unassigned" / "3A1F-77C2"
        await renders_done(station)
        unassigned = (await ui.ask("passengers:list", {"day": DAY}, "u1"))["data"]["unassigned"]
        assert sorted(c["path"] for c in unassigned) == sorted([*card.unassigned, moved["path"]])
        ben_now = next(p for p in (await ui.ask("passengers:list", {"day": DAY}, "l3"))["data"]["passengers"]
                       if p["passenger_id"] == ben["passenger_id"])
        assert ben_now["video"]["duration_s"] == pytest.approx(ben_s, abs=0.2)
        updated = [e["data"]["passenger_id"] for e in ui.events if e["type"] == "passenger:updated"]
        assert ana["passenger_id"] in updated and ben["passenger_id"] in updated

        # Bad requests change nothing.
        wrong = await ui.ask("passenger:move_clip", {"file_id": moved["file_id"], "passenger_id": 99999}, "b1")
        assert (wrong["type"], wrong["data"]["code"]) == ("error", "bad_message")
        again = await ui.ask("passenger:move_clip", {"file_id": moved["file_id"], "passenger_id": None}, "b2")
        assert (again["type"], again["data"]["code"]) == ("error", "conflict")
        bad_day = await ui.ask("passengers:list", {"day": "2026-13-40"}, "b3")
        assert (bad_day["type"], bad_day["data"]["code"]) == ("error", "bad_message")
        jump_of = await station.db.read(lambda s: s.get(ExecutionFile, moved["file_id"]).jump.unassigned)
        assert jump_of is True

        # The card is inserted again, and renders run again: the clip stays where the crew put it.
        again = await station.orchestrator.file_list("desk-left", "3A1F-77C2", "GOPRO-ANA", "1", card.file_list())
        assert await wait_execution(station, again.execution_id, "succeeded", "failed") == "succeeded"
        still = await station.db.read(lambda s: (lambda f: (f.jump.unassigned, f.stored_path, f.placed_by_hand))(
            s.get(ExecutionFile, moved["file_id"])))
        assert still == (True, answer["data"]["stored_path"], True)

        # A render asked again by hand; /api answers the same view as the socket.
        rerender = await ui.ask("passenger:rerender", {"passenger_id": ana["passenger_id"]}, "r1")
        assert rerender["type"] == "passenger:rerender_result"
        assert await wait_execution(station, rerender["data"]["execution_id"], "succeeded", "failed") == "succeeded"
        listed = (await ui.ask("passengers:list", {"day": DAY}, "l4"))["data"]
        request = urllib.request.Request(f"http://127.0.0.1:{station.port}/api/passengers?day={DAY}",
                                         headers={"Authorization": f"Bearer {TOKEN}"})
        body = await asyncio.to_thread(lambda: json.loads(urllib.request.urlopen(request, timeout=10).read()))
        assert body == {"day": DAY, "passengers": listed["passengers"], "unassigned": listed["unassigned"]}
    finally:
        await ui.ws.close()


async def test_warnings_a_crew_should_check(station, tmp_path):
    """A camera whose clock was reset (its clips dated 2016-01-01, the codes say the day), clips
    20 minutes apart (the last one 40 min after the code) and a clip gone before it was searched."""
    from datetime import datetime, timedelta, timezone

    reset = write_sample_card(tmp_path / "reset", passengers=(("BK-2026-2001", "Dora Reset"),),
                              start=datetime(2016, 1, 1, 0, 5, tzinfo=timezone.utc), step=timedelta(minutes=20),
                              jump_date=DAY)
    [dora] = reset.passengers
    gone = dora.clips[1]
    station.orchestrator.link = LoopbackDetector(reset.root, station, behaviour=lambda p: "missing" if p == gone else "ok")
    ack = await station.orchestrator.file_list("desk-right", "RESET-1", "HANDCAM", "2", reset.file_list())
    assert await wait_execution(station, ack.execution_id, "succeeded", "failed", timeout=120) == "succeeded"

    passengers = (await station.orchestrator.passengers(DAY))["passengers"]
    [view] = [p for p in passengers if p["booking_id"] == dora.booking_id]
    kinds = {(w["kind"], w.get("file_id")) for w in view["warnings"]}
    by_path = {c["path"]: c["file_id"] for c in view["clips"]}
    assert ("never_searched", by_path[gone]) in kinds
    assert ("long_after_code", by_path[dora.clips[2]]) in kinds  # 40 min after the code
    assert ("long_after_code", by_path[dora.clips[0]]) not in kinds
    assert {("clock_reset", by_path[c]) for c in dora.clips} <= kinds
    # The other passengers of the day: clips a minute apart, every one searched.
    assert not [w for p in passengers if p["booking_id"] != dora.booking_id for w in p["warnings"]
                if w["kind"] in ("never_searched", "long_after_code")]


async def test_a_passenger_whose_every_clip_is_moved_away_keeps_no_video_of_anothers_jump(station, card):
    """Ana's clips all go to Ben: the video made of them leaves Ana's folder (kept, moved to the
    library's retired videos, not deleted); Ana waits for footage and a hand-off link gives nothing."""
    ana_card, ben_card = card.passengers
    passengers = {p["booking_id"]: p for p in (await station.orchestrator.passengers(DAY))["passengers"]}
    ana, ben = passengers[ana_card.booking_id], passengers[ben_card.booking_id]
    old_video = Path(ana["video"]["path"])
    first_clip = next(c for c in ana["clips"] if c["kind"] == "video")
    ana_jump = await station.db.read(lambda s: s.get(ExecutionFile, first_clip["file_id"]).jump_id)
    link = await station.handoff.create_link(ana_jump)  # handed to Ana's phone before the crew's moves
    assert await asyncio.to_thread(lambda: urllib.request.urlopen(link.video_url, timeout=10).status) == 200
    ui = await open_ui(station)
    try:
        for n, clip in enumerate(c for c in ana["clips"] if c["kind"] == "video"):
            answer = await ui.ask("passenger:move_clip", {"file_id": clip["file_id"], "passenger_id": ben["passenger_id"]},
                                  f"m{n}")
            assert answer["type"] == "passenger:move_clip_result"
        await renders_done(station)
    finally:
        await ui.ws.close()
    after = {p["booking_id"]: p for p in (await station.orchestrator.passengers(DAY))["passengers"]}
    assert after[ana_card.booking_id]["video"]["state"] == "waiting"
    assert after[ana_card.booking_id]["video"].get("path") is None
    assert not old_video.exists()
    # The last video rendered of Ana's footage (after each move it was made again of what was left).
    [retired] = list((station.settings.library / ".ingest-retired" / DAY).rglob("*.mp4"))
    assert retired.parent.name == old_video.parent.name and duration_s(retired) > 0
    ben_s = sum(duration_s(card.root / c) for c in ben_card.clips + ana_card.clips)
    assert after[ben_card.booking_id]["video"]["duration_s"] == pytest.approx(ben_s, abs=0.3)
    document = json.loads((Path(ana["folder"]) / "passenger.json").read_text())
    assert not document.get("video")
    with pytest.raises(urllib.error.HTTPError) as refused:
        await asyncio.to_thread(lambda: urllib.request.urlopen(link.video_url, timeout=10))
    assert refused.value.code == 404
