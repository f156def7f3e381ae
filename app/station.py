"""The station core: database, Redis, workers, the Detector server and the event bus,
started in order and stopped in reverse. The window and the headless console are two
views of it; this module never imports the GUI."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy.exc import SQLAlchemyError

from app.broker import BrokerError
from app.broker.connection import describe_url, open_redis
from app.broker.embedded import EmbeddedRedis
from app.config import ConfigError, Settings, ensure_identity
from app.db.engine import Database, DatabaseError
from app.db.migrate import upgrade
from app.events import EventBus
from app.handoff.service import HandoffService
from app.instance_lock import AlreadyRunning, InstanceLock
from app.net.http import json_response
from app.net.link import DetectorLink
from app.net.mdns import StationAdvertiser
from app.net.server import StationServer
from app.net.tls import StationCertificate, station_certificate
from app.pipeline.free_space import LibraryRoom, free_bytes
from app.pipeline.card_end import CardEnd
from app.pipeline.engine import PipelineEngine
from app.pipeline.library import Library
from app.pipeline.library_identity import LibraryIdentity, LibraryUnreachable, claim_library
from app.pipeline.orchestrator import Orchestrator
from app.pipeline.staging import cancelled_stagings, sweep_cancelled
from app.net.service import NetService
from app.version import __version__

log = logging.getLogger(__name__)


class StartupError(RuntimeError):
    """The station cannot start; the message says what failed and where."""


Stopper = Callable[[], Awaitable[None]]


class Station:
    def __init__(self, settings: Settings, *, bus: EventBus | None = None) -> None:
        self.settings = settings
        self.bus = bus or EventBus()
        self.lock = InstanceLock(settings.data_dir)
        self.db: Database | None = None
        self.embedded_redis: EmbeddedRedis | None = None
        self.redis_url = ""
        self.redis: aioredis.Redis | None = None
        self.server: StationServer | None = None
        self.advertiser: StationAdvertiser | None = None
        self.certificate: StationCertificate | None = None  # with the setting `tls` on
        # The connected Detectors; the orchestrator sends copy requests through it.
        self.link = DetectorLink()
        self.net: NetService | None = None
        self.engine: PipelineEngine | None = None
        self.orchestrator: Orchestrator | None = None
        self.handoff: HandoffService | None = None  # passengers' videos on the LAN
        self.library: LibraryIdentity | None = None
        self.card_end: CardEnd | None = None
        self.started_at = 0.0
        # Filled by the parts that know the answer (Detector sessions, worker pool).
        self.count_detectors: Callable[[], int] = lambda: 0
        self.count_workers: Callable[[], int] = lambda: 0
        self._stoppers: list[Stopper] = []

    # -- lifecycle ------------------------------------------------------------------
    async def start(self) -> None:
        try:
            await self._start()
        except (ConfigError, DatabaseError, BrokerError, AlreadyRunning, SQLAlchemyError, OSError,
                LibraryUnreachable) as exc:
            await self.stop()
            raise StartupError(_explain(exc)) from exc
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        settings = self.settings
        self.lock.acquire()
        self.on_stop(self._release_lock)
        ensure_identity(settings)
        settings.library.mkdir(parents=True, exist_ok=True)

        self.db = Database(settings.db_url)
        self.on_stop(self._close_db)
        await asyncio.get_running_loop().run_in_executor(None, upgrade, self.db.engine)
        # The setup's library: workers on other machines file there, and check they reach it.
        self.library = await self.db.run(lambda session: claim_library(session, settings.library))
        # A cancelled import runs no more steps: what it left in staging goes now, before any upload.
        stagings = await self.db.read(lambda session: cancelled_stagings(session, Library(settings.library)))
        await asyncio.get_running_loop().run_in_executor(None, sweep_cancelled, stagings)

        if settings.redis_url:
            self.redis_url = settings.redis_url
        else:
            # Started from the loop's own thread: the die-with-parent signal is tied to it.
            self.embedded_redis = EmbeddedRedis(settings.redis_dir)
            self.on_stop(self._stop_embedded_redis)
            self.redis_url = self.embedded_redis.start()
        self.redis = await open_redis(self.redis_url)
        self.on_stop(self._close_redis)

        if settings.tls:
            self.certificate = station_certificate(settings.tls_dir, settings.station_id)
        self.server = StationServer(settings.host, settings.port,
                                    tls=self.certificate.server_context() if self.certificate else None)
        self.server.http_get("/health", self._health)
        await self._start_services()
        await self.server.start()
        self.on_stop(self.server.stop)
        if settings.mdns:
            self.advertiser = StationAdvertiser(settings.station_id, settings.host, self.server.bound_port,
                                                fingerprint=self.fingerprint)
            self.advertiser.start()
            self.on_stop(self.advertiser.stop)
        self.started_at = time.monotonic()
        log.info("station %s listening on %s://%s:%d", settings.station_id, self.scheme, settings.host,
                 self.server.bound_port)

    async def _start_services(self) -> None:
        """The pipeline engine and its embedded workers, the orchestrator, the protocol sessions."""
        self.engine = engine = PipelineEngine(db=self.db, redis=self.redis, settings=self.settings, bus=self.bus)
        self.orchestrator = orchestrator = Orchestrator(settings=self.settings, db=self.db, engine=engine,
                                                        bus=self.bus, link=self.link)
        self.card_end = CardEnd(settings=self.settings, db=self.db, bus=self.bus, link=self.link)
        orchestrator.card_end = self.card_end
        self.on_stop(self._stop_engine)
        orchestrator.start()  # its copy-request reconciler
        self.on_stop(orchestrator.stop)
        await engine.start(workers=self.settings.workers)
        self.count_workers = engine.count_workers
        assert self.server is not None, "the station's server is created before its services"
        self.net = NetService(settings=self.settings, bus=self.bus, link=self.link, server=self.server,
                              orchestrator=orchestrator, engine=engine)
        self.net.install()  # /detector, /ui, GET /api/executions, GET /api/passengers
        self.count_detectors = self.link.count
        await self._start_handoff()

    async def _start_handoff(self) -> None:
        """The hand-off server; a busy port costs the hand-off, not the imports."""
        handoff = HandoffService(self.settings, self.db)
        try:
            await handoff.start()
        except OSError as exc:
            log.error("hand-off server not started on port %s: %s (set handoff_port)",
                      self.settings.handoff_listen_port, exc.strerror or exc)
            return
        self.handoff = handoff
        self.on_stop(handoff.stop)

    def on_stop(self, stopper: Stopper) -> None:
        """Register a cleanup; cleanups run in reverse order of registration."""
        self._stoppers.append(stopper)

    async def stop(self) -> None:
        while self._stoppers:
            stopper = self._stoppers.pop()
            try:
                await stopper()
            except Exception:  # keep stopping the rest
                log.exception("error while stopping %r", stopper)

    async def _stop_engine(self) -> None:
        if self.card_end is not None:
            self.card_end.close()
        if self.orchestrator is not None:
            self.orchestrator.close()
        if self.engine is not None:
            await self.engine.stop()

    async def _release_lock(self) -> None:
        self.lock.release()

    async def _close_db(self) -> None:
        if self.db is not None:
            self.db.close()

    async def _stop_embedded_redis(self) -> None:
        if self.embedded_redis is not None:
            self.embedded_redis.stop()

    async def _close_redis(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()

    # -- status ---------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self.server.bound_port if self.server else self.settings.port

    @property
    def fingerprint(self) -> str | None:
        """The SHA-256 fingerprint of the station's certificate, with TLS on."""
        return self.certificate.fingerprint if self.certificate else None

    @property
    def scheme(self) -> str:
        return "wss" if self.certificate else "ws"

    def describe_redis(self) -> str:
        if self.embedded_redis is not None:
            return self.embedded_redis.describe()
        return describe_url(self.redis_url)

    def library_room(self) -> LibraryRoom:
        """The room left on the library's disk. Blocking: a network share may answer slowly;
        the window and the console ask from a thread."""
        try:
            free: int | None = free_bytes(self.settings.library)
        except OSError:
            free = None
        return LibraryRoom(free, self.settings.library_reserve_bytes)

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "version": __version__,
            "station_id": self.settings.station_id,
            "detectors": self.count_detectors(),
            "workers": self.count_workers(),
            "library_free_bytes": self.library_room().free,
            "tls": self.certificate is not None,
            **({"fingerprint": self.fingerprint} if self.certificate else {}),
        }

    def _health(self, _request, _query: str):
        return json_response(HTTPStatus.OK, self.health())


def _explain(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno in (98, 48, 10048):  # address in use (Linux, macOS, Windows)
        return f"the listen port is already in use: {exc.strerror}; choose another with --port"
    if isinstance(exc, SQLAlchemyError):
        return f"database error: {exc.__class__.__name__}: {str(exc).splitlines()[0]}"
    return str(exc)
