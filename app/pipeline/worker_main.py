"""`ingest-station worker`: join the worker pool of a shared setup.

The worker uses the station's database (Postgres for several machines; the station's SQLite
works for a worker on the same machine), the library the station recorded there (it refuses
to take steps when it cannot reach that very folder: library_identity.py) and Redis: `--redis-url`, or, without one, the
embedded server of a station running on the same `--data-dir`. Its events reach the
station through Redis pub/sub. SIGTERM/SIGINT stop it cleanly: running steps get a grace
period, the rest go back to the queue.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import redis

from app.broker import BrokerError
from app.broker.connection import describe_url, open_redis
from app.config import Settings
from app.db.engine import Database, DatabaseError
from app.db.migrate import current_revision, head_revision
from app.pipeline.engine import PipelineEngine
from app.pipeline.library_identity import LibraryIdentity, LibraryUnreachable, check_reachable, recorded_library
from app.pipeline.registry import known_steps
from app.pipeline.worker import WorkerOptions
from app.shutdown import stop_on_signals
from app.worker_id import new_worker_id

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_CANNOT_START = 2

# Tuning knobs (tests shorten them so a killed worker is noticed quickly).
HEARTBEAT_TTL_ENV = "INGEST_WORKER_HEARTBEAT_TTL_S"
LIBRARY_CHECK_ENV = "INGEST_WORKER_LIBRARY_CHECK_S"  # how often a running worker checks it still sees the library


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr, flush=True)
    return EXIT_CANNOT_START


def worker_redis_url(settings: Settings) -> str | None:
    """The shared Redis, or the embedded one of a station on this data folder (None: neither)."""
    if settings.redis_url:
        return settings.redis_url
    socket_path = settings.redis_dir / "redis.sock"
    return f"unix://{socket_path}" if socket_path.exists() else None


def worker_options(concurrency: int) -> WorkerOptions:
    options = WorkerOptions(concurrency=concurrency)
    ttl = os.environ.get(HEARTBEAT_TTL_ENV)
    if ttl:
        options.heartbeat_ttl_s = float(ttl)
        options.heartbeat_s = min(options.heartbeat_s, options.heartbeat_ttl_s / 3)
        options.reap_every_s = min(options.reap_every_s, options.heartbeat_ttl_s / 2)
    return options


async def serve_worker(settings: Settings, concurrency: int) -> int:
    if concurrency < 1:
        return _fail(f"--concurrency must be at least 1, got {concurrency}")
    url = worker_redis_url(settings)
    if url is None:
        return _fail(f"no Redis to join: give --redis-url, or start the station with --data-dir {settings.data_dir} "
                     f"first (its embedded Redis would be at {settings.redis_dir / 'redis.sock'})")
    try:
        db = Database(settings.db_url)
    except DatabaseError as exc:
        return _fail(str(exc))
    try:
        return await _serve(settings, db, url, concurrency)
    finally:
        db.close()


def _setup_library(db: Database) -> LibraryIdentity:
    """The library recorded by the station, once this machine is seen to reach that very folder
    (a worker's own config or data folder never decides where cards are filed)."""
    with db.session() as session:
        identity = recorded_library(session)
    if identity is None:
        raise LibraryUnreachable(f"no library is recorded in the database {db.describe()}: "
                                 "start the station once (it records its --library there)")
    check_reachable(identity)
    return identity


async def _library_lost(db: Database, identity: LibraryIdentity, every_s: float) -> str:
    """Returns why, once the library can no longer be reached (an unmounted share) or the
    station recorded another one."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(every_s)
        try:
            now = await loop.run_in_executor(None, _setup_library, db)
        except LibraryUnreachable as exc:
            return str(exc)
        except Exception as exc:  # noqa: BLE001 - the database is away for a moment: the engine copes
            log.warning("cannot check the library now: %s", exc)
            continue
        if now != identity:
            return f"the setup's library is now {now.path} (was {identity.path}): restart this worker to file there"


async def _serve(settings: Settings, db: Database, url: str, concurrency: int) -> int:
    loop = asyncio.get_running_loop()
    try:
        current, head = await loop.run_in_executor(
            None, lambda: (current_revision(db.engine), head_revision(db.engine)))
    except Exception as exc:  # noqa: BLE001 - any connection problem is reported the same way
        return _fail(f"cannot open the database {db.describe()}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
    if current != head:
        return _fail(f"the database {db.describe()} is at schema {current or 'none'}, this worker needs {head}: "
                     "run `ingest-station migrate` (or start the station) with this version first")
    try:
        library = await loop.run_in_executor(None, _setup_library, db)
    except LibraryUnreachable as exc:
        return _fail(f"refusing to take steps: {exc}")
    settings.library = library.path
    try:
        client = await open_redis(url)
    except BrokerError as exc:
        return _fail(str(exc))
    steps = known_steps()
    worker_id = new_worker_id("worker")
    engine = PipelineEngine(db=db, redis=client, settings=settings, bus=None, origin=worker_id)
    try:
        await engine.start(workers=concurrency, worker_id=worker_id, options=worker_options(concurrency),
                           role="worker")
    except (redis.RedisError, OSError) as exc:
        await client.aclose()
        return _fail(f"cannot use Redis at {describe_url(url)}: {exc}")
    print(f"worker {worker_id} running {concurrency} step(s) at once; database: {db.describe()}; "
          f"redis: {describe_url(url)}; library: {settings.library}; steps known: {len(steps)}", flush=True)

    stop = asyncio.create_task(stop_on_signals().wait())
    lost = asyncio.create_task(_library_lost(db, library, float(os.environ.get(LIBRARY_CHECK_ENV, "10"))))
    try:
        await asyncio.wait({stop, lost}, return_when=asyncio.FIRST_COMPLETED)
        print(f"worker {worker_id} stopping…", flush=True)
    finally:
        stop.cancel()
        lost.cancel()
        await engine.stop()
        await client.aclose()
    print(f"worker {worker_id} stopped", flush=True)
    if lost.done() and not lost.cancelled():
        return _fail(f"stopped taking steps: {lost.result()}")
    return EXIT_OK
