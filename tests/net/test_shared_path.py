"""Shared-path copies (issue 12, finding 9): the station takes exactly `dest_dir/<path>`, reads it
without following a link, and what it hashes is what it keeps, even if the shared folder is
changed under it between the check and the move (real station, real WebSocket)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.net.conftest import connected_detector, recv_json
from tests.net.fakes import RecordingOrchestrator

CARD_FILE = "DCIM/100GOPRO/GX010231.MP4"


@dataclass
class SwappingOrchestrator(RecordingOrchestrator):
    """Runs `swap` when the station asks where to put the file: the moment after the station
    checked `dest` and before it reads the file, when a rogue Detector would swap it."""

    swap: Callable[[], None] | None = None

    async def begin_upload(self, *args):
        if self.swap is not None:
            self.swap()
        return await super().begin_upload(*args)


async def shared_request(station, dest_dir: Path, size: int):
    ws = await connected_detector(station)
    station.orchestrator.issue("r-9", CARD_FILE)
    assert station.link.send_copy_request("desk-left", {
        "request_id": "r-9", "card_id": "C", "mode": "shared_path",
        "files": [{"path": CARD_FILE, "size": size, "offset": 0}], "dest_dir": str(dest_dir)})
    assert (await recv_json(ws))["type"] == "sd:copy_request"
    return ws


async def report_copied(ws, dest: Path, payload: bytes) -> dict:
    await ws.send(json.dumps({"type": "sd:file_copied", "id": "copied", "data": {
        "request_id": "r-9", "path": CARD_FILE, "size": len(payload), "sha256": hashlib.sha256(payload).hexdigest(),
        "dest": str(dest)}}))
    return await recv_json(ws)


def nothing_stored(station) -> bool:
    staged = station.orchestrator.staged(CARD_FILE)
    return station.orchestrator.args_of("file_stored") == [] and not staged.exists() and not staged.is_symlink()


async def test_dest_elsewhere_inside_dest_dir_is_refused(station, tmp_path):
    dest_dir = tmp_path / "data" / "shared-in"
    elsewhere = dest_dir / "DCIM" / "other.MP4"  # inside dest_dir, but not dest_dir/<path>
    elsewhere.parent.mkdir(parents=True)
    elsewhere.write_bytes(b"some bytes")
    ws = await shared_request(station, dest_dir, 10)
    reply = await report_copied(ws, elsewhere, b"some bytes")
    assert reply["type"] == "error" and reply["data"]["code"] == "bad_message", reply
    assert "dest_dir/path" in reply["data"]["message"]
    assert elsewhere.read_bytes() == b"some bytes" and nothing_stored(station)
    await ws.close()


async def test_a_folder_swapped_for_a_link_after_the_check_moves_nothing_from_outside(station, tmp_path):
    payload = b"the victim's bytes"  # a rogue Detector knows them, so the hash it claims matches
    dest_dir = tmp_path / "data" / "shared-in"
    (dest_dir / CARD_FILE).parent.mkdir(parents=True)
    (dest_dir / CARD_FILE).write_bytes(payload)
    victim = tmp_path / "data" / "elsewhere" / CARD_FILE  # outside dest_dir, same shape of path
    victim.parent.mkdir(parents=True)
    victim.write_bytes(payload)

    def swap() -> None:
        os.rename(dest_dir / "DCIM", dest_dir / "DCIM.old")
        os.symlink(tmp_path / "data" / "elsewhere" / "DCIM", dest_dir / "DCIM")

    station.orchestrator = station.net.orchestrator = SwappingOrchestrator(station.settings.library, swap=swap)
    ws = await shared_request(station, dest_dir, len(payload))
    reply = await report_copied(ws, dest_dir / CARD_FILE, payload)
    assert reply["type"] == "error" and reply["data"]["code"] == "bad_message", reply
    assert victim.read_bytes() == payload, "the station moved a file from outside dest_dir"
    assert nothing_stored(station)
    await ws.close()


async def test_a_file_swapped_for_a_link_after_the_check_is_not_stored(station, tmp_path):
    payload = b"bytes of a file the station must not take"
    dest_dir = tmp_path / "data" / "shared-in"
    copied = dest_dir / CARD_FILE
    copied.parent.mkdir(parents=True)
    copied.write_bytes(payload)
    secret = tmp_path / "data" / "secret.bin"
    secret.write_bytes(payload)

    def swap() -> None:
        copied.unlink()
        copied.symlink_to(secret)

    station.orchestrator = station.net.orchestrator = SwappingOrchestrator(station.settings.library, swap=swap)
    ws = await shared_request(station, dest_dir, len(payload))
    reply = await report_copied(ws, copied, payload)
    assert reply["type"] == "error" and reply["data"]["code"] == "bad_message", reply
    assert nothing_stored(station), "a link was filed into the library"
    assert secret.read_bytes() == payload
    await ws.close()


async def test_the_file_at_dest_dir_path_is_copied_verified_and_removed(station, tmp_path):
    payload = os.urandom(300_000)
    dest_dir = tmp_path / "data" / "shared-in"
    copied = dest_dir / CARD_FILE
    copied.parent.mkdir(parents=True)
    copied.write_bytes(payload)
    ws = await shared_request(station, dest_dir, len(payload))
    reply = await report_copied(ws, copied, payload)
    assert reply == {"type": "sd:file_stored", "data": {"request_id": "r-9", "path": CARD_FILE}}
    staged = station.orchestrator.staged(CARD_FILE)
    assert not staged.is_symlink() and staged.read_bytes() == payload
    assert not copied.exists()
    await ws.close()
