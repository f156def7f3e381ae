"""A desk as the crew has it: a generated SD card in the reference Detector (its own process,
as on the LAN) feeding a real station whose window is open. Shared by the end-to-end test and
scripts/screenshot.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from app.media.sample_card import CARD_FOLDER, SampleCard, write_sample_card
from app.pipeline.library import Library

REPO = Path(__file__).resolve().parents[2]
BIG_CLIP = f"{CARD_FOLDER}/GX030003.MP4"


@dataclass
class DeskCard:
    card: SampleCard
    card_id: str
    big_clip: str | None

    @property
    def threshold(self) -> int:
        """A small-file threshold between the card's QR clips and its jump clips."""
        return (self.card.largest_qr_clip + self.card.smallest_jump_clip) // 2


def make_card(root: Path, card_id: str, *, big_clip_bytes: int = 0,
              passengers: tuple[tuple[str, str], ...] | None = None, extra_unassigned: bool = False) -> DeskCard:
    """A sample card; with `big_clip_bytes`, the first passenger's recording gets a third chapter
    that large (a real clip padded with zeros: written in a second or two, not encoded); with
    `extra_unassigned`, a second clip filmed before any passenger code."""
    kwargs = {"passengers": passengers} if passengers else {}
    card = write_sample_card(root, **kwargs)
    if extra_unassigned:
        first = root / card.unassigned[0]
        extra = first.with_name("GX010000.MP4")
        shutil.copyfile(first, extra)
        stamp = first.stat().st_mtime - 30
        os.utime(extra, (stamp, stamp))
    big = None
    if big_clip_bytes:
        first = card.passengers[0]
        source = root / first.clips[-1]
        target = root / BIG_CLIP
        shutil.copyfile(source, target)
        with target.open("r+b") as fh:
            fh.truncate(big_clip_bytes)  # sparse on disk, but every byte is read, sent and hashed
        stamp = source.stat().st_mtime + 20
        os.utime(target, (stamp, stamp))
        big = BIG_CLIP
    return DeskCard(card, card_id, big)


def start_detector(port: int, token: str, card: DeskCard, detector_id: str, name: str, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INGEST_", "QT_"))}
    env["PYTHONPATH"] = str(REPO)
    # On the LAN a Detector is its own small computer; here it shares this machine's cores, so it
    # runs at a lower priority and its hashing and reading do not pass for the station's own lag.
    nice = ["nice", "-n", "10"] if shutil.which("nice") else []
    return subprocess.Popen(
        # --token=VALUE: a token may start with "-"
        [*nice, sys.executable, "-m", "app", "detector", "--station", f"ws://127.0.0.1:{port}", f"--token={token}",
         "--card", str(card.card.root), "--card-id", card.card_id, "--detector-id", detector_id, "--name", name],
        stdout=log.open("w"), stderr=subprocess.STDOUT, env=env,
    )


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def video_path(library: Path, booking_id: str, name: str, day: str = "2026-11-23") -> Path:
    """Where render_final writes a passenger's video."""
    folder = Library(library).jump_dir(day, booking_id, name)
    return folder / (folder.name + ".mp4")


ONE_MINUTE = timedelta(minutes=1)
