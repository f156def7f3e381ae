"""The station's records (SQLAlchemy 2 typed models).

SQL is the source of truth: Redis only delivers work. Every schema change goes through an
Alembic migration in `migrations/versions/`; `tests/test_migrations.py` fails when these
models and the migrations drift apart. (One module, ~440 lines: the whole schema in one read,
as the migrations see it.)
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from app.db.types import JSONType, UTCDateTime, utcnow

# Stable constraint names so migrations can refer to them on every backend.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSONType, list[Any]: JSONType}


class StepState(enum.StrEnum):
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"  # for files from a Detector; holds no worker
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UPSTREAM_FAILED = "upstream_failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STEP_STATES


# The sets of step states, each written once (the scheduler, the read side and the CLI use these).
FINAL_STEP_STATES = frozenset(
    {StepState.SUCCEEDED, StepState.FAILED, StepState.UPSTREAM_FAILED, StepState.CANCELLED, StepState.SKIPPED}
)
DONE_STEP_STATES = frozenset({StepState.SUCCEEDED, StepState.SKIPPED})  # its dependents may run
FAILED_STEP_STATES = frozenset({StepState.FAILED, StepState.UPSTREAM_FAILED})  # the execution failed
RAN_STEP_STATES = frozenset({StepState.SUCCEEDED, StepState.FAILED, StepState.SKIPPED})  # archived when retried
UNDERWAY_STEP_STATES = frozenset({StepState.QUEUED, StepState.RUNNING, StepState.WAITING})  # started, not final


class ExecutionState(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class FileState(enum.StrEnum):
    LISTED = "listed"  # on the card, new, not asked for yet
    SKIPPED = "skipped"  # imported before, or a proxy/thumbnail not imported
    REQUESTED = "requested"
    STORED = "stored"  # bytes and SHA-256 verified, in the library
    FAILED = "failed"  # gave up after the allowed attempts
    MISSING = "missing"  # gone from the card between listing and request


class PipelineExecution(Base):
    """One card import."""

    __tablename__ = "pipeline_execution"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pipeline: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default=ExecutionState.PENDING, index=True)
    detector_id: Mapped[str | None] = mapped_column(String(64))
    card_id: Mapped[str | None] = mapped_column(String(128), index=True)
    card_label: Mapped[str | None] = mapped_column(String(200))
    slot: Mapped[str | None] = mapped_column(String(32))
    files_total: Mapped[int] = mapped_column(Integer, default=0)
    files_new: Mapped[int] = mapped_column(Integer, default=0)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None]

    steps: Mapped[list[PipelineStep]] = relationship(
        back_populates="execution", cascade="all, delete-orphan", order_by="PipelineStep.id"
    )
    files: Mapped[list[ExecutionFile]] = relationship(
        back_populates="execution", cascade="all, delete-orphan", order_by="ExecutionFile.id"
    )
    jumps: Mapped[list[Jump]] = relationship(
        back_populates="execution", cascade="all, delete-orphan", order_by="Jump.id"
    )


class PipelineStep(Base):
    """One node of an execution's graph. (execution, name, key) is unique so a
    redelivered message can never spawn the same child twice."""

    __tablename__ = "pipeline_step"
    __table_args__ = (UniqueConstraint("execution_id", "name", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    execution_id: Mapped[int] = mapped_column(ForeignKey("pipeline_execution.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(255), default="")
    state: Mapped[str] = mapped_column(String(16), default=StepState.PENDING, index=True)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    deliveries: Mapped[int] = mapped_column(Integer, default=0)
    spawned_by_id: Mapped[int | None] = mapped_column(ForeignKey("pipeline_step.id", ondelete="SET NULL"))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    output: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    worker_id: Mapped[str | None] = mapped_column(String(128))
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime | None]  # automatic retry backoff
    # A wake that arrived while the step was running: its `wait` result queues it again at once.
    wake_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    queued_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    execution: Mapped[PipelineExecution] = relationship(back_populates="steps")
    logs: Mapped[list[PipelineStepLog]] = relationship(
        back_populates="step", cascade="all, delete-orphan", order_by="PipelineStepLog.id"
    )


class PipelineStepEdge(Base):
    """`step_id` runs only after `depends_on_id` has succeeded."""

    __tablename__ = "pipeline_step_edge"

    step_id: Mapped[int] = mapped_column(ForeignKey("pipeline_step.id", ondelete="CASCADE"), primary_key=True)
    depends_on_id: Mapped[int] = mapped_column(
        ForeignKey("pipeline_step.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    # Fan-in: `step_id` also waits for every child `depends_on_id` spawns (edges to them are
    # added as they are spawned).
    fan_in: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class PipelineStepAttempt(Base):
    """An earlier attempt of a step, archived when the step is retried."""

    __tablename__ = "pipeline_step_attempt"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    step_id: Mapped[int] = mapped_column(ForeignKey("pipeline_step.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    output: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    worker_id: Mapped[str | None] = mapped_column(String(128))
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    archived_at: Mapped[datetime] = mapped_column(default=utcnow)


class PipelineStepLog(Base):
    __tablename__ = "pipeline_step_log"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    step_id: Mapped[int] = mapped_column(ForeignKey("pipeline_step.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    ts: Mapped[datetime] = mapped_column(default=utcnow)
    level: Mapped[str] = mapped_column(String(8), default="INFO")
    message: Mapped[str] = mapped_column(Text)

    step: Mapped[PipelineStep] = relationship(back_populates="logs")


class Jump(Base):
    """One passenger's jump on one card (or the card's unassigned clips)."""

    __tablename__ = "jump"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    execution_id: Mapped[int] = mapped_column(ForeignKey("pipeline_execution.id", ondelete="CASCADE"), index=True)
    card_id: Mapped[str | None] = mapped_column(String(128))
    unassigned: Mapped[bool] = mapped_column(Boolean, default=False)
    booking_id: Mapped[str | None] = mapped_column(String(200), index=True)
    passenger_name: Mapped[str | None] = mapped_column(String(200))
    passenger: Mapped[dict[str, Any] | None]  # the whole QR payload, kept as it was
    jump_date: Mapped[str | None] = mapped_column(String(10))
    qr_clip: Mapped[str | None] = mapped_column(String(1024))
    qr_frame_path: Mapped[str | None] = mapped_column(String(1024))
    # The passenger this jump's footage belongs to (one record across cards and cameras).
    passenger_id: Mapped[int | None] = mapped_column(ForeignKey("passenger.id", ondelete="SET NULL"), index=True)
    camera: Mapped[str | None] = mapped_column(String(200))  # the camera's serial, else the card's label/id
    output_dir: Mapped[str | None] = mapped_column(String(1024))
    video_path: Mapped[str | None] = mapped_column(String(1024))
    duration_s: Mapped[float | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    execution: Mapped[PipelineExecution] = relationship(back_populates="jumps")
    files: Mapped[list[ExecutionFile]] = relationship(back_populates="jump", order_by="ExecutionFile.modified")
    passenger_record: Mapped[Passenger | None] = relationship(back_populates="jumps")


class VideoState(enum.StrEnum):
    WAITING = "waiting"  # for footage
    RENDERING = "rendering"
    READY = "ready"
    FAILED = "failed"


class Passenger(Base):
    """One passenger of one day (a booking on a day), whichever cards and cameras filmed them.
    A code whose booking id is already a passenger of that day under another name makes a second
    record flagged `conflict` (never merged silently)."""

    __tablename__ = "passenger"
    __table_args__ = (UniqueConstraint("booking_id", "day", "passenger_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    booking_id: Mapped[str] = mapped_column(String(200), index=True)
    passenger_name: Mapped[str] = mapped_column(String(200))
    day: Mapped[str] = mapped_column(String(10), index=True)
    payload: Mapped[dict[str, Any] | None]  # the first code's QR payload
    folder: Mapped[str] = mapped_column(String(1024))
    conflict: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    qr_frame_path: Mapped[str | None] = mapped_column(String(1024))
    video_state: Mapped[str] = mapped_column(String(16), default=VideoState.WAITING)
    video_path: Mapped[str | None] = mapped_column(String(1024))
    duration_s: Mapped[float | None]
    video_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    jumps: Mapped[list[Jump]] = relationship(back_populates="passenger_record", order_by="Jump.id")


class TransferRequest(Base):
    """A `sd:copy_request` the station sent (or will send again) to a Detector."""

    __tablename__ = "transfer_request"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    execution_id: Mapped[int] = mapped_column(ForeignKey("pipeline_execution.id", ondelete="CASCADE"), index=True)
    step_id: Mapped[int | None] = mapped_column(ForeignKey("pipeline_step.id", ondelete="SET NULL"))
    detector_id: Mapped[str | None] = mapped_column(String(64))
    card_id: Mapped[str] = mapped_column(String(128))
    mode: Mapped[str] = mapped_column(String(16), default="upload")
    dest_dir: Mapped[str | None] = mapped_column(String(1024))
    state: Mapped[str] = mapped_column(String(16), default="open")  # open, done, failed, cancelled
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The row is the command: the station's reconciler sends every open request that was not
    # sent on the Detector's current connection (`sent_to`), once `send_after` has passed.
    sent_at: Mapped[datetime | None]
    sent_to: Mapped[str | None] = mapped_column(String(64))  # the connection it was last sent on
    send_after: Mapped[datetime | None]  # not sent before then (the pause after a storage fault)


class ExecutionFile(Base):
    """One file of a card's listing, as this execution sees it."""

    __tablename__ = "execution_file"
    __table_args__ = (UniqueConstraint("execution_id", "path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    execution_id: Mapped[int] = mapped_column(ForeignKey("pipeline_execution.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(String(1024))
    size: Mapped[int] = mapped_column(BigInteger)
    modified: Mapped[datetime]
    fingerprint: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16), default="other")  # video, photo, proxy, other
    state: Mapped[str] = mapped_column(String(16), default=FileState.LISTED, index=True)
    request_id: Mapped[str | None] = mapped_column(ForeignKey("transfer_request.id", ondelete="SET NULL"), index=True)
    copy_attempts: Mapped[int] = mapped_column(Integer, default=0)
    stored_path: Mapped[str | None] = mapped_column(String(1024))
    sha256: Mapped[str | None] = mapped_column(String(64))
    jump_id: Mapped[int | None] = mapped_column(ForeignKey("jump.id", ondelete="SET NULL"), index=True)
    media: Mapped[dict[str, Any] | None]  # extract_metadata's findings
    # How decode_qr searched this clip for a code: {"method", "bytes", "found"}; None: never searched.
    search: Mapped[dict[str, Any] | None]
    # Moved by the crew: no later import or re-render moves it back.
    placed_by_hand: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    error: Mapped[str | None] = mapped_column(Text)

    execution: Mapped[PipelineExecution] = relationship(back_populates="files")
    jump: Mapped[Jump | None] = relationship(back_populates="files")


