"""The reference Detector's side of the protocol additions (docs/protocol.md, "Additions"):
`range` slices, `cancel`, `status` ("safe to format") and `wipe`, against a scripted station
and a real card folder on disk."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from tests.net.conftest import eventually
from tests.net.scripted_station import ScriptedStation
from tests.net.test_detector_agent import make_card
from tests.net.test_detector_hostile_station import CLIP, answer_for, copy_request, entry, running


async def test_the_detector_announces_the_additions(tmp_path):
    card = make_card(tmp_path / "card", {CLIP: b"clip"})
    async with ScriptedStation() as station, running(station, card):
        await eventually(station.listed)
    assert {"upload", "range", "cancel", "status", "wipe"} <= set(station.hellos[0]["data"]["capabilities"])


async def test_a_detector_started_without_range_does_not_announce_it(tmp_path):
    card = make_card(tmp_path / "card", {CLIP: b"clip"})
    async with ScriptedStation() as station, running(station, card, ranges=False):
        await eventually(station.listed)
    capabilities = station.hellos[0]["data"]["capabilities"]
    assert "range" not in capabilities and {"upload", "cancel", "status"} <= set(capabilities)


async def test_range_sends_only_the_slices_asked_for_head_and_tail_of_one_file(tmp_path):
    payload = os.urandom(300_000)
    size = len(payload)
    card = make_card(tmp_path / "card", {CLIP: payload})
    async with ScriptedStation() as station, running(station, card):
        await eventually(station.listed)
        await station.send("sd:copy_request", copy_request(
            "r-1", entry(CLIP, size, 0, length=1000), entry(CLIP, size, size - 500, length=2000),
            entry(CLIP, size, size, length=10)))
        await eventually(lambda: len(station.uploads) == 2 and station.uploads[1].end is not None
                         and len(station.of_type("sd:copy_error")) == 1)
    head, tail = station.uploads
    assert (head.begin["offset"], head.begin["length"], head.begin["size"]) == (0, 1000, size)
    assert head.data == payload[:1000]
    assert head.end["data"] == {"request_id": "r-1", "path": CLIP, "size": size, "offset": 0, "length": 1000,
                                "sha256": hashlib.sha256(payload[:1000]).hexdigest()}
    assert (tail.begin["offset"], tail.begin["length"]) == (size - 500, 500)  # cut at the end of the file
    assert tail.data == payload[-500:]
    assert tail.end["data"]["sha256"] == hashlib.sha256(payload[-500:]).hexdigest()
    beyond = station.of_type("sd:copy_error")[0]
    assert beyond["retryable"] is False and "beyond the end" in beyond["error"]


async def test_a_cancel_stops_the_current_file_and_the_rest_of_its_request(tmp_path):
    big = 64 * 1024 * 1024  # more than loopback buffers hold while the station does not read
    card = make_card(tmp_path / "card", {"DCIM/B.MP4": b"b" * 10, "DCIM/C.MP4": b"c" * 10, "DCIM/D.MP4": b"d"})
    with (card / "DCIM" / "A.MP4").open("wb") as fh:
        fh.truncate(big)  # sparse: costs no disk
    async with ScriptedStation() as station, running(station, card):
        await eventually(station.listed)
        station.pause_on_begin = True  # the Detector's frames back up: it is still sending A when the cancel comes
        await station.send("sd:copy_request", copy_request(
            "r-1", entry("DCIM/A.MP4", big), entry("DCIM/B.MP4", 10), entry("DCIM/C.MP4", 10)))
        await eventually(lambda: station.uploads)
        await station.send("sd:copy_cancel", {"request_id": "r-1", "card_id": "CARD-1", "reason": "cancelled"})
        await station.send("sd:copy_request", copy_request("r-2", entry("DCIM/D.MP4", 1)))
        station.pause_on_begin = False
        station.reading.set()
        # Requests are served in order: once r-2 is answered, r-1 sends nothing more.
        await eventually(lambda: answer_for(station, "r-2", "DCIM/D.MP4"), timeout=30)
    stopped = answer_for(station, "r-1", "DCIM/A.MP4")
    assert stopped["type"] == "sd:copy_error" and stopped["data"]["retryable"] is False
    assert len(station.uploads[0].data) < big
    assert [u.begin["path"] for u in station.uploads] == ["DCIM/A.MP4", "DCIM/D.MP4"]
    assert answer_for(station, "r-1", "DCIM/B.MP4") is None and answer_for(station, "r-1", "DCIM/C.MP4") is None


async def test_card_status_is_kept_and_safe_to_format_is_said_only_when_complete(tmp_path):
    card = make_card(tmp_path / "card", {CLIP: b"clip"})
    said: list[str] = []
    status = {"card_id": "CARD-1", "execution_id": 12, "files_total": 1, "extra_field": "ignored"}
    async with ScriptedStation() as station, running(station, card, say=said.append) as agent:
        await eventually(station.listed)
        await station.send("sd:card_status", {**status, "state": "importing", "files_verified": 0,
                                              "safe_to_format": False})
        await eventually(lambda: agent.card_status.get("CARD-1", {}).get("state") == "importing")
        assert said == []
        await station.send("sd:card_status", {**status, "state": "complete", "files_verified": 1,
                                              "safe_to_format": True})
        await eventually(lambda: said)
    assert said == ["card CARD-1 (card): safe to format"]
    assert agent.card_status["CARD-1"] == {"card_id": "CARD-1", "state": "complete", "safe_to_format": True,
                                           "execution_id": 12, "files_total": 1, "files_verified": 1}


def listed_entry(listing: dict, path: str) -> dict:
    return next(f for f in listing["files"] if f["path"] == path)


async def test_wipe_deletes_exactly_the_listed_unchanged_files_and_nothing_else(tmp_path):
    card = make_card(tmp_path / "card", {
        "DCIM/100GOPRO/GX010001.MP4": b"verified clip",
        "DCIM/100GOPRO/GL010001.LRV": b"its proxy",
        "DCIM/100GOPRO/GX010002.MP4": b"grows later",
        "DCIM/100GOPRO/GX010003.MP4": b"touched later",
        "DCIM/100GOPRO/GX010004.MP4": b"not listed by the station",
        "DCIM/101GOPRO/GX020001.MP4": b"behind a link later",
        "MISC/notes.txt": b"not a clip",
    })
    outside = make_card(tmp_path / "outside", {"precious.MP4": b"precious"})
    async with ScriptedStation() as station, running(station, card) as agent:
        listing = await eventually(station.listed)
        # After the listing: one file grows, one is touched, one folder becomes a link out of the card.
        (card / "DCIM/100GOPRO/GX010002.MP4").write_bytes(b"grows later, and more")
        os.utime(card / "DCIM/100GOPRO/GX010003.MP4", (1_000_000_000, 1_000_000_000))
        (card / "DCIM/101GOPRO").rename(outside / "101GOPRO")
        (card / "DCIM/101GOPRO").symlink_to(outside / "101GOPRO", target_is_directory=True)
        wanted = ["DCIM/100GOPRO/GX010001.MP4", "DCIM/100GOPRO/GL010001.LRV", "DCIM/100GOPRO/GX010002.MP4",
                  "DCIM/100GOPRO/GX010003.MP4", "DCIM/101GOPRO/GX020001.MP4"]
        files = [{**listed_entry(listing, p), "sha256": "0" * 64} for p in wanted]
        files.append({"path": "../outside/precious.MP4", "size": 8, "modified": files[0]["modified"]})
        files.append({**listed_entry(listing, "DCIM/100GOPRO/GX010004.MP4"), "size": -1})
        files.append({"path": "DCIM/100GOPRO/NOT_ON_CARD.MP4", "size": 1, "modified": files[0]["modified"]})
        await station.send("sd:wipe_request", {"request_id": "w-7", "card_id": "CARD-1", "files": files})
        done = (await eventually(lambda: station.of_type("sd:wipe_done")))[0]
        assert agent.cards["CARD-1"].file("DCIM/100GOPRO/GX010001.MP4") is None  # no longer offered

    assert done["request_id"] == "w-7" and done["card_id"] == "CARD-1"
    assert sorted(done["deleted"]) == ["DCIM/100GOPRO/GL010001.LRV", "DCIM/100GOPRO/GX010001.MP4"]
    kept = {k["path"]: k["reason"] for k in done["kept"]}
    # A path that is no card path is neither acted on nor echoed (the station would refuse the answer).
    assert set(kept) == {"DCIM/100GOPRO/GX010002.MP4", "DCIM/100GOPRO/GX010003.MP4", "DCIM/101GOPRO/GX020001.MP4",
                         "DCIM/100GOPRO/GX010004.MP4", "DCIM/100GOPRO/NOT_ON_CARD.MP4"}
    assert kept["DCIM/100GOPRO/GX010004.MP4"] == "the entry is malformed"
    assert "size" in kept["DCIM/100GOPRO/GX010002.MP4"] and "modified" in kept["DCIM/100GOPRO/GX010003.MP4"]
    assert "link" in kept["DCIM/101GOPRO/GX020001.MP4"]
    assert all(reason for reason in kept.values())
    remaining = sorted(p.relative_to(card).as_posix() for p in card.rglob("*") if p.is_file())  # links not followed
    assert remaining == ["DCIM/100GOPRO/GX010002.MP4", "DCIM/100GOPRO/GX010003.MP4",
                         "DCIM/100GOPRO/GX010004.MP4", "MISC/notes.txt"]
    assert (outside / "precious.MP4").read_bytes() == b"precious"
    assert (outside / "101GOPRO" / "GX020001.MP4").read_bytes() == b"behind a link later"


async def test_a_detector_started_with_no_wipe_deletes_nothing(tmp_path):
    card = make_card(tmp_path / "card", {CLIP: b"clip"})
    async with ScriptedStation() as station, running(station, card, wipe=False):
        listing = await eventually(station.listed)
        assert "wipe" not in station.hellos[0]["data"]["capabilities"]
        await station.send("sd:wipe_request", {"request_id": "w-1", "card_id": "CARD-1",
                                               "files": [listed_entry(listing, CLIP)]})
        done = (await eventually(lambda: station.of_type("sd:wipe_done")))[0]
    assert done["deleted"] == [] and [k["path"] for k in done["kept"]] == [CLIP]
    assert (card / CLIP).read_bytes() == b"clip"


def test_wipe_keeps_a_file_whose_request_differs_from_the_listing(tmp_path: Path):
    # The wipe itself, without a connection: the request's time is not the listed one.
    from app.detector.card import read_card
    from app.detector.station_messages import wipe_request
    from app.detector.wipe import wipe_card

    card = read_card(make_card(tmp_path / "card", {CLIP: b"clip"}), "CARD-1")
    request = wipe_request({"request_id": "w-1", "card_id": "CARD-1",
                            "files": [{"path": CLIP, "size": 4, "modified": "2001-01-01T00:00:00Z"}]})
    result = wipe_card(card, request)
    assert result.deleted == [] and result.kept[0]["reason"].startswith("size or modified time differs")
    assert (card.root / CLIP).exists()
