"""Finding the station without its address (mDNS `_ingest-station._tcp` on loopback), and the
Detector's own identity: an id generated once per state folder, the token from a file or the
environment, never on the command line."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from app.config import load_settings
from app.detector.agent import DetectorAgent
from app.detector.discovery import StationNotFound, find_station
from app.detector.identity import STATE_FILE, TokenMissing, pairing_token, stored_detector_id
from app.detector.sources import SingleCard
from app.net.protocol import DETECTOR_ID_RE
from app.station import Station
from tests.net.conftest import TOKEN, eventually
from tests.net.test_detector_agent import make_card
from tests.support.station_process import station_command, station_env


async def advertised(station: Station) -> str:
    assert station.advertiser is not None
    assert await asyncio.to_thread(station.advertiser.registered.wait, 15), "advertised within 15 s"
    return station.settings.station_id


async def test_a_detector_without_an_address_finds_the_station_over_mdns(station, tmp_path):
    station_id = await advertised(station)
    card = make_card(tmp_path / "card", {"DCIM/A.MP4": b"abc"})
    agent = DetectorAgent(None, TOKEN, SingleCard(card, "CARD-1"), detector_id="desk-pi", scan_interval=0.1,
                          discover=lambda: find_station(10, station_id=station_id))
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    try:
        listing = await eventually(lambda: station.orchestrator.args_of("file_list"), timeout=20)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert listing[0][:2] == ("desk-pi", "CARD-1")
    assert await find_station(10, station_id=station_id) == f"ws://127.0.0.1:{station.port}/detector"


async def test_the_detector_command_finds_the_station_reads_its_token_file_and_keeps_its_id(station, tmp_path):
    station_id = await advertised(station)
    card = make_card(tmp_path / "card", {"DCIM/A.MP4": b"abc"})
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    state = tmp_path / "state"
    process = subprocess.Popen(station_command(
        "detector", "--station-id", station_id, "--token-file", str(token_file), "--state-dir", str(state),
        "--card", str(card), "--card-id", "CARD-1"), env=station_env(), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    try:
        listing = await eventually(lambda: station.orchestrator.args_of("file_list"), timeout=30)
        command_line = Path(f"/proc/{process.pid}/cmdline").read_bytes()
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.to_thread(process.communicate, timeout=30)
    kept_id = json.loads((state / STATE_FILE).read_text())["detector_id"]
    assert DETECTOR_ID_RE.fullmatch(kept_id)
    assert listing[0][:2] == (kept_id, "CARD-1")
    assert TOKEN.encode() not in command_line
    assert process.returncode == 0, output
    assert TOKEN not in output


async def test_the_detector_command_says_when_no_station_answers(tmp_path):
    card = make_card(tmp_path / "card", {"DCIM/A.MP4": b"abc"})
    result = await asyncio.to_thread(subprocess.run, station_command(
        "detector", "--station-id", "no-such-station", "--discover-timeout", "1", "--card", str(card),
        "--state-dir", str(tmp_path / "state")), capture_output=True, text=True, timeout=60,
        env=station_env(INGEST_TOKEN=TOKEN))
    assert result.returncode == 2
    assert "no station 'no-such-station' found" in result.stderr and "--station ws://" in result.stderr
    assert "Traceback" not in result.stderr


async def test_a_station_with_mdns_turned_off_is_not_found(tmp_path):
    settings = load_settings({"data_dir": str(tmp_path / "data"), "host": "127.0.0.1", "port": 0, "token": TOKEN,
                              "workers": 0}, environ={"INGEST_MDNS": "off"})
    station = Station(settings)
    await station.start()
    try:
        assert settings.mdns is False and station.advertiser is None
        with pytest.raises(StationNotFound, match="--station"):
            await find_station(1.5, station_id=settings.station_id)
    finally:
        await station.stop()


def test_the_detector_id_is_made_once_per_state_folder(tmp_path):
    first = stored_detector_id(tmp_path / "a")
    assert DETECTOR_ID_RE.fullmatch(first)
    assert stored_detector_id(tmp_path / "a") == first
    assert stored_detector_id(tmp_path / "b") != first  # a cloned reader with its own state folder
    (tmp_path / "a" / STATE_FILE).write_text("{broken")
    replaced = stored_detector_id(tmp_path / "a")
    assert replaced != first and stored_detector_id(tmp_path / "a") == replaced


def test_the_token_comes_from_the_flag_a_file_or_the_environment(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("  from-file \n")
    assert pairing_token("from-flag", token_file, {"INGEST_TOKEN": "from-env"}) == "from-flag"
    assert pairing_token(None, token_file, {"INGEST_TOKEN": "from-env"}) == "from-file"
    assert pairing_token(None, None, {"INGEST_TOKEN": "from-env"}) == "from-env"
    with pytest.raises(TokenMissing, match="--token-file"):
        pairing_token(None, None, {})
    with pytest.raises(TokenMissing, match="cannot read"):
        pairing_token(None, tmp_path / "missing", {})
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(TokenMissing, match="empty"):
        pairing_token(None, tmp_path / "empty", {})
    os.truncate(token_file, 0)
    with token_file.open("wb") as fh:
        fh.write(b"x" * 5000)
    with pytest.raises(TokenMissing, match="larger"):
        pairing_token(None, token_file, {})


def test_a_found_service_is_taken_only_when_it_is_a_protocol_1_station_at_a_reachable_address():
    import socket

    from zeroconf.asyncio import AsyncServiceInfo

    from app.detector.discovery import station_url
    from app.net.mdns import SERVICE_TYPE

    def service(**txt: str) -> AsyncServiceInfo:
        properties = {"station_id": "st-1", "protocol": "1", "path": "/detector", **txt}
        return AsyncServiceInfo(SERVICE_TYPE, f"st-1.{SERVICE_TYPE}", port=8765, properties=properties,
                                addresses=[socket.inet_aton("127.0.0.1"), socket.inet_aton("192.0.2.7")])

    assert station_url(service()) == "ws://192.0.2.7:8765/detector"
    assert station_url(service(), station_id="st-1") == "ws://192.0.2.7:8765/detector"
    assert station_url(service(), station_id="st-2") is None
    assert station_url(service(protocol="2")) is None
    assert station_url(service(path="/x?token=1")) is None