class FileProbe(Base):
    """A look into a clip for its passenger code that is not an import: the GoPro proxy of the
    same chapter, or a slice of the clip (its head, its MP4 index at the tail). Never filed,
    never recorded as imported; its bytes live in staging until cleanup."""

    __tablename__ = "file_probe"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("execution_file.id", ondelete="CASCADE"), index=True)
    request_id: Mapped[str | None] = mapped_column(ForeignKey("transfer_request.id", ondelete="SET NULL"), index=True)
    step_id: Mapped[int | None] = mapped_column(ForeignKey("pipeline_step.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))  # proxy, head, tail
    path: Mapped[str] = mapped_column(String(1024))  # the card path asked for (the proxy's, or the clip's)
    size: Mapped[int] = mapped_column(BigInteger)  # that file's size on the card
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    length: Mapped[int | None] = mapped_column(BigInteger)  # None: the whole file
    state: Mapped[str] = mapped_column(String(16), default=FileState.REQUESTED)  # requested, stored, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    stored_path: Mapped[str | None] = mapped_column(String(1024))
    sha256: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)

    @property
    def bytes_wanted(self) -> int:
        end = self.size if self.length is None else min(self.size, self.offset + self.length)
        return max(0, end - self.offset)


class ImportedFile(Base):
    """A file stored and verified once; never asked for again."""

    __tablename__ = "imported_file"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    # Size, name and time are indexed together for the tolerant match (FAT rounding, clock
    # shifts): the match looks files up by size and reads only the index (pipeline/fingerprint.py).
    name: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    modified: Mapped[datetime]
    card_id: Mapped[str | None] = mapped_column(String(128))
    detector_id: Mapped[str | None] = mapped_column(String(64))
    source_path: Mapped[str] = mapped_column(String(1024))
    stored_path: Mapped[str] = mapped_column(String(1024))
    sha256: Mapped[str] = mapped_column(String(64))
    jump_id: Mapped[int | None] = mapped_column(ForeignKey("jump.id", ondelete="SET NULL"))
    execution_id: Mapped[int | None] = mapped_column(ForeignKey("pipeline_execution.id", ondelete="SET NULL"))
    media: Mapped[dict[str, Any] | None]
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the library copy was last read back and matched `sha256` (the card's `complete`).
    verified_at: Mapped[datetime | None]


Index("ix_imported_file_size_name_modified", ImportedFile.size, ImportedFile.name, ImportedFile.modified)


class HandoffLink(Base):
    """An unguessable link to one passenger's video, served on the LAN at the desk."""

    __tablename__ = "handoff_link"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    jump_id: Mapped[int | None] = mapped_column(ForeignKey("jump.id", ondelete="SET NULL"), index=True)
    video_path: Mapped[str] = mapped_column(String(1024))
    passenger_name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class HandoffDownload(Base):
    """One request for a hand-off link's video (a phone seeking makes several)."""

    __tablename__ = "handoff_download"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("handoff_link.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    remote_address: Mapped[str | None] = mapped_column(String(64))
    range_header: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[int] = mapped_column(Integer)
    bytes_sent: Mapped[int] = mapped_column(BigInteger, default=0)


class PassengerExport(Base):
    """One copy of a passenger's folder to a chosen place (a USB stick), verified by SHA-256."""

    __tablename__ = "passenger_export"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    jump_id: Mapped[int | None] = mapped_column(ForeignKey("jump.id", ondelete="SET NULL"), index=True)
    source_dir: Mapped[str] = mapped_column(String(1024))
    dest_dir: Mapped[str] = mapped_column(String(1024))
    state: Mapped[str] = mapped_column(String(16))  # verified, failed
    files: Mapped[int] = mapped_column(Integer, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class StationLibrary(Base):
    """The library of this setup (one row): every process files there, and its root holds a
    marker file with `library_id`, so a worker can tell it reaches the same library."""

    __tablename__ = "station_library"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    library_id: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(1024))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CardWipe(Base):
    """A `sd:wipe_request` sent after a card's verified import, and the Detector's answer."""

    __tablename__ = "card_wipe"

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    execution_id: Mapped[int] = mapped_column(ForeignKey("pipeline_execution.id", ondelete="CASCADE"), index=True)
    card_id: Mapped[str] = mapped_column(String(128))
    detector_id: Mapped[str] = mapped_column(String(64))
    files: Mapped[list[Any]]  # the entries of the request, as sent
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]
    deleted: Mapped[list[Any] | None]
    kept: Mapped[list[Any] | None]
