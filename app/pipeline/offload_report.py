"""The offload report of one card import: an ASC MHL manifest and a readable HTML page, saved in
`<library>/<day>/_reports/<card> <execution>/`.

- `<card>.mhl`: an ASC MHL v2.0 hash list (the `ascmhl` package writes it) of every file this
  import stored, paths relative to the library, with size, modified time and xxh64. ASC MHL
  has no SHA-256 element, so the SHA-256s (what the station verifies uploads with) are in the
  HTML report and in `<card>.sha256` (`sha256sum -c` reads it, from the library folder).
- `report.html`: card, Detector, times, speed, passengers, every file with both hashes, and
  what was skipped and why. Self-contained, no external resources.

Every stored file is read once more for its xxh64; its SHA-256 is the one the station verified
the upload with (recomputing it would double the CPU the report costs). A file that cannot be
read, or whose size is no longer the imported one, is flagged in the report.
"""

from __future__ import annotations

import os
import socket
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import escape
from pathlib import Path

import xxhash
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import ExecutionFile, FileState, Jump, PipelineExecution, PipelineStep, StepState
from app.pipeline.library import safe_component
from app.version import __version__

REPORTS = "_reports"
REPORT_STEP = "write_report"
CHUNK = 1024 * 1024


@dataclass
class CardFile:
    path: str  # on the card
    size: int
    modified: datetime
    kind: str
    state: str
    reason: str
    passenger: str
    stored_path: str | None
    sha256: str | None  # verified when the upload was stored
    xxh64: str = ""
    problem: str = ""


@dataclass
class Passenger:
    booking_id: str
    name: str
    folder: str
    video: str
    clips: int


@dataclass
class OffloadFacts:
    execution_id: int
    card_id: str
    card_label: str
    detector_id: str
    slot: str
    started_at: datetime
    finished_at: datetime
    files_total: int
    files_new: int
    passengers: list[Passenger] = field(default_factory=list)
    files: list[CardFile] = field(default_factory=list)

    @property
    def stored(self) -> list[CardFile]:
        return [f for f in self.files if f.state == FileState.STORED and f.stored_path]

    @property
    def not_imported(self) -> list[CardFile]:
        return [f for f in self.files if f.state != FileState.STORED]

    @property
    def bytes_stored(self) -> int:
        return sum(f.size for f in self.stored)

    @property
    def seconds(self) -> float:
        return max((self.finished_at - self.started_at).total_seconds(), 0.001)


def gather(session: Session, execution_id: int, finished_at: datetime) -> OffloadFacts:
    execution = session.get(PipelineExecution, execution_id)
    if execution is None:
        raise LookupError(f"no import {execution_id}")
    jumps = {j.id: j for j in session.scalars(select(Jump).where(Jump.execution_id == execution_id))}
    facts = OffloadFacts(execution.id, execution.card_id or "", execution.card_label or "", execution.detector_id or "",
                         execution.slot or "", execution.created_at,
                         execution.finished_at or finished_at, execution.files_total, execution.files_new)
    for jump in sorted(jumps.values(), key=lambda j: j.id):
        if not jump.unassigned:
            facts.passengers.append(Passenger(jump.booking_id or "", jump.passenger_name or "", jump.output_dir or "",
                                              Path(jump.video_path).name if jump.video_path else "",
                                              sum(1 for f in jump.files if f.state == FileState.STORED)))
    rows = session.scalars(select(ExecutionFile).where(ExecutionFile.execution_id == execution_id)
                           .order_by(ExecutionFile.path))
    for f in rows:
        owner = jumps.get(f.jump_id) if f.jump_id else None
        who = "unassigned" if owner is None or owner.unassigned else f"{owner.booking_id} {owner.passenger_name}"
        facts.files.append(CardFile(f.path, f.size, f.modified, f.kind, f.state, f.error or "",
                                    who if f.state == FileState.STORED else "", f.stored_path, f.sha256))
    return facts


