"""The hand-off link over real HTTP: ranges, seeking, expiry, revocation, unknown links."""

from __future__ import annotations

import asyncio
import socket
import urllib.request
from datetime import timedelta

import cv2
import numpy as np
import psutil
import pytest
import zxingcpp

from app.handoff.links import HandoffError
from tests.handoff.conftest import T0, http_get, recorded_downloads


async def test_a_range_request_gets_206_with_exactly_those_bytes(station, passenger):
    link = await station.handoff.create_link(passenger.jump_id)
    data = passenger.video.read_bytes()
    answer = await http_get(link.video_url, Range="bytes=0-1023")
    assert answer.status == 206
    assert answer.headers["content-range"] == f"bytes 0-1023/{len(data)}"
    assert answer.headers["accept-ranges"] == "bytes"
    assert answer.headers["content-type"] == "video/mp4"
    assert "filename*=UTF-8''BK-2026-1042%20Ana%20Silva.mp4" in answer.headers["content-disposition"]
    assert answer.body == data[:1024]


async def test_seeking_to_the_middle_and_the_end(station, passenger):
    link = await station.handoff.create_link(passenger.jump_id)
    data = passenger.video.read_bytes()
    middle = len(data) // 2
    answer = await http_get(link.video_url, Range=f"bytes={middle}-")
    assert answer.status == 206
    assert answer.headers["content-range"] == f"bytes {middle}-{len(data) - 1}/{len(data)}"
    assert answer.body == data[middle:]
    tail = await http_get(link.video_url, Range="bytes=-100")
    assert (tail.status, tail.body) == (206, data[-100:])


async def test_the_whole_video_without_a_range_and_every_download_is_recorded(station, passenger):
    link = await station.handoff.create_link(passenger.jump_id)
    data = passenger.video.read_bytes()
    answer = await http_get(link.video_url)
    assert (answer.status, answer.body) == (200, data)
    assert answer.headers["accept-ranges"] == "bytes"
    assert await recorded_downloads(station, link.id, 1) == [(200, len(data), "127.0.0.1", T0)]
    await http_get(link.video_url, Range="bytes=10-19")
    assert (await recorded_downloads(station, link.id, 2))[1] == (206, 10, "127.0.0.1", T0)


@pytest.mark.parametrize("header", ["bytes=abc", "bytes=5-2", "items=0-10", "bytes=", "bytes=99999999-"])
async def test_a_malformed_or_unsatisfiable_range_answers_416(station, passenger, header):
    link = await station.handoff.create_link(passenger.jump_id)
    answer = await http_get(link.video_url, Range=header)
    assert answer.status == 416
    assert answer.headers["content-range"] == f"bytes */{passenger.video.stat().st_size}"


async def test_the_page_names_the_passenger_and_holds_the_video(station, passenger):
    link = await station.handoff.create_link(passenger.jump_id)
    answer = await http_get(link.url)
    assert answer.status == 200
    page = answer.body.decode()
    assert "<h1>Ana Silva</h1>" in page
    assert f'<video id="video" src="{link.video_url.split(":" + str(station.handoff.port))[1]}"' in page
    assert "http" not in page.replace(link.video_url, "")  # nothing fetched from elsewhere
    assert "default-src 'none'" in answer.headers["content-security-policy"]


async def test_a_link_expires_after_the_set_days(station, passenger):
    link = await station.handoff.create_link(passenger.jump_id)
    assert link.expires_at == T0 + timedelta(days=7)
    station.handoff.links.clock = lambda: T0 + timedelta(days=7) - timedelta(seconds=1)
    assert (await http_get(link.url)).status == 200
    station.handoff.links.clock = lambda: T0 + timedelta(days=7)
    expired = await http_get(link.video_url, Range="bytes=0-10")
    assert (expired.status, expired.body) == (404, b"not found\n")
    assert (await http_get(link.url)).status == 404


