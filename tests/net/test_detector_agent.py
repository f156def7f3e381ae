"""The reference Detector against a real in-process station: listing, uploads (with resume),
watched mounts coming and going, reconnecting after a station restart, a refused token."""

from __future__ import annotations

import asyncio
import os
import subprocess
from contextlib import asynccontextmanager
from pathlib import Path

from app.config import load_settings
from app.detector.agent import DetectorAgent
from app.detector.card import listing_hash, read_card
from app.detector.sources import SingleCard, WatchedRoot
from app.station import Station
from tests.net.conftest import TOKEN, eventually
from tests.net.fakes import RecordingOrchestrator
from tests.support.station_process import station_command, station_env


def make_card(root: Path, files: dict[str, bytes]) -> Path:
    for rel, payload in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(payload)
    return root


class CountedScans(WatchedRoot):
    """A WatchedRoot that counts its scans: the Detector has looked (a positive marker)."""

    scans = 0

    async def scan(self):
        found = await super().scan()
        self.scans += 1
        return found


@asynccontextmanager
async def running_agent(station: Station, source, **kwargs):
    agent = DetectorAgent(f"ws://127.0.0.1:{station.port}", TOKEN, source, detector_id="desk-pi",
                          scan_interval=0.1, **kwargs)
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    try:
        yield agent
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_the_card_is_listed_and_requested_files_arrive_byte_for_byte(station, tmp_path):
    big = os.urandom(700_000)  # several frames of the station's 64 KiB chunk size
    card = make_card(tmp_path / "card", {"DCIM/100GOPRO/GX010001.MP4": big, "DCIM/100GOPRO/GX010001.THM": b"thumb",
                                         ".Trashes/junk": b"x"})
    orchestrator = station.orchestrator
    async with running_agent(station, SingleCard(card, "CARD-1")):
        listing = await eventually(lambda: orchestrator.args_of("file_list"))
        detector_id, card_id, label, _slot, files = listing[0]
        assert (detector_id, card_id, label) == ("desk-pi", "CARD-1", "card")
        assert [(f["path"], f["size"]) for f in files] == [
            ("DCIM/100GOPRO/GX010001.MP4", len(big)), ("DCIM/100GOPRO/GX010001.THM", 5)]
        assert all(f["modified"].endswith("Z") for f in files)

        orchestrator.issue("r-1", "DCIM/100GOPRO/GX010001.THM", "DCIM/100GOPRO/GX010001.MP4")
        station.link.send_copy_request("desk-pi", {"request_id": "r-1", "card_id": "CARD-1", "mode": "upload",
            "files": [{"path": "DCIM/100GOPRO/GX010001.THM", "size": 5, "offset": 0},
                      {"path": "DCIM/100GOPRO/GX010001.MP4", "size": len(big), "offset": 0}], "dest_dir": None})
        stored = await eventually(lambda: len(orchestrator.args_of("file_stored")) == 2 and orchestrator.args_of("file_stored"))
    assert [s[1] for s in stored] == ["DCIM/100GOPRO/GX010001.THM", "DCIM/100GOPRO/GX010001.MP4"]
    assert orchestrator.staged("DCIM/100GOPRO/GX010001.MP4").read_bytes() == big
    assert orchestrator.staged("DCIM/100GOPRO/GX010001.THM").read_bytes() == b"thumb"


async def test_an_interrupted_upload_resumes_from_the_bytes_the_station_holds(station, tmp_path):
    payload = os.urandom(500_000)
    card = make_card(tmp_path / "card", {"DCIM/A.MP4": payload})
    orchestrator = station.orchestrator
    partial = orchestrator.staged("DCIM/A.MP4").with_name("A.MP4.partial")
    partial.parent.mkdir(parents=True)
    partial.write_bytes(payload[:200_000])  # left by a dropped connection
    async with running_agent(station, SingleCard(card, "CARD-1")):
        await eventually(lambda: orchestrator.args_of("file_list"))
        orchestrator.issue("r-2", "DCIM/A.MP4")
        station.link.send_copy_request("desk-pi", {"request_id": "r-2", "card_id": "CARD-1", "mode": "upload",
            "files": [{"path": "DCIM/A.MP4", "size": len(payload), "offset": 200_000}], "dest_dir": None})
        await eventually(lambda: orchestrator.args_of("file_stored"))
    assert orchestrator.args_of("begin_upload") == [("r-2", "DCIM/A.MP4", len(payload), 200_000)]
    assert orchestrator.staged("DCIM/A.MP4").read_bytes() == payload