def report_dir(library: Path, facts: OffloadFacts) -> Path:
    """`<library>/<day>/_reports/<card> <execution>/`, the day most of the card's files went to."""
    days: Counter[str] = Counter()
    for f in facts.stored:
        try:
            days[Path(f.stored_path or "").resolve().relative_to(library.resolve()).parts[0]] += 1
        except (ValueError, IndexError):
            continue
    day = days.most_common(1)[0][0] if days else facts.started_at.date().isoformat()
    card = safe_component(facts.card_label or facts.card_id or "card")
    return library / day / REPORTS / f"{card} {facts.execution_id}"


def hash_stored_files(facts: OffloadFacts) -> None:
    """The xxh64 of every stored file (blocking)."""
    for f in facts.stored:
        fast, size = xxhash.xxh64(), 0
        try:
            with open(f.stored_path or "", "rb") as fh:
                while chunk := fh.read(CHUNK):
                    fast.update(chunk)
                    size += len(chunk)
        except OSError as exc:
            f.problem = f"cannot be read in the library: {exc.strerror or exc}"
            continue
        f.xxh64 = fast.hexdigest()
        if size != f.size:
            f.problem = f"is {size} bytes in the library, {f.size} were imported"


def write_mhl(path: Path, library: Path, facts: OffloadFacts, now: datetime) -> None:
    """An ASC MHL v2.0 hash list (a packing list: paths relative to the library)."""
    # Imported here: ascmhl brings lxml, click and dateutil (0.1 s), and every process that
    # loads the steps (the station at start) would pay for it.
    from ascmhl import hashlist_xml_parser  # noqa: PLC0415
    from ascmhl.hashlist import (  # noqa: PLC0415
        MHLCreatorInfo,
        MHLHashEntry,
        MHLHashList,
        MHLMediaHash,
        MHLProcess,
        MHLTool,
    )
    from ascmhl.utils import datetime_isostring  # noqa: PLC0415

    hash_list = MHLHashList()
    creator = MHLCreatorInfo()
    creator.host_name = socket.gethostname()
    creator.tool = MHLTool("ingest-station", __version__)
    creator.creation_date = datetime_isostring(now)
    creator.location = facts.detector_id or None
    creator.comment = f"card {facts.card_label or facts.card_id}, import {facts.execution_id}"
    hash_list.creator_info = creator
    hash_list.process_info.process = MHLProcess("transfer")
    for f in facts.stored:
        if not f.xxh64:
            continue
        stored = Path(f.stored_path or "")
        media = MHLMediaHash()
        media.path = stored.resolve().relative_to(library.resolve()).as_posix()
        media.file_size = f.size
        media.last_modification_date = datetime.fromtimestamp(stored.stat().st_mtime)
        media.append_hash_entry(MHLHashEntry("xxh64", f.xxh64, action="original", hash_date=now))
        hash_list.append_hash(media)
    hashlist_xml_parser.write_hash_list(hash_list, str(path))


def write_sha256(path: Path, library: Path, facts: OffloadFacts) -> None:
    lines = [f"{f.sha256}  {Path(f.stored_path or '').resolve().relative_to(library.resolve()).as_posix()}\n"
             for f in facts.stored if f.sha256]
    path.write_text("".join(lines), encoding="utf-8")


def write_offload_report(library: Path, facts: OffloadFacts, now: datetime) -> tuple[Path, Path]:
    """Hash, then write the manifest and the HTML report; returns (report.html, manifest). Blocking."""
    library = Path(library)
    hash_stored_files(facts)
    folder = report_dir(library, facts)
    folder.mkdir(parents=True, exist_ok=True)
    name = safe_component(facts.card_label or facts.card_id or "card")
    manifest = folder / f"{name}.mhl"
    write_mhl(manifest, library, facts, now)
    write_sha256(folder / f"{name}.sha256", library, facts)
    html = folder / "report.html"
    tmp = html.with_name(html.name + ".tmp")
    tmp.write_text(render_html(facts, library, manifest.name), encoding="utf-8")
    os.replace(tmp, html)
    return html, manifest


