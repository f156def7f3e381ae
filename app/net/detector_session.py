"""One Detector connection on `/detector`: card listings, uploads, copy errors, removed cards.

The messages are checked by `SessionMachine`; the orchestrator decides what they mean; this
module moves the bytes (`UploadFile`) and answers.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection

from app.core_events import DetectorConnected, DetectorDisconnected, TransferProgress
from app.net.connection import Connection
from app.net.context import NetContext
from app.net.progress import ProgressGate
from app.net.protocol import (
    BAD_MESSAGE,
    CLOSE_REPLACED,
    CONFLICT,
    INTERNAL,
    UNKNOWN_REQUEST,
    Message,
    Phase,
    ProtocolError,
    Role,
    Upload,
    envelope,
)
from app.net.uploads import (
    SharedFileRefused,
    UploadFile,
    copy_from_shared,
    move_into_place,
    offload,
    remove_shared,
)

log = logging.getLogger(__name__)


class DetectorSession(Connection):
    role = Role.DETECTOR

    def __init__(self, service: NetContext, ws: ServerConnection) -> None:
        super().__init__(service, ws)
        self.detector_id = ""
        self.name = ""
        self.capabilities: frozenset[str] = frozenset()
        self._file: UploadFile | None = None
        self._target: Any = None
        self._execution_id: int | None = None
        self._gate = ProgressGate()
        self._registered = False
        # Copy requests raised while a listing is being handled wait until its ack went out.
        self._deferred: list[dict[str, Any]] | None = None

    def send(self, message: dict[str, Any]) -> None:
        if self._deferred is not None and message.get("type") == "sd:copy_request":
            self._deferred.append(message)
        else:
            super().send(message)

    # -- link registry -------------------------------------------------------------------
    def replace(self) -> None:
        """A newer connection of the same Detector took over."""
        self.close(CLOSE_REPLACED, "replaced by a newer connection")

    async def on_hello(self, hello: Message) -> None:
        self.detector_id = hello.data["detector_id"]
        self.name = hello.data.get("name") or self.detector_id
        self.capabilities = frozenset(hello.data.get("capabilities") or ())
        self.service.link.add(self)
        self._registered = True
        log.info("detector %s (%s) connected from %s", self.detector_id, self.name, self.peer)
        self.service.bus.publish(DetectorConnected(detector_id=self.detector_id, name=self.name))
        detector_id = self.detector_id
        await self.service.tell_orchestrator("detector_connected", lambda o: o.detector_connected(detector_id))

    async def on_closed(self) -> None:
        if self._file is not None:
            # Kept on disk: the station resumes from these bytes when the file is requested again.
            await self._release_file(keep=True)
        if self._registered and self.service.link.remove(self):
            log.info("detector %s disconnected", self.detector_id)
            self.service.bus.publish(DetectorDisconnected(detector_id=self.detector_id, name=self.name))
            detector_id = self.detector_id
            await self.service.tell_orchestrator("detector_disconnected", lambda o: o.detector_disconnected(detector_id))

    # -- messages ------------------------------------------------------------------------
    async def on_message(self, message: Message) -> None:
        handler = {
            "sd:file_list": self._file_list,
            "sd:upload_begin": self._upload_begin,
            "sd:file_copied": self._file_copied,
            "sd:copy_error": self._copy_error,
            "sd:card_removed": self._card_removed,
            "sd:wipe_done": self._wipe_done,
        }[message.type]
        await handler(message)

    async def _file_list(self, message: Message) -> None:
        data = message.data
        self._deferred = []
        try:
            ack = await self.service.call_orchestrator("file_list", lambda o: o.file_list(
                self.detector_id, data["card_id"], data["label"], data["slot"], data["files"]))
            self.send(envelope("sd:file_list_ack", {
                "card_id": data["card_id"], "execution_id": ack.execution_id,
                "files_total": ack.files_total, "files_new": ack.files_new}, message.id))
        finally:
            deferred, self._deferred = self._deferred, None
            for request in deferred:  # a resumed import's open requests, after the ack
                self.send(request)

    async def _card_removed(self, message: Message) -> None:
        await self.service.call_orchestrator("card_removed",
                                             lambda o: o.card_removed(self.detector_id, message.data["card_id"]))

    async def _wipe_done(self, message: Message) -> None:
        await self.service.call_orchestrator("wipe_done", lambda o: o.wipe_done(self.detector_id, message.data))

    async def _copy_error(self, message: Message) -> None:
        data = message.data
        if self.machine.matches_upload(data):
            await self._release_file(keep=True)
            self.machine.end_upload()
        elif self.machine.phase is Phase.DISCARDING:
            self.machine.end_upload()
        await self.service.call_orchestrator("copy_error", lambda o: o.copy_error(
            self.detector_id, data["request_id"], data["path"], data["error"], data["retryable"]))

    # -- upload mode ---------------------------------------------------------------------
    async def _upload_begin(self, message: Message) -> None:
        data = message.data
        self.machine.end_upload()  # a refused upload's quiet frames end with the next begin
        try:
            target = await self.service.call_orchestrator("begin_upload", lambda o: o.begin_upload(
                self.detector_id, data["request_id"], data["path"], data["size"], data["offset"],
                data["length"]))  # a length: a slice (`range` only)
            partial, final = self.service.confine(target.partial_path), self.service.confine(target.final_path)
            await self.service.lock_partial(partial)
            try:
                # A slice's partial holds its own bytes from 0 (never resumed).
                self._file = await UploadFile.open(partial, 0 if data["length"] else data["offset"])
            except ValueError as exc:
                self.service.unlock_partial(partial)
                raise ProtocolError(CONFLICT, f"cannot resume {data['path']} at {data['offset']}: {exc}") from None
            except OSError as exc:
                self.service.unlock_partial(partial)
                raise await self._storage_failed(data["request_id"], data["path"], exc) from None
            except BaseException:
                self.service.unlock_partial(partial)
                raise
        except ProtocolError:
            self.machine.refuse_upload()
            raise
        self._target = (partial, final)
        self._execution_id = target.execution_id
        self._gate = ProgressGate()
        upload = self.machine.start_upload(data)
        self._progress(upload, final_event=False)

    async def on_binary(self, frame: bytes) -> None:
        try:
            upload = self.machine.receive_binary(len(frame))
        except ProtocolError as error:
            if self.machine.upload is not None:  # more bytes than announced: this copy is void
                await self._reject(self.machine.upload, error.message)
                self.machine.refuse_upload()
            self.send_error(error)
            return
        if upload is None:
            return
        assert self._file is not None
        try:
            await self._file.write(frame)
        except OSError as exc:
            await self._write_failed(upload, exc)
            self.machine.refuse_upload()  # the rest of this upload's frames are dropped
            return
        self._progress(upload, final_event=False)

    async def _file_copied(self, message: Message) -> None:
        data = message.data
        phase = self.machine.phase
        if phase is Phase.DISCARDING:
            self.machine.end_upload()  # already answered when the upload was refused
            return
        if phase is Phase.UPLOADING:
            upload = self.machine.upload
            assert upload is not None
            if not self.machine.matches_upload(data):
                raise ProtocolError(CONFLICT, f"sd:file_copied for {data['path']} while {upload.path} is open")
            if data["dest"] is not None:
                raise ProtocolError(BAD_MESSAGE, "dest belongs to shared_path mode; this file was uploaded")
            await self._finish_upload(upload, data)
            return
        if data["dest"] is not None:
            await self._shared_path_copied(data)
            return
        if self.service.link.sent_request(data["request_id"]) is None:
            raise ProtocolError(UNKNOWN_REQUEST, f"request {data['request_id']} was never issued by this station")
        raise ProtocolError(BAD_MESSAGE, f"sd:file_copied for {data['path']} with no sd:upload_begin and no dest")

    async def _finish_upload(self, upload: Upload, data: dict[str, Any]) -> None:
        self.machine.end_upload()
        # `length` as asked, or as cut at the end of the file: both name the same bytes.
        if upload.is_slice and ((data["size"], data["offset"]) != (upload.file_size, upload.slice_offset)
                                or data["length"] not in (upload.slice_length, upload.size)):
            await self._reject(upload, "size, offset or length differ from the slice announced")
            return
        if not upload.is_slice and data["size"] != upload.size:
            await self._reject(upload, f"size {data['size']} differs from the {upload.size} announced")
            return
        if upload.held != upload.size:
            await self._reject(upload, f"received {upload.held} of {upload.size} bytes")
            return
        assert self._file is not None
        partial, final = self._target
        try:
            digest = await self._file.finish()
            if digest == data["sha256"]:
                await offload(move_into_place, partial, final)
        except OSError as exc:
            await self._write_failed(upload, exc)
            return
        self._file = None
        self.service.unlock_partial(partial)
        if digest != data["sha256"]:
            await offload(_unlink_quietly, partial)
            await self._rejected(upload.request_id, upload.path, f"sha256 mismatch: station computed {digest}", upload)
            return
        self._progress(upload, final_event=True)
        offset = upload.slice_offset
        if offset is not None:  # a slice (`range`): the whole file's size, where it sits
            file_size = upload.file_size if upload.file_size is not None else upload.size
            await self.service.call_orchestrator("file_stored", lambda o: o.file_stored(
                self.detector_id, upload.request_id, upload.path, str(final), digest, file_size,
                offset, upload.slice_length))
            self.send(envelope("sd:file_stored", {"request_id": upload.request_id, "path": upload.path}))
            return
        await self._stored(upload.request_id, upload.path, final, digest, upload.size)

    async def _write_failed(self, upload: Upload, exc: OSError) -> None:
        """The station's disk failed (full, gone) mid-upload: this copy is void; the Detector is
        told (`error`, then `sd:file_rejected`) and the orchestrator asks again after a pause."""
        self.send_error(await self._storage_failed(upload.request_id, upload.path, exc))
        await self._release_file(keep=False)
        self.send(envelope("sd:file_rejected", {"request_id": upload.request_id, "path": upload.path,
                                                "reason": f"the station could not write the file: {exc.strerror or exc}"}))

    async def _storage_failed(self, request_id: str, path: str, exc: OSError) -> ProtocolError:
        """The station cannot write its own file. The waiting step learns of it through the
        orchestrator (asked again within the file's attempts, then the step fails saying why);
        returns the `error` for the Detector."""
        log.error("cannot store %s from detector %s: %s", path, self.detector_id, exc)
        await self.service.tell_orchestrator("storage_failed", lambda o: o.storage_failed(
            self.detector_id, request_id, path, str(exc)))
        return ProtocolError(INTERNAL, f"the station cannot store {path}: {exc.strerror or exc}")

    async def _reject(self, upload: Upload, reason: str) -> None:
        await self._release_file(keep=False)
        await self._rejected(upload.request_id, upload.path, reason, upload)

    async def _release_file(self, *, keep: bool) -> None:
        file, self._file = self._file, None
        if file is None:
            return
        try:
            # An empty partial is worth nothing to resume from: leave no trace of it.
            await (file.close() if keep and file.held > 0 else file.discard())
        finally:
            self.service.unlock_partial(file.partial)

    async def _rejected(self, request_id: str, path: str, reason: str, upload: Upload | None = None) -> None:
        log.warning("detector %s: %s rejected: %s", self.detector_id, path, reason)
        self.send(envelope("sd:file_rejected", {"request_id": request_id, "path": path, "reason": reason}))
        offset = upload.slice_offset if upload is not None and upload.slice_offset is not None else 0
        length = upload.slice_length if upload is not None else None  # None: the whole file
        await self.service.tell_orchestrator("file_rejected", lambda o: o.file_rejected(
            self.detector_id, request_id, path, reason, offset, length))

    async def _stored(self, request_id: str, path: str, final: Path, sha256: str, size: int) -> None:
        await self._record(request_id, path, final, sha256, size)
        self.send(envelope("sd:file_stored", {"request_id": request_id, "path": path}))

    async def _record(self, request_id: str, path: str, final: Path, sha256: str, size: int) -> None:
        try:
            await self.service.call_orchestrator("file_stored", lambda o: o.file_stored(
                self.detector_id, request_id, path, str(final), sha256, size))
        except ProtocolError:
            # Not recorded (the import was cancelled meanwhile, say): nothing of it stays.
            await offload(_unlink_quietly, final)
            raise

    # -- shared-path mode ----------------------------------------------------------------
    async def _shared_path_copied(self, data: dict[str, Any]) -> None:
        sent = self.service.link.sent_request(data["request_id"])
        if sent is None or data["path"] not in sent.paths or sent.detector_id != self.detector_id:
            raise ProtocolError(UNKNOWN_REQUEST, f"request {data['request_id']} for {data['path']} was never issued "
                                                 "to this Detector")
        if sent.mode != "shared_path" or sent.dest_dir is None:
            raise ProtocolError(BAD_MESSAGE, f"request {data['request_id']} is in {sent.mode} mode; dest is not expected")
        dest_dir = Path(sent.dest_dir)
        if not await offload(_is_dest_of, data["dest"], dest_dir, data["path"]):
            raise ProtocolError(BAD_MESSAGE, f"dest {data['dest']!r} is not dest_dir/path ({sent.dest_dir!r}/{data['path']})")
        target = await self.service.call_orchestrator("begin_upload", lambda o: o.begin_upload(
            self.detector_id, data["request_id"], data["path"], data["size"], 0))
        partial, final = self.service.confine(target.partial_path), self.service.confine(target.final_path)
        await self.service.lock_partial(partial)
        try:
            try:
                # Copied, not moved: the hash is of the station's own copy, so a file changed or
                # swapped in the shared folder meanwhile cannot slip in.
                copy = await offload(copy_from_shared, dest_dir, data["path"], partial)
            except SharedFileRefused as exc:
                raise ProtocolError(BAD_MESSAGE, f"dest {data['dest']!r} is not a regular file at dest_dir/path "
                                                 f"({exc})") from None
            except OSError as exc:
                await offload(_unlink_quietly, partial)
                raise await self._storage_failed(data["request_id"], data["path"], exc) from None
            if copy.size != data["size"] or copy.sha256 != data["sha256"]:
                await offload(_unlink_quietly, partial)
                reason = (f"size {copy.size} differs from {data['size']}" if copy.size != data["size"]
                          else f"sha256 mismatch: station computed {copy.sha256}")
                await self._rejected(data["request_id"], data["path"], reason)
                return
            await offload(move_into_place, partial, final)
        finally:
            self.service.unlock_partial(partial)
        await self._record(data["request_id"], data["path"], final, copy.sha256, copy.size)
        await offload(remove_shared, dest_dir, data["path"], copy.identity)  # moved, as far as the Detector sees
        self.send(envelope("sd:file_stored", {"request_id": data["request_id"], "path": data["path"]}))

    # -- events --------------------------------------------------------------------------
    def _progress(self, upload: Upload, *, final_event: bool) -> None:
        if final_event or self._gate.allow(time.monotonic()):
            self.service.bus.publish(TransferProgress(execution_id=self._execution_id, request_id=upload.request_id,
                                                      path=upload.path, bytes=upload.held, total=upload.size))


def _is_dest_of(dest: str, dest_dir: Path, card_path: str) -> bool:
    """`dest` names exactly `dest_dir/<card_path>` (as given, or with dest_dir's own links resolved)."""
    parts = card_path.split("/")
    try:
        resolved_dir = dest_dir.resolve(strict=True)
    except (OSError, RuntimeError):
        return False
    return Path(dest) in (dest_dir.joinpath(*parts), resolved_dir.joinpath(*parts))


def _unlink_quietly(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
