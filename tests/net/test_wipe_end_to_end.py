"""Issue 10, done-when: with the wipe setting on, the real reference Detector deletes exactly the
verified files of a complete card (and the proxies of its verified clips), after the station read
every library copy back; a file put on the card after the listing, and a file changed since it
was listed, stay."""

from __future__ import annotations

import os

from app.media.sample_card import write_sample_card
from tests.net.test_end_to_end import TOKEN, UiRecorder, reference_detector, wire
from tests.support.station_process import running_station


async def test_a_complete_card_is_wiped_of_exactly_its_verified_files(tmp_path, redis_prefix):
    card = write_sample_card(tmp_path / "card")
    threshold = (card.largest_qr_clip + card.smallest_jump_clip) // 2
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "config.toml").write_text(
        f"small_file_bytes = {threshold}\nredis_prefix = \"{redis_prefix}\"\nwipe_after_import = true\n")
    listed = {f.path for f in card.files}
    changed = card.passengers[0].clips[-1]  # its time differs from the listing's by the time of the wipe
    late = "DCIM/100GOPRO/GX019998.MP4"  # put on the card after it was listed

    with running_station("--data-dir", str(data_dir), "--token", TOKEN) as station:
        async with UiRecorder(station.port) as ui:
            trace = tmp_path / "detector.jsonl"
            with reference_detector(station.port, card.root, trace):
                await ui.wait_for("pipeline:started")
                (card.root / late).write_bytes(b"filmed after the listing")
                os.utime(card.root / changed, (1_700_000_000, 1_700_000_000))  # same bytes, another time
                await ui.wait_for("pipeline:completed")
                status = (await ui.wait_for("card:status", count=2))[-1]["data"]
                wiped = (await ui.wait_for("card:wiped"))[0]["data"]
            assert status["state"] == "complete" and status["safe_to_format"] is True
            assert status["files_verified"] == status["files_total"] == len(listed - set(card.proxies))

    received = [m for d, m in wire(trace) if d == "in"]
    [request] = [m["data"] for m in received if m["type"] == "sd:wipe_request"]
    asked = {f["path"] for f in request["files"]}
    assert asked == listed, "every verified file and the proxies of verified clips, nothing else"
    [done] = [m["data"] for d, m in wire(trace) if d == "out" and m["type"] == "sd:wipe_done"]
    assert set(done["deleted"]) == listed - {changed}
    assert [k["path"] for k in done["kept"]] == [changed]
    assert wiped["deleted"] == len(listed) - 1
    left = {p.relative_to(card.root).as_posix() for p in card.root.rglob("*") if p.is_file()}
    assert left == {changed, late}
