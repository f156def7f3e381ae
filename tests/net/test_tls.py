"""The optional encrypted link (setting `tls`): the station's own certificate, `wss://` and
`https://` on its port, the fingerprint it shows and advertises, and the reference Detector pinning
it (`--fingerprint`), refusing any other certificate before the token goes out."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import ssl
import stat
import subprocess
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidMessage

from app.config import load_settings
from app.detector.agent import DetectorAgent, StationRefused
from app.detector.discovery import find_station, station_url
from app.detector.pinning import Pinning
from app.detector.sources import SingleCard
from app.media.sample_card import write_sample_card
from app.net.fingerprint import fingerprint_of
from app.net.mdns import station_service_info
from app.net.tls import station_certificate
from app.station import Station
from tests.net.conftest import TOKEN, eventually, files_outside, recording_station
from tests.net.test_detector_agent import make_card
from tests.net.test_detector_discovery import advertised
from tests.support.station_process import running_station, station_command, station_env

OTHER = "00" * 32


def _no_verify() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def presented_fingerprint(port: int) -> str:
    """The fingerprint of the certificate the station really presents on its port."""
    pem = ssl.get_server_certificate(("127.0.0.1", port))
    return fingerprint_of(ssl.PEM_cert_to_DER_cert(pem))


def https_json(port: int, path: str, token: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(f"https://127.0.0.1:{port}{path}", headers=headers)
    with urllib.request.urlopen(request, timeout=10, context=_no_verify()) as response:
        return json.loads(response.read())


@pytest.fixture
async def tls_station(tmp_path: Path) -> AsyncIterator[Station]:
    settings = load_settings({"data_dir": str(tmp_path / "data"), "host": "127.0.0.1", "port": 0, "token": TOKEN,
                              "tls": "on"}, environ={})
    async with recording_station(settings) as station:
        yield station


async def run_agent(agent: DetectorAgent, until, timeout: float = 20):
    """Run the agent until `until()` is true; what it returned."""
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    try:
        return await eventually(until, timeout=timeout)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def test_the_certificate_is_made_once_and_its_key_is_for_the_owner_only(tmp_path):
    first = station_certificate(tmp_path / "tls", "station-1")
    assert stat.S_IMODE(first.key_path.stat().st_mode) == 0o600
    again = station_certificate(tmp_path / "tls", "station-1")
    assert again.fingerprint == first.fingerprint and len(first.fingerprint) == 64
    assert not files_outside(tmp_path, tmp_path / "tls")


async def test_the_station_serves_wss_and_https_with_the_fingerprint_it_shows(tls_station):
    port = tls_station.port
    shown = tls_station.fingerprint
    assert shown == await asyncio.to_thread(presented_fingerprint, port)
    health = await asyncio.to_thread(https_json, port, "/health")
    assert health["tls"] is True and health["fingerprint"] == shown
    assert (tls_station.settings.tls_dir / "station-key.pem").is_file()


async def test_a_detector_pinning_the_right_fingerprint_lists_its_card_over_wss(tls_station, tmp_path):
    card = make_card(tmp_path / "card", {"DCIM/A.MP4": b"abc"})
    agent = DetectorAgent(f"wss://127.0.0.1:{tls_station.port}", TOKEN, SingleCard(card, "CARD-1"),
                          detector_id="desk-pi", scan_interval=0.1, pinning=Pinning(tls_station.fingerprint))
    listing = await run_agent(agent, lambda: tls_station.orchestrator.args_of("file_list"))
    assert listing[0][:2] == ("desk-pi", "CARD-1")


async def test_a_wrong_fingerprint_is_refused_before_the_token_is_sent(tls_station, tmp_path):
    card = make_card(tmp_path / "card", {"DCIM/A.MP4": b"abc"})
    trace = io.StringIO()
    agent = DetectorAgent(f"wss://127.0.0.1:{tls_station.port}", TOKEN, SingleCard(card, "CARD-1"),
                          detector_id="desk-pi", trace=trace, pinning=Pinning(OTHER))
    with pytest.raises(StationRefused, match="does not match --fingerprint") as refused:
        await asyncio.wait_for(agent.run(asyncio.Event()), 20)
    assert tls_station.fingerprint in str(refused.value)  # what it presented, to compare with the station's
    assert trace.getvalue() == ""  # no hello (no token) went out
    assert tls_station.orchestrator.calls == [] and tls_station.link.count() == 0


async def test_wss_without_a_fingerprint_is_refused_unless_insecure(tls_station, tmp_path):
    card = make_card(tmp_path / "card", {"DCIM/A.MP4": b"abc"})
    url = f"wss://127.0.0.1:{tls_station.port}"
    unpinned = DetectorAgent(url, TOKEN, SingleCard(card, "CARD-1"), detector_id="desk-pi")
    with pytest.raises(StationRefused, match="no --fingerprint was given"):
        await asyncio.wait_for(unpinned.run(asyncio.Event()), 20)
    assert tls_station.orchestrator.calls == []
    insecure = DetectorAgent(url, TOKEN, SingleCard(card, "CARD-1"), detector_id="desk-pi", scan_interval=0.1,
                             pinning=Pinning(insecure=True))
    assert await run_agent(insecure, lambda: tls_station.orchestrator.args_of("file_list"))


async def test_a_fingerprint_with_a_plain_station_is_refused(station, tmp_path):
    card = make_card(tmp_path / "card", {"DCIM/A.MP4": b"abc"})
    agent = DetectorAgent(f"ws://127.0.0.1:{station.port}", TOKEN, SingleCard(card, "CARD-1"),
                          detector_id="desk-pi", pinning=Pinning(OTHER))
    with pytest.raises(StationRefused, match="does not use TLS"):
        await asyncio.wait_for(agent.run(asyncio.Event()), 20)
    assert station.orchestrator.calls == []


async def test_a_plain_detector_cannot_talk_to_a_tls_station_and_is_told_to_try_wss(tls_station, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="app.detector")
    with pytest.raises(InvalidMessage):
        await connect(f"ws://127.0.0.1:{tls_station.port}/detector", open_timeout=10)
    card = make_card(tmp_path / "card", {"DCIM/A.MP4": b"abc"})
    agent = DetectorAgent(f"ws://127.0.0.1:{tls_station.port}", TOKEN, SingleCard(card, "CARD-1"),
                          detector_id="desk-pi")
    hinted = await run_agent(agent, lambda: [r for r in caplog.records if "connect with wss://" in r.getMessage()])
    assert "if the station has tls on" in hinted[0].getMessage()
    assert tls_station.orchestrator.calls == [] and tls_station.link.count() == 0


async def test_a_tls_detector_is_told_when_the_station_has_tls_off(station, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="app.detector")
    card = make_card(tmp_path / "card", {"DCIM/A.MP4": b"abc"})
    agent = DetectorAgent(f"wss://127.0.0.1:{station.port}", TOKEN, SingleCard(card, "CARD-1"),
                          detector_id="desk-pi", pinning=Pinning(insecure=True))
    hinted = await run_agent(agent, lambda: [r for r in caplog.records if "connect with ws://" in r.getMessage()])
    assert "if the station has tls off" in hinted[0].getMessage()
    assert station.orchestrator.calls == []


async def test_the_station_advertises_tls_and_its_fingerprint_and_is_found_as_wss(tls_station):
    station_id = await advertised(tls_station)
    url = f"wss://127.0.0.1:{tls_station.port}/detector"
    assert await find_station(10, station_id=station_id) == url
    assert await find_station(10, station_id=station_id, fingerprint=tls_station.fingerprint) == url
    # TXT is only a hint: a record naming another fingerprint is not taken when one was given.
    info, _ = station_service_info(station_id, "127.0.0.1", tls_station.port, fingerprint=tls_station.fingerprint)
    assert info.properties[b"tls"] == b"1" and info.properties[b"fingerprint"] == tls_station.fingerprint.encode()
    assert station_url(info, station_id, OTHER) is None
    plain, _ = station_service_info(station_id, "127.0.0.1", tls_station.port)
    assert b"tls" not in plain.properties and station_url(plain) == f"ws://127.0.0.1:{tls_station.port}/detector"


# -- the real programs: a headless station with --tls and the `detector` command -----------------------------
def detector_run(port: int, card: Path, trace: Path, *extra: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        station_command("detector", "--station", f"wss://127.0.0.1:{port}", "--token", TOKEN, "--card", str(card),
                        "--detector-id", "desk-tls", "--trace", str(trace), *extra),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=station_env(), timeout=timeout)


def detector_process(port: int, card: Path, trace: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        station_command("detector", "--station", f"wss://127.0.0.1:{port}", "--token", TOKEN, "--card", str(card),
                        "--detector-id", "desk-tls", "--trace", str(trace), *extra),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=station_env())


def imported_rows(db_url: str) -> list[tuple[str, str, str]]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as db:
            return [tuple(row) for row in db.execute(text("SELECT source_path, stored_path, sha256 FROM imported_file"))]
    finally:
        engine.dispose()


async def import_succeeded(port: int, timeout: float) -> None:
    """Poll the station's /api/executions over https (twice a second) until an import succeeded."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        executions = (await asyncio.to_thread(https_json, port, "/api/executions?limit=5", TOKEN))["executions"]
        assert not [e for e in executions if e["state"] == "failed"], executions
        if any(e["state"] == "succeeded" for e in executions):
            return
        assert asyncio.get_running_loop().time() < deadline, f"no import succeeded in time: {executions}"
        await asyncio.sleep(0.5)