def report_of(session: Session, execution_id: int) -> Path | None:
    """The HTML report of an import, when its `write_report` step has written one."""
    output = session.scalar(select(PipelineStep.output).where(
        PipelineStep.execution_id == execution_id, PipelineStep.name == REPORT_STEP,
        PipelineStep.state == StepState.SUCCEEDED))
    report = (output or {}).get("report")
    return Path(report) if report and Path(report).is_file() else None


# -- the page ---------------------------------------------------------------------------------
def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value} B"  # pragma: no cover


def _time(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _row(*cells: object, cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<tr{attr}>" + "".join(f"<td>{escape(str(c))}</td>" for c in cells) + "</tr>"


def _relative(path: str | None, library: Path) -> str:
    if not path:
        return ""
    try:
        return Path(path).resolve().relative_to(library.resolve()).as_posix()
    except ValueError:
        return path


def render_html(facts: OffloadFacts, library: Path, manifest_name: str) -> str:
    card = facts.card_label or facts.card_id
    speed = facts.bytes_stored / facts.seconds
    problems = [f for f in facts.stored if f.problem]
    summary = [
        ("Card", f"{facts.card_label} ({facts.card_id})" if facts.card_label else facts.card_id),
        ("Detector", f"{facts.detector_id}" + (f", slot {facts.slot}" if facts.slot else "")),
        ("Import", facts.execution_id),
        ("Started", _time(facts.started_at)), ("Finished", _time(facts.finished_at)),
        ("Duration", f"{facts.seconds:.1f} s"),
        ("Files on the card", facts.files_total), ("New files", facts.files_new),
        ("Imported", f"{len(facts.stored)} files, {_size(facts.bytes_stored)}"),
        ("Average speed", f"{_size(int(speed))}/s"),
        ("Not imported", len(facts.not_imported)),
        ("Read back", "every imported file is in the library, at its size" if not problems
         else f"{len(problems)} file(s) are missing or changed in the library"),
        ("Manifest", f"{manifest_name} (ASC MHL, xxh64)"),
    ]
    passengers = "".join(_row(p.booking_id, p.name, p.clips, _relative(p.folder, library), p.video)
                         for p in facts.passengers) or _row("none", "", "", "", "")
    files = "".join(_row(f.path, _size(f.size), _time(f.modified), f.passenger, _relative(f.stored_path, library),
                         f.xxh64, f.sha256, f.problem, cls="problem" if f.problem else "") for f in facts.stored)
    skipped = "".join(_row(f.path, _size(f.size), f.kind, f.state, f.reason or "-") for f in facts.not_imported)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Offload report: {escape(card)} (import {facts.execution_id})</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
td, th {{ border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; white-space: nowrap; }}
th {{ background: #eee; }}
td:nth-child(6), td:nth-child(7) {{ font-family: monospace; font-size: 12px; }}
tr.problem td {{ background: #fdd; }}
</style>
</head>
<body>
<h1>Offload report: {escape(card)}</h1>
<table>{"".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in summary)}</table>
<h2>Passengers</h2>
<table><tr><th>Booking</th><th>Passenger</th><th>Clips</th><th>Folder</th><th>Video</th></tr>{passengers}</table>
<h2>Imported files</h2>
<table><tr><th>On the card</th><th>Size</th><th>Modified</th><th>Passenger</th><th>In the library</th>
<th>xxh64</th><th>SHA-256</th><th>Problem</th></tr>{files}</table>
<h2>Not imported</h2>
<table><tr><th>On the card</th><th>Size</th><th>Kind</th><th>State</th><th>Why</th></tr>{skipped}</table>
</body>
</html>
"""