async def test_a_revoked_link_answers_404_and_another_link_still_works(station, passenger):
    first = await station.handoff.create_link(passenger.jump_id)
    second = await station.handoff.create_link(passenger.jump_id)
    assert first.url != second.url
    await station.handoff.revoke_link(first.id)
    revoked = await http_get(first.video_url)
    unknown = await http_get(first.url[:-4] + "AAAA")
    assert (revoked.status, revoked.body) == (unknown.status, unknown.body) == (404, b"not found\n")
    assert (await http_get(first.url)).status == 404
    assert (await http_get(second.video_url, Range="bytes=0-3")).status == 206


@pytest.mark.parametrize("path", ["/h/", "/h/x", "/h/../../etc/passwd", "/h/%00/video.mp4", "/", "/health"])
async def test_unknown_links_answer_a_bare_404(station, passenger, path):
    await station.handoff.create_link(passenger.jump_id)
    answer = await http_get(f"http://127.0.0.1:{station.handoff.port}{path}")
    assert (answer.status, answer.body) == (404, b"not found\n")


async def test_garbage_instead_of_http_gets_400_and_the_server_goes_on(station, passenger):
    link = await station.handoff.create_link(passenger.jump_id)

    def send_garbage() -> bytes:
        with socket.create_connection(("127.0.0.1", station.handoff.port), timeout=5) as sock:
            sock.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")
            return sock.recv(100)

    assert (await asyncio.to_thread(send_garbage)).startswith(b"HTTP/1.1 400 ")
    assert (await http_get(link.video_url, Range="bytes=0-0")).status == 206


async def test_no_link_for_a_passenger_without_a_video(station, passenger):
    passenger.video.unlink()
    with pytest.raises(HandoffError, match="not rendered"):
        await station.handoff.create_link(passenger.jump_id)
    with pytest.raises(HandoffError, match="no passenger"):
        await station.handoff.create_link(passenger.jump_id + 100)


async def test_the_qr_code_holds_the_link(station, passenger):
    link = await station.handoff.create_link(passenger.jump_id)
    picture = cv2.imdecode(np.frombuffer(station.handoff.qr_png(link.url), np.uint8), cv2.IMREAD_GRAYSCALE)
    # read as a phone's camera would; OpenCV's own detector misses ~2 % of valid codes (random tokens)
    assert [code.text for code in zxingcpp.read_barcodes(picture)] == [link.url]
    assert link.url.startswith(f"http://127.0.0.1:{station.handoff.port}/h/")


async def test_memory_stays_flat_while_a_large_video_streams(station, passenger):
    size = 768 * 1024 * 1024
    with passenger.video.open("r+b") as video:  # sparse: large on the wire, nothing on the disk
        video.truncate(size)
    link = await station.handoff.create_link(passenger.jump_id)
    process = psutil.Process()
    before = process.memory_info().rss

    def download() -> tuple[int, int]:
        received, peak = 0, 0
        with urllib.request.urlopen(link.video_url, timeout=30) as response:
            while chunk := response.read(1024 * 1024):
                received += len(chunk)
                peak = max(peak, process.memory_info().rss)
        return received, peak

    received, peak = await asyncio.to_thread(download)
    assert received == size
    assert peak - before < 64 * 1024 * 1024, f"the station grew by {(peak - before) >> 20} MiB"


async def test_several_ranges_at_once_are_ignored_and_the_whole_video_is_sent(station, passenger):
    link = await station.handoff.create_link(passenger.jump_id)
    answer = await http_get(link.video_url, Range="bytes=0-9,20-29")
    assert (answer.status, answer.body) == (200, passenger.video.read_bytes())
    assert "content-range" not in answer.headers


def test_the_link_uses_the_lan_address_when_listening_on_every_interface(tmp_path):
    from app.config import load_settings
    from app.handoff.service import HandoffService, lan_address

    settings = load_settings({"data_dir": str(tmp_path), "host": "0.0.0.0"}, environ={})
    service = HandoffService(settings, db=None)  # type: ignore[arg-type] - address() needs no database
    machine = {a.address for addresses in psutil.net_if_addrs().values() for a in addresses}
    assert service.address() == lan_address()
    assert service.address() in machine or service.address().startswith("127.")  # no network at all
    settings.handoff_host = "desk.local"
    assert service.address() == "desk.local"