@pytest.mark.slow
async def test_the_reference_detector_imports_a_card_over_wss_only_with_the_right_fingerprint(tmp_path):
    card = write_sample_card(tmp_path / "card")
    card_bytes = {f.path: (card.root / f.path).read_bytes() for f in card.files}
    imported = sorted(f.path for f in card.files if f.kind not in ("proxy", "thumbnail"))
    data_dir = tmp_path / "data"
    db_url = f"sqlite:///{data_dir / 'station.db'}"

    with running_station("--data-dir", str(data_dir), "--token", TOKEN, "--tls", "--no-mdns") as station:
        shown_line = station.process.stdout.readline()  # the line right after the token's
        assert "certificate SHA-256 fingerprint:" in shown_line, shown_line
        shown = shown_line.split()[-1]
        assert shown == await asyncio.to_thread(presented_fingerprint, station.port)

        # A wrong fingerprint: refused with exit code 2, the token never sent, nothing written.
        wrong_trace = tmp_path / "wrong.jsonl"
        wrong = await asyncio.to_thread(detector_run, station.port, card.root, wrong_trace, "--fingerprint", OTHER)
        assert wrong.returncode == 2, wrong.stdout
        assert "does not match --fingerprint" in wrong.stdout and shown in wrong.stdout
        assert not wrong_trace.exists() or wrong_trace.read_text() == ""
        assert imported_rows(db_url) == []
        health = await asyncio.to_thread(https_json, station.port, "/health")
        assert health["detectors"] == 0 and health["fingerprint"] == shown

        # The right one (as copied, with colons and capitals): the card is imported over wss.
        pasted = ":".join(shown[i:i + 2] for i in range(0, 64, 2)).upper()
        trace = tmp_path / "right.jsonl"
        process = detector_process(station.port, card.root, trace, "--fingerprint", pasted)
        try:
            await import_succeeded(station.port, timeout=240)
        finally:
            process.terminate()
            output = process.communicate(timeout=20)[0]
        assert "connected to station" in output, output

    rows = imported_rows(db_url)
    assert sorted(row[0] for row in rows) == imported
    for source_path, stored_path, sha256 in rows:
        assert Path(stored_path).read_bytes() == card_bytes[source_path], source_path
        assert sha256 == hashlib.sha256(card_bytes[source_path]).hexdigest()
    sent = [json.loads(line)["message"]["type"] for line in trace.read_text().splitlines()]
    assert sent[0] == "hello"


def test_tls_is_off_by_default_and_on_from_the_flag_the_environment_or_the_config_file(tmp_path):
    data = str(tmp_path / "data")
    assert load_settings({"data_dir": data}, environ={}).tls is False
    assert load_settings({"data_dir": data, "tls": True}, environ={}).tls is True
    assert load_settings({"data_dir": data}, environ={"INGEST_TLS": "1"}).tls is True
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "config.toml").write_text("tls = true\n")
    assert load_settings({"data_dir": data}, environ={}).tls is True


async def test_a_peer_stalling_its_tls_handshake_is_dropped_after_the_open_timeout(tls_station):
    reader, writer = await asyncio.open_connection("127.0.0.1", tls_station.port)
    try:
        # Says nothing: the station must not hold the socket for asyncio's default 60 s.
        assert await asyncio.wait_for(reader.read(1), 30) == b""
    finally:
        writer.close()
    health = await asyncio.to_thread(https_json, tls_station.port, "/health")
    assert health["status"] == "ok"