async def test_watched_cards_are_listed_when_mounted_and_reported_when_removed(station, tmp_path):
    root = tmp_path / "media"
    (root / "user").mkdir(parents=True)
    orchestrator = station.orchestrator
    source = CountedScans(root)
    async with running_agent(station, source):
        # Scans run once connected, and a scan sends its listings before the next one starts.
        await eventually(lambda: source.scans >= 2)
        assert orchestrator.args_of("file_list") == []
        card = make_card(root / "user" / "GOPRO-ANA", {"DCIM/100GOPRO/GX010001.MP4": b"clip"})
        make_card(root / "user" / "USB-STICK", {"notes.txt": b"no DCIM here"})
        listing = await eventually(lambda: orchestrator.args_of("file_list"))
        assert listing[0][2] == "GOPRO-ANA" and [f["path"] for f in listing[0][4]] == ["DCIM/100GOPRO/GX010001.MP4"]
        card_id = listing[0][1]
        for child in sorted(card.rglob("*"), reverse=True):
            child.unlink() if child.is_file() else child.rmdir()
        card.rmdir()
        removed = await eventually(lambda: orchestrator.args_of("card_removed"))
    assert removed == [("desk-pi", card_id)]
    assert len(orchestrator.args_of("file_list")) == 1


async def test_the_detector_reconnects_and_lists_again_after_a_station_restart(tmp_path):
    card = make_card(tmp_path / "card", {"DCIM/A.MP4": b"abc"})
    port = 0
    stations = []
    for round_ in range(2):
        settings = load_settings({"data_dir": str(tmp_path / "data"), "host": "127.0.0.1", "port": port,
                                  "token": TOKEN, "workers": 0}, environ={})
        station = Station(settings)
        await station.start()
        port = station.port  # the second station comes back on the same port
        real, station.orchestrator = station.orchestrator, RecordingOrchestrator(settings.library)
        station.net.orchestrator = station.orchestrator
        stations.append(station)
        try:
            if round_ == 0:
                runner = running_agent(station, SingleCard(card, "CARD-1"))
                agent = await runner.__aenter__()
            # awaited within this iteration, so the lambda sees this round's station
            listing = await eventually(lambda: station.orchestrator.args_of("file_list"), timeout=20)  # noqa: B023
            assert listing[0][1] == "CARD-1"
            assert agent.connections == round_ + 1
        finally:
            station.orchestrator = real
            if round_ == 1:
                await runner.__aexit__(None, None, None)
            await station.stop()


def test_card_id_is_the_given_one_else_a_stable_hash_of_the_listing(tmp_path):
    card = make_card(tmp_path / "card", {"DCIM/A.MP4": b"abc", "DCIM/B.MP4": b"defg"})
    first, second = read_card(card), read_card(card)
    assert first.card_id == second.card_id == listing_hash(first.files)
    assert read_card(card, "3A1F-77C2").card_id == "3A1F-77C2"
    (card / "DCIM" / "C.MP4").write_bytes(b"new jump")
    assert read_card(card).card_id != first.card_id


async def test_detector_command_with_a_wrong_token_exits_2_and_says_why(station, tmp_path):
    card = make_card(tmp_path / "card", {"DCIM/A.MP4": b"abc"})
    result = await asyncio.to_thread(subprocess.run, station_command(
        "detector", "--station", f"ws://127.0.0.1:{station.port}", "--token", "not-the-token", "--card", str(card)),
        capture_output=True, text=True, env=station_env(), timeout=60)
    assert result.returncode == 2
    assert "token" in result.stderr and "Traceback" not in result.stderr
    assert station.orchestrator.args_of("file_list") == []


def test_the_detector_loads_no_qt_no_database_and_no_media_libraries():
    code = (
        "import sys\n"
        "from app.cli import _register_extra_commands, build_parser\n"
        "_register_extra_commands(); build_parser()\n"
        "import app.detector.agent, app.detector.sources, app.detector.cli\n"
        "heavy = ('sqlalchemy', 'PySide6', 'av', 'cv2', 'numpy', 'redis', 'alembic', 'psycopg')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m.startswith(('app.db', 'app.gui'))))\n"
    )
    result = subprocess.run([*station_command()[:1], "-c", code], capture_output=True, text=True,
                            env=station_env(), timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_mounted_card_is_known_by_its_volume_serial(tmp_path):
    from app.detector.card import _uuid_from_lsblk, volume_uuid

    root_device = os.stat("/").st_dev
    devices = [p for p in Path("/dev").iterdir() if p.is_block_device() and p.stat().st_rdev == root_device] \
        if Path("/dev").is_dir() else []
    if devices:  # udev's by-uuid folder, built by hand around the real device of "/"
        by_uuid = tmp_path / "by-uuid"
        by_uuid.mkdir()
        (by_uuid / "3a1f-77c2").symlink_to(devices[0])
        assert volume_uuid(Path("/"), by_uuid) == "3A1F-77C2"
    card = make_card(tmp_path / "card", {"DCIM/A.MP4": b"abc"})
    assert volume_uuid(card, tmp_path / "by-uuid") is None  # a plain folder is no volume
    lsblk = "\n/boot\n3A1F-77C2 /media/ana/GOPRO\\x20ANA\n9b2e-11 /\n"
    assert _uuid_from_lsblk(lsblk, "/media/ana/GOPRO ANA") == "3A1F-77C2"
    assert _uuid_from_lsblk(lsblk, "/media/other") is None
