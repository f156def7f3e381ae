"""The orchestrator turns Detector signals into executions and wakes the right steps.

The net layer validates messages and moves bytes, then calls these methods; they decide
what the messages mean (docs/architecture.md, "Orchestrator"). This module does not import
the net layer: it sends copy requests through the `DetectorLink` it is given.

Why one module of ~680 lines: it is the one place where a Detector's word about a transfer
(listed, begun, stored, rejected, failed, cancelled, card moved) meets the import's rows; the
rules tying a request to its Detector and card must be read together. The passenger commands
(move, re-render) are the next piece to move out, to a module of their own.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.db.engine import Database
from app.db.types import utcnow
from app.db.models import (
    ExecutionFile,
    ExecutionState,
    FileProbe,
    FileState,
    Jump,
    Passenger,
    PipelineExecution,
    PipelineStep,
    StepState,
    TransferRequest,
)
from app.core_events import (
    CardRemoved,
    ClipsAssigned,
    CoreEvent,
    PassengerUpdated,
    PipelineCancelled,
    PipelineFailed,
    PipelineStarted,
    TransferRequested,
)
from app.events import EventBus
from app.pipeline import card_import, passenger_render, probes
from app.pipeline.engine import PipelineEngine
from app.pipeline.filing import file_into_jump, write_passenger_json
from app.pipeline.fingerprint import ListedFile, split_listing
from app.pipeline.import_options import ImportOptions
from app.pipeline.branding_options import branding_params
from app.pipeline.day_rule import jump_day
from app.pipeline.library import Library
from app.pipeline.passenger import NotPassengerCode, parse_passenger_code
from app.pipeline.passengers import camera_dir, camera_of, passenger_for
from app.pipeline.passengers_read import passenger_by_id, passengers_of_day, unassigned_of_day
from app.pipeline.records import forget_unfiled, mark_file_imported
from app.pipeline.request_reconciler import RequestReconciler
from app.refusals import MoveRefused, PassengerNotFound, RequestClosed, UnknownRequest
from app.pipeline.transfers import (
    close_finished_requests,
    copy_request_message,
    mark_sent,
    open_requests_due,
    reopen_file,
)

log = logging.getLogger(__name__)

OPEN_STATES = (ExecutionState.PENDING, ExecutionState.RUNNING, ExecutionState.WAITING)
STORAGE_RETRY_S = 2.0  # a storage fault is asked again after this many seconds times the attempts so far

__all__ = ["AssignError", "FileListAck", "Orchestrator", "UnknownRequest", "UploadTarget"]


class AssignError(ValueError):
    """Clips cannot be assigned as asked; the message says why."""


class CopyRequestSender(Protocol):
    def send_copy_request(self, detector_id: str, data: dict[str, Any]) -> bool: ...

    def send_copy_cancel(self, detector_id: str, data: dict[str, Any]) -> bool: ...

    def capabilities(self, detector_id: str) -> frozenset[str]: ...

    def session_of(self, detector_id: str) -> str | None: ...


class CardEndPort(Protocol):
    """The card's end (app/pipeline/card_end.py): status to the Detector, wipes."""

    def card_listed(self, execution_id: int) -> None: ...

    async def wipe_done(self, detector_id: str, data: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class FileListAck:
    execution_id: int
    files_total: int
    files_new: int


@dataclass(frozen=True)
class UploadTarget:
    partial_path: Path
    final_path: Path
    execution_id: int  # the import the file belongs to (its `transfer:progress` events say so)


class Orchestrator:
    def __init__(self, *, settings: Settings, db: Database, engine: PipelineEngine, bus: EventBus,
                 link: CopyRequestSender) -> None:
        self.settings = settings
        self.db = db
        self.engine = engine
        self.bus = bus
        self.link = link
        self.library = Library(settings.library)
        self.storage_retry_s = STORAGE_RETRY_S
        self._tasks: set[asyncio.Task] = set()
        # Which reader holds a card (docs/protocol.md, "A card moved to another reader"): a card's
        # import stays with the Detector that listed it while that Detector is connected and has
        # not said the card left it; another reader listing it meanwhile stands by.
        self._connected: set[str] = set()
        self._removed: set[tuple[str, str]] = set()  # (detector_id, card_id) the Detector said left it
        self._standby: dict[str, str] = {}  # card_id -> the reader that takes over when the holder lets go
        # (detector_id, card_id) of the cards in their reader since their last listing: only
        # their open requests are sent (a pulled card's requests wait for it to be listed again).
        self._listed: set[tuple[str, str]] = set()
        self._send_lock = asyncio.Lock()  # one request at a time: never sent twice on one connection
        self.requests = RequestReconciler(self.send_unsent_requests)
        self._unsubscribe = bus.subscribe(self._on_event)
        self.card_end: CardEndPort | None = None  # set by the station

    def start(self) -> None:
        """Start the copy-request reconciler (the station calls it; `stop()` ends it)."""
        self.requests.start()

    async def stop(self) -> None:
        self.close()
        await self.requests.stop()

    def close(self) -> None:
        self._unsubscribe()
        for task in self._tasks:
            task.cancel()

    # -- a card is listed -------------------------------------------------------------------
    async def file_list(self, detector_id: str, card_id: str, label: str | None, slot: str | None,
                        files: Sequence[dict[str, Any]]) -> FileListAck:
        listed = _unique_paths(files)  # before the transaction: it holds SQLite's one writer
        import_proxies = self.settings.import_proxies
        # Steps (on any worker) choose how to search clips by what this Detector can do.
        capabilities = sorted(self.link.capabilities(detector_id))

        self._removed.discard((detector_id, card_id))

        def open_or_create(session: Session) -> tuple[FileListAck, str]:
            running = _open_execution(session, card_id)
            if running is not None:
                ack = FileListAck(running.id, running.files_total, running.files_new)
                if running.detector_id != detector_id and self._holds(running.detector_id, card_id):
                    return ack, "standby"
                # Listed again while its import waits: resume it, in whichever reader it now sits.
                _tie_to(session, running, detector_id)
                running.params = {**running.params, "capabilities": capabilities}
                return ack, "resumed"
            split = split_listing(session, [listed_file for listed_file, _ in listed], import_proxies)
            execution = self.engine.create_execution(
                session, card_import.NAME, detector_id=detector_id, card_id=card_id, card_label=label, slot=slot,
                files_total=len(listed), files_new=len(split.new),
                # The times as the Detector sent them: receive_file_list parses them (no reformatting here).
                params={"files": [{"path": f.path, "size": f.size, "modified": text} for f, text in listed],
                        "options": asdict(ImportOptions.from_settings(self.settings)),
                        "branding": branding_params(self.settings),
                        "capabilities": capabilities},
            )
            return FileListAck(execution.id, len(listed), len(split.new)), "created"

        ack, outcome = await self.db.run(open_or_create)
        if outcome == "created":
            self._listed.add((detector_id, card_id))
            self.bus.publish(PipelineStarted(execution_id=ack.execution_id, card_id=card_id, detector_id=detector_id,
                                             files_total=ack.files_total, files_new=ack.files_new))
            await self.engine.enqueue_ready(ack.execution_id)
        elif outcome == "standby":
            self._standby[card_id] = detector_id
            log.warning("card %s listed by detector %s while another reader holds its import %d; "
                        "it takes over when that reader lets the card go", card_id, detector_id, ack.execution_id)
        else:
            if self._standby.get(card_id) == detector_id:
                del self._standby[card_id]
            log.info("card %s listed again: resuming execution %d", card_id, ack.execution_id)
            await self.send_open_requests(ack.execution_id)
            self._listed.add((detector_id, card_id))
        if self.card_end is not None:
            self.card_end.card_listed(ack.execution_id)
        return ack

    async def wipe_done(self, detector_id: str, data: dict[str, Any]) -> None:
        """`sd:wipe_done`: raises UnknownRequest for a wipe this station never asked of that Detector."""
        if self.card_end is None:
            raise UnknownRequest("this station sends no wipe requests")
        await self.card_end.wipe_done(detector_id, data)
    def _holds(self, holder: str | None, card_id: str) -> bool:
        """Whether `holder` still has the card: connected, and it did not say the card left it."""
        return bool(holder) and holder in self._connected and (holder, card_id) not in self._removed

    async def _hand_over(self, card_id: str) -> None:
        """The reader standing by for a card takes over its import once the holder let go of it."""
        reader = self._standby.get(card_id)
        if reader is None or reader not in self._connected:
            return

        def take_over(session: Session) -> int | None:
            running = _open_execution(session, card_id)
            if running is None or self._holds(running.detector_id, card_id) and running.detector_id != reader:
                return None
            _tie_to(session, running, reader)
            return running.id

        execution_id = await self.db.run(take_over)
        if execution_id is None:
            return
        del self._standby[card_id]
        log.info("card %s: detector %s takes over execution %d", card_id, reader, execution_id)
        await self.send_open_requests(execution_id)
        self._listed.add((reader, card_id))

    # -- uploads ----------------------------------------------------------------------------
    async def begin_upload(self, detector_id: str, request_id: str, path: str, size: int, offset: int,
                           length: int | None = None) -> UploadTarget:
        """Where an upload goes. With `length` (a Detector with `range`) it is a slice of the file:
        the target then holds those bytes alone, from its own start."""
        def check(session: Session) -> UploadTarget:
            probe = _requested_probe(session, detector_id, request_id, path, offset, length)
            if probe is not None:
                if size != probe.size:
                    raise UnknownRequest(f"{path} is {probe.size} bytes on the card's listing, not {size}")
                if not 0 <= offset <= size:
                    raise UnknownRequest(f"offset {offset} is outside {path} ({size} bytes)")
                execution_id = _execution_of(session, probe)
                final = probes.staged_path(self.library, execution_id, probe)
                return UploadTarget(final.with_name(final.name + ".partial"), final, execution_id)
            if length is not None:
                raise UnknownRequest(f"no slice of {path!r} at {offset} was asked for in request {request_id!r}")
            card_file = _requested_file(session, detector_id, request_id, path)
            if size != card_file.size:
                raise UnknownRequest(f"{path} is {card_file.size} bytes on the card's listing, not {size}")
            if not 0 <= offset <= size:
                raise UnknownRequest(f"offset {offset} is outside {path} ({size} bytes)")
            execution_id, file_id = card_file.execution_id, card_file.id
            return UploadTarget(self.library.partial_path(execution_id, file_id, path),
                                self.library.staged_path(execution_id, file_id, path), execution_id)

        return await self.db.run(check)

    async def file_stored(self, detector_id: str, request_id: str, path: str, final_path: str, sha256: str,
                          size: int, offset: int = 0, length: int | None = None) -> None:
        stored = Path(final_path)
        if not self.library.contains(stored):
            raise UnknownRequest(f"{final_path} is outside the library")

        def store(session: Session) -> tuple[int, int | None]:
            probe = _requested_probe(session, detector_id, request_id, path, offset, length)
            if probe is not None:  # bytes to search, never recorded as imported
                probe.state, probe.stored_path, probe.sha256, probe.error = probes.STORED, str(stored), sha256, None
                close_finished_requests(session, request_id)
                return _execution_of(session, probe), probe.step_id
            card_file = _requested_file(session, detector_id, request_id, path)
            if size != card_file.size:
                raise UnknownRequest(f"{path}: stored {size} bytes, the card lists {card_file.size}")
            mark_file_imported(session, card_file, stored, sha256)
            close_finished_requests(session, request_id)
            return card_file.execution_id, session.get(TransferRequest, request_id).step_id

        execution_id, step_id = await self.db.run(store)
        await self._wake_step(execution_id, step_id)

    async def file_rejected(self, detector_id: str, request_id: str, path: str, reason: str, offset: int = 0,
                            length: int | None = None) -> None:
        await self._copy_failed(detector_id, request_id, path, f"rejected: {reason}", retry=True, offset=offset,
                                length=length)

    async def copy_error(self, detector_id: str, request_id: str, path: str, error: str, retryable: bool) -> None:
        await self._copy_failed(detector_id, request_id, path, error, retry=retryable)

    async def storage_failed(self, detector_id: str, request_id: str, path: str, reason: str) -> None:
        """The station could not write an upload (library gone, read-only, full, a file where a
        folder should be): asked again after a pause, within the file's copy attempts; after the
        last one the step fails with this cause in its log and error."""
        await self._copy_failed(detector_id, request_id, path, f"the station cannot store the file: {reason}",
                                retry=True, pause_s=self.storage_retry_s)

    async def _copy_failed(self, detector_id: str, request_id: str, path: str, reason: str, *, retry: bool,
                           pause_s: float = 0.0, offset: int = 0, length: int | None = None) -> None:
        def record(session: Session) -> tuple[int, int | None, str | None, int]:
            probe = _requested_probe(session, detector_id, request_id, path, offset, length)
            if probe is None and length is None:  # sd:copy_error names no slice: any slice of that path
                probe = _requested_probe(session, detector_id, request_id, path, offset, 0, any_slice=True)
            if probe is not None:
                step_id = probe.step_id
                new = probes.probe_failed(session, probe, reason, retry=retry)
                close_finished_requests(session, request_id)
                return _execution_of(session, probe), step_id, new.id if new else None, 1
            card_file = _requested_file(session, detector_id, request_id, path)
            step_id = session.get(TransferRequest, request_id).step_id
            card_file.request_id = None
            new_request = None
            if retry:
                new_request = reopen_file(session, card_file, reason, step_id)
                if new_request is not None and pause_s > 0:
                    new_request.send_after = utcnow() + timedelta(seconds=pause_s * card_file.copy_attempts)
            else:
                card_file.state, card_file.error = FileState.MISSING, reason
            close_finished_requests(session, request_id)
            return card_file.execution_id, step_id, new_request.id if new_request else None, card_file.copy_attempts

        execution_id, step_id, new_request, attempts = await self.db.run(record)
        log.warning("copy of %s failed (%s)%s", path, reason, f"; asked again ({new_request})" if new_request else "")
        if new_request and pause_s > 0:
            self.requests.wake_later(pause_s * attempts)  # its row says when: a lost wake-up costs one period
        elif new_request:
            await self.send_request(new_request)
        else:
            await self._wake_step(execution_id, step_id)

    async def card_removed(self, detector_id: str, card_id: str) -> None:
        # Outstanding requests wait for the card to be listed again (docs/protocol.md), in this
        # reader or, from now on, in another one.
        log.info("card %s left detector %s; its open requests wait for it", card_id, detector_id)
        self._removed.add((detector_id, card_id))
        self._listed.discard((detector_id, card_id))
        if self._standby.get(card_id) == detector_id:
            del self._standby[card_id]
        self.bus.publish(CardRemoved(detector_id=detector_id, card_id=card_id))
        await self._hand_over(card_id)

    async def detector_connected(self, detector_id: str) -> None:
        """Nothing to send yet: the Detector lists its cards, which resumes their imports."""
        self._connected.add(detector_id)
        self._listed = {(d, c) for d, c in self._listed if d != detector_id}  # a new connection lists anew

    async def detector_disconnected(self, detector_id: str) -> None:
        """Requests stay open; a dropped upload resumes from the bytes held when the card is back
        (in this reader, or in one standing by for it, which takes over now)."""
        self._connected.discard(detector_id)
        self._removed = {(d, c) for d, c in self._removed if d != detector_id}
        self._listed = {(d, c) for d, c in self._listed if d != detector_id}
        for card_id, reader in list(self._standby.items()):
            if reader == detector_id:
                del self._standby[card_id]
        for card_id in list(self._standby):
            await self._hand_over(card_id)

    # -- an import that ended no longer wants its files -------------------------------------
    async def close_requests(self, execution_id: int) -> int:
        """After a cancel (or a failure that ended the import): its open requests are closed, the
        Detectors that can are told `sd:copy_cancel`, and files not stored yet are simply not
        imported (new again at the card's next listing; asked again if the crew retries). A
        cancel also forgets the files stored but not filed yet, and deletes their staged bytes."""

        staging = self.library.staging_dir(execution_id)

        def close(session: Session) -> tuple[str, list[tuple[str, str | None, str]], list[Path]]:
            execution = session.get(PipelineExecution, execution_id)
            if execution is None or ExecutionState(execution.state) in OPEN_STATES:
                return "", [], []  # retried meanwhile: its requests are wanted again
            cancelled = execution.state == ExecutionState.CANCELLED.value
            unstaged: list[Path] = []
            if cancelled:  # nothing is filed any more: what waits in staging is not imported
                for card_file in session.scalars(select(ExecutionFile).where(
                        ExecutionFile.execution_id == execution_id, ExecutionFile.state == FileState.STORED)):
                    if card_file.stored_path and Path(card_file.stored_path).is_relative_to(staging):
                        unstaged.append(Path(card_file.stored_path))
                        forget_unfiled(session, card_file)
            closed = []
            for request in session.scalars(select(TransferRequest).where(
                    TransferRequest.execution_id == execution_id, TransferRequest.state == "open")):
                request.state = "cancelled"
                for card_file in session.scalars(select(ExecutionFile).where(
                        ExecutionFile.request_id == request.id, ExecutionFile.state == FileState.REQUESTED)):
                    card_file.state, card_file.request_id = FileState.LISTED, None
                closed.append((request.id, request.detector_id, request.card_id))
            return "cancelled" if cancelled else "import failed", closed, unstaged

        reason, closed, unstaged = await self.db.run(close)
        for path in unstaged:
            path.unlink(missing_ok=True)
        for request_id, detector_id, card_id in closed:
            told = bool(detector_id) and self.link.send_copy_cancel(
                detector_id, {"request_id": request_id, "card_id": card_id, "reason": reason})
            log.info("request %s closed (%s)%s", request_id, reason, f"; detector {detector_id} told" if told else "")
        return len(closed)

    # -- sending requests -------------------------------------------------------------------
    async def send_request(self, request_id: str, *, again: bool = True) -> bool:
        """Send an open request to its Detector's current connection and record it as sent
        there. With `again=False`, one already sent on that connection is left alone."""
        def load(session: Session) -> tuple[str | None, str | None, dict[str, Any] | None]:
            request = session.get(TransferRequest, request_id)
            if request is None or request.state != "open":
                return None, None, None
            return request.detector_id, request.sent_to, copy_request_message(session, request, self.library)

        async with self._send_lock:
            detector_id, sent_to, message = await self.db.run(load)
            if not detector_id or not message or not message["files"]:
                return False
            connection = self.link.session_of(detector_id)
            if not again and connection is not None and sent_to == connection:
                return False
            if not self.link.send_copy_request(detector_id, message):
                log.info("detector %s is not connected: request %s waits for the card", detector_id, request_id)
                return False
            await self.db.run(lambda s: mark_sent(s, request_id, connection))
            return True

    async def send_open_requests(self, execution_id: int) -> int:
        """Every open request of an import, again (its card was just listed)."""
        request_ids = await self.db.run(lambda s: list(s.scalars(
            select(TransferRequest.id).where(TransferRequest.execution_id == execution_id,
                                             TransferRequest.state == "open").order_by(TransferRequest.created_at))))
        return sum([await self.send_request(request_id) for request_id in request_ids])

    async def send_unsent_requests(self) -> int:
        """The reconciler's pass: every open request whose card is in its connected Detector and
        that was not sent on that Detector's current connection."""
        due = await self.db.read(lambda s: open_requests_due(s, utcnow()))
        sent = 0
        for request in due:
            connection = self.link.session_of(request.detector_id)
            if connection is None or request.sent_to == connection:
                continue
            if (request.detector_id, request.card_id) not in self._listed:
                continue  # pulled, or not listed on this connection yet: its listing sends it
            sent += await self.send_request(request.id, again=False)
        return sent

    def _on_event(self, event: CoreEvent) -> None:
        if isinstance(event, TransferRequested):
            self.requests.wake()  # the row is the command; this only says "look now"
        elif isinstance(event, (PipelineFailed, PipelineCancelled)):  # nothing left running that needs them
            self._spawn(self.close_requests(event.execution_id))

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("orchestrator task failed", exc_info=task.exception())

    async def _wake_step(self, execution_id: int, step_id: int | None) -> None:
        if step_id is None:
            await self.engine.wake(execution_id)
            return
        step = await self.db.run(lambda s: s.get(PipelineStep, step_id))
        await self.engine.wake(execution_id, step.name, step.key)

    # -- the crew assigns unassigned clips --------------------------------------------------
    async def assign_clips(self, execution_id: int, file_ids: Sequence[int], jump_id: int | None = None,
                           passenger: dict[str, Any] | None = None) -> int:
        """Move unassigned clips of a card into a passenger's jump: an existing jump of the same
        card, or a new one for a passenger typed in. Returns the jump's id."""
        if (jump_id is None) == (passenger is None):
            raise AssignError("give either an existing jump or a new passenger")
        if passenger is not None:
            try:
                passenger = parse_passenger_code(json.dumps(passenger)).payload
            except NotPassengerCode as exc:
                raise AssignError(f"not a passenger: {exc}") from None

        def assign(session: Session) -> int:
            execution = session.get(PipelineExecution, execution_id)
            if execution is None:
                raise AssignError(f"no execution {execution_id}")
            files = session.scalars(select(ExecutionFile).where(
                ExecutionFile.execution_id == execution_id, ExecutionFile.id.in_(list(file_ids)))).all()
            if len(files) != len(set(file_ids)):
                raise AssignError("some of these clips are not part of this import")
            sources = {f.jump_id for f in files}
            if any(f.jump is None or not f.jump.unassigned for f in files):
                raise AssignError("only unassigned clips can be assigned")
            if jump_id is not None:
                jump = session.get(Jump, jump_id)
                if jump is None or jump.unassigned or jump.card_id != execution.card_id:
                    raise AssignError("that jump is not a passenger jump of the same card")
            else:
                first = min(f.modified for f in files)
                card_times = session.scalars(select(ExecutionFile.modified).where(
                    ExecutionFile.execution_id == execution_id)).all()
                day = jump_day(passenger.get("jump_date"), first, card_times, execution.created_at)
                record = passenger_for(session, passenger, day, self.library)
                camera = camera_of(None, execution)
                jump = Jump(execution_id=execution_id, card_id=execution.card_id, booking_id=passenger["booking_id"],
                            passenger_name=passenger["passenger_name"], passenger=passenger, jump_date=day,
                            passenger_id=record.id, camera=camera, output_dir=str(camera_dir(record, camera)))
                session.add(jump)
                session.flush()
            for card_file in files:
                card_file.jump_id, card_file.placed_by_hand = jump.id, True
            session.flush()
            for card_file in files:
                file_into_jump(session, card_file, jump)
            for touched in [jump, *(session.get(Jump, j) for j in sources if j)]:
                session.refresh(touched)
                write_passenger_json(touched)
            return jump.id

        assigned = await self.db.run(assign)
        self.bus.publish(ClipsAssigned(execution_id=execution_id, jump_id=assigned, file_ids=list(file_ids)))
        passenger_id = await self.db.read(lambda s: s.get(Jump, assigned).passenger_id)
        if passenger_id is not None:
            await self.rerender(passenger_id)  # their video holds the clips given to them
        return assigned


    # -- the crew's passenger commands ------------------------------------------------------
    async def passengers(self, day: str) -> dict[str, Any]:
        """The passengers of a day with their clips, video and warnings, and the day's clips no
        passenger claims (`passengers_read`): the data of `passengers:list_result`."""
        return await self.db.read(lambda s: {"day": day, "passengers": passengers_of_day(s, day),
                                             "unassigned": unassigned_of_day(s, day)})

    async def move_clip(self, file_id: int, passenger_id: int | None) -> dict[str, Any]:
        """Move a filed clip to another passenger (or to its card's unassigned clips, with None);
        both passengers' videos are rendered again. A clip moved by hand stays where the crew put
        it: no later import or re-render moves it back."""
        def move(session: Session) -> tuple[list[int], dict[str, Any]]:
            card_file = session.get(ExecutionFile, file_id)
            if card_file is None:
                raise PassengerNotFound(f"no clip {file_id}")
            source = card_file.jump
            if card_file.state != FileState.STORED or source is None:
                raise MoveRefused(f"{card_file.path} is not filed in the library: it cannot be moved")
            if passenger_id is None:
                if source.unassigned:
                    raise MoveRefused(f"{card_file.path} is already unassigned")
                target = self._unassigned_jump(session, card_file.execution, source.jump_date)
            else:
                passenger = session.get(Passenger, passenger_id)
                if passenger is None:
                    raise PassengerNotFound(f"no passenger {passenger_id}")
                if source.passenger_id == passenger_id:
                    raise MoveRefused(f"{card_file.path} is already {passenger.passenger_name}'s")
                target = self._passenger_jump(session, card_file.execution, passenger, source.camera)
            card_file.jump_id, card_file.placed_by_hand = target.id, True
            session.flush()
            file_into_jump(session, card_file, target)
            for jump in (source, target):
                session.refresh(jump)
                write_passenger_json(jump)
            touched = [p for p in dict.fromkeys((source.passenger_id, target.passenger_id)) if p is not None]
            return touched, {"file_id": file_id, "passenger_id": target.passenger_id, "jump_id": target.id,
                             "stored_path": card_file.stored_path}

        touched, moved = await self.db.run(move)
        for touched_id in touched:
            await self.rerender(touched_id)
        return moved

    async def rerender(self, passenger_id: int) -> int:
        """Render the passenger's video again, from all their footage; once: a render already
        queued for them is that render. Returns the `passenger_render` execution's id."""
        def create(session: Session) -> tuple[int, bool]:
            if session.get(Passenger, passenger_id) is None:
                raise PassengerNotFound(f"no passenger {passenger_id}")
            queued = session.scalars(
                select(PipelineStep.execution_id).join(PipelineExecution)
                .where(PipelineExecution.pipeline == passenger_render.NAME,
                       PipelineStep.state.in_([StepState.PENDING.value, StepState.QUEUED.value])))
            for execution_id in queued:
                if session.get(PipelineExecution, execution_id).params.get("passenger_id") == passenger_id:
                    return execution_id, False
            execution = self.engine.create_execution(session, passenger_render.NAME,
                                                     params={"passenger_id": passenger_id,
                                                             "branding": branding_params(self.settings)})
            return execution.id, True

        execution_id, created = await self.db.run(create)
        if created:
            await self.engine.enqueue_ready(execution_id)
        view = await self.db.read(lambda s: passenger_by_id(s, passenger_id))
        self.bus.publish(PassengerUpdated(passenger_id=passenger_id, day=view["day"] if view else None,
                                          video_state=view["video"]["state"] if view else None, reason="render queued"))
        return execution_id

    def _unassigned_jump(self, session: Session, execution: PipelineExecution, day: str | None) -> Jump:
        jump = session.scalar(select(Jump).where(Jump.execution_id == execution.id, Jump.unassigned.is_(True)))
        if jump is None:
            day = day or execution.created_at.date().isoformat()
            jump = Jump(execution_id=execution.id, card_id=execution.card_id, unassigned=True, jump_date=day,
                        output_dir=str(self.library.unassigned_dir(day, execution.card_id or "card")))
            session.add(jump)
            session.flush()
        return jump

    def _passenger_jump(self, session: Session, execution: PipelineExecution, passenger: Passenger,
                        camera: str | None) -> Jump:
        """The passenger's jump on this card, made for the moved clip when there is none."""
        jump = session.scalar(select(Jump).where(Jump.execution_id == execution.id, Jump.passenger_id == passenger.id))
        if jump is None:
            camera = camera or camera_of(None, execution)
            jump = Jump(execution_id=execution.id, card_id=execution.card_id, booking_id=passenger.booking_id,
                        passenger_name=passenger.passenger_name, passenger=passenger.payload,
                        jump_date=passenger.day, passenger_id=passenger.id, camera=camera,
                        output_dir=str(camera_dir(passenger, camera)))
            session.add(jump)
            session.flush()
        return jump


def _open_execution(session: Session, card_id: str) -> PipelineExecution | None:
    return session.scalar(
        select(PipelineExecution)
        .where(PipelineExecution.card_id == card_id, PipelineExecution.pipeline == card_import.NAME,
               PipelineExecution.state.in_([s.value for s in OPEN_STATES]))
        .order_by(PipelineExecution.id.desc())
    )


def _tie_to(session: Session, execution: PipelineExecution, detector_id: str) -> None:
    """The import and its open requests belong to this reader now (only it may upload for them)."""
    execution.detector_id = detector_id
    for request in session.scalars(select(TransferRequest).where(
            TransferRequest.execution_id == execution.id, TransferRequest.state == "open")):
        request.detector_id = detector_id


def _requested_probe(session: Session, detector_id: str, request_id: str, path: str, offset: int,
                     length: int | None, *, any_slice: bool = False) -> FileProbe | None:
    request = session.get(TransferRequest, request_id)
    if request is None or request.state != "open" or request.detector_id != detector_id:
        return None
    if any_slice:
        return next((p for p in probes.open_probes(session, request_id) if p.path == path), None)
    return probes.probe_for_upload(session, request_id, path, offset, length)


def _execution_of(session: Session, probe: FileProbe) -> int:
    return session.get(ExecutionFile, probe.file_id).execution_id


def _requested_file(session: Session, detector_id: str, request_id: str, path: str) -> ExecutionFile:
    request = session.get(TransferRequest, request_id)
    if request is None:
        raise UnknownRequest(f"request {request_id!r} was never issued by this station")
    if request.detector_id != detector_id:
        raise UnknownRequest(f"request {request_id!r} was not sent to detector {detector_id}")
    if request.state == "cancelled":
        raise RequestClosed(f"request {request_id!r} was cancelled: nothing of it is stored")
    if request.state != "open":
        raise UnknownRequest(f"request {request_id!r} is {request.state}")
    execution_state = session.scalar(select(PipelineExecution.state).where(PipelineExecution.id == request.execution_id))
    if ExecutionState(execution_state) not in OPEN_STATES:  # cancelled a moment ago: its requests not closed yet
        raise RequestClosed(f"the import of request {request_id!r} is {execution_state}: nothing of it is stored")
    card_file = session.scalar(select(ExecutionFile).where(ExecutionFile.request_id == request_id,
                                                           ExecutionFile.path == path))
    if card_file is None or card_file.state != FileState.REQUESTED:
        raise UnknownRequest(f"{path!r} is not an outstanding file of request {request_id!r}")
    return card_file


def _unique_paths(files: Sequence[dict[str, Any]]) -> list[tuple[ListedFile, str]]:
    """The listing once per path, each file with its `modified` text as the execution keeps it.

    The net layer hands over `modified_at`, the time it parsed; other callers give the text only.
    """
    seen: dict[str, tuple[ListedFile, str]] = {}
    for entry in files:
        path = entry["path"]
        if path not in seen:
            modified = entry["modified"]
            when = entry.get("modified_at") or _when(modified)
            seen[path] = (ListedFile(path, int(entry["size"]), when), modified if isinstance(modified, str) else when.isoformat())
    return list(seen.values())


def _when(value: str | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
