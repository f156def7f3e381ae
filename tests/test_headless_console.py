"""`--no-gui`: a readable line per event on the console and in the log file, and the crew's
`status`/`retry` commands against the running station (the real program, the reference
Detector on a generated card)."""

from __future__ import annotations

import queue
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
import tomli_w

from tests.gui.desk_scenario import make_card, start_detector, stop_process, video_path
from tests.support.station_process import running_station, station_command, station_env

pytestmark = pytest.mark.slow


class Lines:
    """The station's output, read on a thread so the test can wait with a deadline."""

    def __init__(self, stream) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append(line)
            if regex.search(line):
                return line
        raise AssertionError(f"no line matching {pattern!r} in:\n" + "\n".join(self.seen[-40:]))

    def find(self, pattern: str) -> str:
        """A line already printed (events of one moment come in any order), else the next one."""
        regex = re.compile(pattern)
        return next((line for line in self.seen if regex.search(line)), None) or self.wait_for(pattern)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(station_command(*args), capture_output=True, text=True, env=station_env(), timeout=60)


def test_headless_lines_name_passengers_and_status_retry_work_against_it(tmp_path: Path):
    card = make_card(tmp_path / "card", "CARD-H")
    ana = card.card.passengers[0]
    data = tmp_path / "data"
    data.mkdir()
    (data / "config.toml").write_text(tomli_w.dumps({"small_file_bytes": card.threshold}))
    blocked = video_path(data / "library", ana.booking_id, ana.passenger_name)
    blocked.mkdir(parents=True)  # a folder squats on Ana's video name: her render fails

    with running_station("--data-dir", str(data)) as station:
        lines = Lines(station.process.stdout)
        detector = start_detector(station.port, station.token, card, "desk-left", "Desk left reader",
                                  tmp_path / "detector.log")
        try:
            lines.wait_for(r"detector:connected .*detector_id=desk-left")
            failed = lines.wait_for(r"pipeline:failed")
            assert f"{ana.passenger_name} ({ana.booking_id})" in failed
            match = re.search(r"exec (\d+) .*render_final\[(passenger-\d+)\] #(\d+)", failed)
            assert match, failed
            execution_id, step_id = match.group(1), match.group(3)
            assert "IsADirectoryError" in failed or "Is a directory" in failed
            # The passenger's own line says what became of their video.
            assert lines.find(rf"passenger:updated\s+exec {execution_id}  Ana Silva \(BK-2026-1042\)  render failed$")
            # The card's end, in words: not to be formatted yet.
            lines.wait_for(r"^card \S+ incomplete: \d+ of \d+ files verified in the library; do not format it$")
            # time, event, execution, passenger, step [key] #id, state, duration
            fetched = next(line for line in lines.seen
                           if "pipeline:step_completed" in line and "request_session_videos" in line and "Ana" in line)
            assert re.fullmatch(rf"\d\d:\d\d:\d\d  pipeline:step_completed\s+exec {execution_id}  Ana Silva "
                                r"\(BK-2026-1042\)  request_session_videos\[\d+\] #\d+  succeeded  \d+ ms", fetched), fetched

            status = _cli("status", "--data-dir", str(data))
            assert status.returncode == 0, status.stderr
            assert "render_final" in status.stdout and "failed" in status.stdout

            shutil.rmtree(blocked)
            retry = _cli("retry", "--data-dir", str(data), execution_id, step_id)
            assert retry.returncode == 0, retry.stdout + retry.stderr
            done = lines.wait_for(rf"pipeline:step_completed .*render_final\[passenger-\d+\] #{step_id}\s+succeeded")
            assert f"{ana.passenger_name} ({ana.booking_id})" in done
            assert lines.find(r"passenger:updated\s+exec \d+  Ana Silva \(BK-2026-1042\)  video ready$")
            completed = lines.wait_for(r"pipeline:completed")
            assert f"ready: {ana.passenger_name}" in completed
            lines.wait_for(r"^card \S+ safe to format: all \d+ files verified in the library$")
            assert blocked.is_file()
        finally:
            stop_process(detector)

    log_text = (data / "logs" / "station.log").read_text(encoding="utf-8")
    assert failed.split("  ", 1)[1] in log_text, "the log file holds the same lines"


def test_a_console_nobody_reads_does_not_stop_the_station(tmp_path: Path):
    """A terminal paused with Ctrl-S, or a pipe nobody reads: the console fills, the station
    goes on importing; the waiting lines come out once the console is read again."""
    import fcntl
    import termios

    card = make_card(tmp_path / "card", "CARD-P")
    data = tmp_path / "data"
    data.mkdir()
    (data / "config.toml").write_text(tomli_w.dumps({"small_file_bytes": card.threshold}))
    with running_station("--data-dir", str(data)) as station:
        out = station.process.stdout
        pipe_size = fcntl.fcntl(out.fileno(), 1031, 4096)  # F_SETPIPE_SZ: a one-page pipe, full in a few lines
        detector = start_detector(station.port, station.token, card, "desk-p", "Desk P", tmp_path / "detector.log")
        try:
            videos = [video_path(data / "library", p.booking_id, p.passenger_name) for p in card.card.passengers]
            deadline = time.monotonic() + 120
            while not all(v.is_file() for v in videos) and time.monotonic() < deadline:
                time.sleep(0.2)
            waiting = int.from_bytes(fcntl.ioctl(out.fileno(), termios.FIONREAD, b"\0\0\0\0"), "little")
            # Full: no room for another line (a line longer than the room left waits whole).
            assert waiting > pipe_size - 512, f"the console was not full ({waiting} bytes): the test shows nothing"
            assert all(v.is_file() for v in videos), "the import stopped with the console"
            lines = Lines(out)
            lines.wait_for(r"pipeline:completed")
        finally:
            stop_process(detector)


def test_a_headless_station_whose_library_disk_is_near_the_reserve_says_so(tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "config.toml").write_text(tomli_w.dumps({"library_reserve_bytes": 10**15}))  # a petabyte kept free
    with running_station("--data-dir", str(data)) as station:
        lines = Lines(station.process.stdout)
        low = lines.wait_for(r"^library disk low: ", timeout=30)
        assert f"free in {data / 'library'}; imports stop when a card's files would leave less than 1000 TB" in low
