"""Issue 12, findings 2, 7 and 12 over real WebSockets against a real in-process station: peers
without the token cannot grow the station's answers, logs, connections or queues, and the
station keeps serving real Detectors and `/health` meanwhile."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import socket
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from app.config import load_settings
from app.net.bounds import MAX_ERROR_TEXT
from app.station import Station
from tests.net.conftest import TOKEN, connected_detector, eventually, hello, recv_json, url
from tests.net.fakes import RecordingEngine, RecordingOrchestrator
from tests.net.test_bad_input import CARD_FILE, expect_close, expect_error, listing

# An error text is at most MAX_ERROR_TEXT characters plus the note saying how much was cut.
ERROR_BOUND = MAX_ERROR_TEXT + 60
LOG_BOUND = 2 * MAX_ERROR_TEXT + 200


async def start(tmp_path: Path, **flags) -> Station:
    settings = load_settings({"data_dir": str(tmp_path / "data"), "host": "127.0.0.1", "port": 0, "token": TOKEN,
                              **flags}, environ={})
    settings.chunk_size = 64 * 1024
    settings.workers = 0
    station = Station(settings)
    await station.start()
    return station


@asynccontextmanager
async def limited_station(tmp_path: Path, *, max_connections: int = 6) -> AsyncIterator[Station]:
    """A station with small connection caps, set the way a user would (settings)."""
    station = await start(tmp_path, max_connections=max_connections, max_connections_per_address=4,
                          max_connections_before_hello=3)
    real = station.orchestrator, station.engine
    station.orchestrator = station.net.orchestrator = RecordingOrchestrator(station.settings.library)
    station.engine = station.net.engine = RecordingEngine()
    try:
        yield station
    finally:
        station.orchestrator, station.engine = real
        await station.stop()


async def peer(station: Station, address: str = "127.0.0.1", path: str = "/detector", **options) -> ClientConnection:
    """A WebSocket client from one of the loopback addresses (every 127.x.y.z reaches the station)."""
    return await connect(url(station, path), compression=None, local_addr=(address, 0), **options)


async def health(station: Station) -> dict:
    """GET /health from another thread (the station runs on this test's event loop)."""
    def get() -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{station.port}/health", timeout=5) as response:
            assert response.status == 200
            return json.loads(response.read())

    return await asyncio.to_thread(get)


# -- bounded answers and logs ------------------------------------------------------------------
async def test_many_unexpected_fields_before_hello_earn_a_short_error_and_short_log_lines(station, caplog):
    caplog.set_level(logging.INFO, logger="app.net")
    ws = await connect(url(station), compression=None, max_size=None)
    fields = {f"field_{n:05d}_{'x' * 20}": n for n in range(400)}  # about 14 kB, under the hello limit
    await ws.send(json.dumps({"type": "hello", "id": "h", "data": {}, **fields}))
    error = await expect_error(ws, "bad_message", "h")
    assert len(error["message"]) <= ERROR_BOUND
    assert "field_00000" in error["message"] and "and 397 more" in error["message"]
    assert max(len(r.getMessage()) for r in caplog.records) <= LOG_BOUND
    await hello(ws)  # the connection goes on
    await ws.close()


async def test_many_unexpected_fields_after_hello_earn_a_short_error(station, caplog):
    caplog.set_level(logging.INFO, logger="app.net")
    ws = await connected_detector(station)
    message = listing()
    message["data"].update({f"extra_{n:06d}": "y" * 100 for n in range(20_000)})  # about 2.5 MB
    await ws.send(json.dumps(message))
    error = await expect_error(ws, "bad_message", "L1")
    assert len(error["message"]) <= ERROR_BOUND and "and 19997 more" in error["message"]
    assert max(len(r.getMessage()) for r in caplog.records) <= LOG_BOUND
    assert station.orchestrator.args_of("file_list") == []
    await ws.close()


async def test_an_over_long_path_is_quoted_cut_in_the_error(station):
    ws = await connected_detector(station)
    await ws.send(json.dumps(listing("DCIM/" + "a" * 500_000 + ".MP4")))
    error = await expect_error(ws, "bad_message", "L1")
    assert len(error["message"]) <= ERROR_BOUND and "longer than 1024" in error["message"]
    await ws.close()


async def test_a_megabyte_message_before_hello_is_closed_1009_not_answered(station):
    ws = await connect(url(station), compression=None, max_size=None)
    fields = {f"f{n}": "z" * 30 for n in range(90_000)}  # 3.7 MB, under the protocol's 4 MiB
    answers = []
    try:
        await ws.send(json.dumps({"type": "hello", "data": {}, **fields}))
        while True:
            answers.append(await asyncio.wait_for(ws.recv(), 5))
    except ConnectionClosed:
        pass
    assert ws.close_code == 1009
    assert all(len(a) <= ERROR_BOUND + 200 for a in answers)
    # After hello the protocol's 4 MiB hold: a 1 MB listing is taken.
    ws = await connected_detector(station)
    many = listing()
    many["data"]["files"] = [{"path": f"DCIM/100GOPRO/G{n:07d}.MP4", "size": n, "modified": "2026-11-23T10:15:30Z"}
                             for n in range(12_000)]
    await ws.send(json.dumps(many))
    ack = await recv_json(ws)
    assert ack["type"] == "sd:file_list_ack" and ack["data"]["files_total"] == 12_000
    await ws.close()


# -- connection caps -----------------------------------------------------------------------------
@pytest.fixture
async def limited(tmp_path) -> AsyncIterator[Station]:
    async with limited_station(tmp_path) as station:
        yield station


async def test_one_address_cannot_hold_more_than_its_share(limited):
    held = [await peer(limited, "127.0.0.1") for _ in range(2)]  # silent, waiting for their hello
    held += [await connected_detector_from(limited, "127.0.0.1", f"desk-{n}") for n in range(2)]
    with pytest.raises(InvalidStatus) as refused:
        await peer(limited, "127.0.0.1")
    assert refused.value.response.status_code == 503
    assert b"too many connections from this address" in refused.value.response.body
    # Another address is served, and so is /health.
    other = await connected_detector_from(limited, "127.0.0.2", "desk-b")
    assert (await health(limited))["detectors"] == 3
    for ws in (*held, other):
        await ws.close()


async def test_the_oldest_peer_waiting_for_hello_makes_room_for_a_real_detector(tmp_path):
    async with limited_station(tmp_path, max_connections=50) as limited:
        await oldest_makes_room(limited)


async def oldest_makes_room(limited: Station) -> None:
    silent = [await peer(limited, f"127.0.1.{n}") for n in range(1, 4)]  # the 3 allowed before hello
    detector = await connected_detector_from(limited, "127.0.2.1", "desk-a")
    await expect_close(silent[0], 1013)  # the oldest one waiting made room
    more = [await peer(limited, f"127.0.3.{n}") for n in range(1, 4)]
    await expect_close(silent[1], 1013)
    await expect_close(silent[2], 1013)
    # The authenticated Detector is never evicted: it still lists its card.
    await detector.send(json.dumps(listing()))
    assert (await recv_json(detector))["type"] == "sd:file_list_ack"
    for ws in (detector, *more):
        await ws.close()


async def test_no_more_than_max_connections_in_all(limited):
    detectors = [await connected_detector_from(limited, f"127.0.4.{n}", f"desk-{n}") for n in range(1, 7)]
    with pytest.raises(InvalidStatus) as refused:
        await peer(limited, "127.0.5.1")
    assert refused.value.response.status_code == 503
    assert (await health(limited))["detectors"] == 6  # /health is not a WebSocket: always answered
    await detectors[0].close()
    await eventually_admitted(limited, "127.0.5.1")
    for ws in detectors[1:]:
        await ws.close()


async def connected_detector_from(station: Station, address: str, detector_id: str) -> ClientConnection:
    ws = await peer(station, address, max_size=None)
    await hello(ws, detector_id)
    return ws


async def eventually_admitted(station: Station, address: str) -> None:
    for _ in range(200):
        try:
            ws = await peer(station, address)
        except InvalidStatus:
            await asyncio.sleep(0.02)
            continue
        await hello(ws, "desk-late")
        await ws.close()
        return
    raise AssertionError("a slot never came free")


# -- queued bytes -------------------------------------------------------------------------------
async def test_a_ui_client_that_asks_but_never_reads_is_closed_by_the_bytes_queued(station):
    # 300 answers of ~200 kB each: 60 MB the station would hold for a peer that does not read.
    station.engine.executions = [{"id": n, "state": "succeeded", "steps": [], "note": "x" * 1000}
                                 for n in range(1, 201)]
    ws = await connect(url(station, "/ui"), max_queue=1)
    await ws.send(json.dumps({"type": "hello", "data": {"role": "ui", "token": TOKEN}}))
    request = json.dumps({"type": "pipeline:list", "data": {"limit": 200}})
    try:
        for _ in range(300):
            await asyncio.wait_for(ws.send(request), 5)
    except ConnectionClosed:
        pass
    await expect_close(ws, 1008, timeout=30)
    await health(station)


async def test_a_peer_without_hello_that_never_reads_is_closed_by_the_bytes_queued_for_it(station, caplog):
    caplog.set_level(logging.WARNING, logger="app.net")
    station.net.hello_timeout = 60  # only the byte cap may end this connection
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the kernel holds little for it
    sock.connect(("127.0.0.1", station.port))
    ws = await connect(url(station), sock=sock, compression=None, max_queue=1)
    bad = json.dumps({"type": "sd:file_list", "data": {}, **{f"unexpected_{n}_{'u' * 30}": n for n in range(4)}})
    try:
        # Each earns an error of about 230 bytes, 3.5 MB in all: more than the kernel buffers
        # between the two ends, in fewer answers than the 20,000 the count cap allows.
        for _ in range(15_000):
            await asyncio.wait_for(ws.send(bad), 2)
    except (ConnectionClosed, TimeoutError):
        pass  # closed, or the station stopped reading us
    await eventually(lambda: any("does not read its messages" in r.getMessage() for r in caplog.records))
    # The station lets go of it (though the peer never reads the close frame), long before the
    # hello timeout; the peer, not reading, would not notice.
    await eventually(lambda: station.server.admission.open_count == 0, timeout=30)
    ws.transport.abort()
    await health(station)


# -- finding 7: a binary frame on /ui ---------------------------------------------------------------
async def test_a_binary_frame_on_ui_is_an_error_and_the_session_goes_on(station):
    ws = await connect(url(station, "/ui"))
    await ws.send(json.dumps({"type": "hello", "data": {"role": "ui", "token": TOKEN}}))
    assert (await recv_json(ws))["type"] == "welcome"
    await ws.send(b"\x00\x01 not for the UI channel")
    error = await expect_error(ws, "bad_message")
    assert "binary" in error["message"]
    await ws.send(json.dumps({"type": "pipeline:list", "id": "after", "data": {}}))
    reply = await recv_json(ws)
    assert reply["type"] == "pipeline:list_result" and reply["data"]["ref"] == "after"
    await ws.close()


# -- finding 12: a partial file held by another connection ---------------------------------------
async def test_an_upload_of_a_file_another_connection_writes_is_refused_without_stalling(station):
    first = await connected_detector(station, "desk-a")
    station.orchestrator.issue("r-1", CARD_FILE)
    begin = {"type": "sd:upload_begin", "id": "b", "data": {"request_id": "r-1", "path": CARD_FILE, "size": 10,
                                                           "offset": 0}}
    await first.send(json.dumps(begin))
    await first.send(b"abc")  # the first connection holds the partial file
    second = await connected_detector(station, "desk-b")
    await second.send(json.dumps(begin))
    await second.send(json.dumps(listing()))
    # The refusal comes after a short wait, and the session reads its next message at once.
    await expect_error(second, "conflict", "b")
    assert (await recv_json(second))["type"] == "sd:file_list_ack"
    for ws in (first, second):
        await ws.close()


async def test_a_reconnecting_detector_writes_its_file_at_once_though_the_old_connection_went_silent(station):
    """The old connection holds the partial file and never answers the station's close (a reader
    whose network went away): the new connection is not kept waiting for it."""
    old = await connected_detector(station, "desk-left")
    station.orchestrator.issue("r-1", CARD_FILE)
    payload = bytes(range(256)) * 400  # 102,400 bytes
    await old.send(json.dumps({"type": "sd:upload_begin", "data": {
        "request_id": "r-1", "path": CARD_FILE, "size": len(payload), "offset": 0}}))
    await old.send(payload[:50_000])
    old.transport.pause_reading()  # gone silent: it will never answer the close frame
    new = await connected_detector(station, "desk-left")
    await new.send(json.dumps({"type": "sd:upload_begin", "data": {
        "request_id": "r-1", "path": CARD_FILE, "size": len(payload), "offset": 0}}))
    for start in range(0, len(payload), 65536):
        await new.send(payload[start:start + 65536])
    await new.send(json.dumps({"type": "sd:file_copied", "data": {
        "request_id": "r-1", "path": CARD_FILE, "size": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest()}}))
    assert (await recv_json(new))["type"] == "sd:file_stored"
    assert station.orchestrator.staged(CARD_FILE).read_bytes() == payload
    await new.close()
    old.transport.abort()
