"""Issue 12, finding 10: the library is the setup's, recorded in the database with a marker
file at its root; `ingest-station worker` takes it from there and refuses to take steps when
it cannot reach that very folder (real worker processes on Postgres and the external Redis)."""

from __future__ import annotations

import asyncio
import json
import time

from app.db.engine import Database
from app.db.migrate import upgrade
from app.pipeline.library_identity import MARKER_NAME, claim_library
from tests.pipeline.worker_processes import data_dir_with_prefix, run_command, start_worker


def worker_args(data_dir, pg_url, redis_url) -> list[str]:
    return ["worker", "--data-dir", str(data_dir), "--db-url", pg_url, "--redis-url", redis_url]


async def test_a_worker_files_only_into_the_setups_library_and_refuses_one_it_cannot_reach(
        tmp_path, pg_url, external_redis_url, redis_prefix):
    db = Database(pg_url)
    try:
        await asyncio.to_thread(upgrade, db.engine)
        data_dir = data_dir_with_prefix(tmp_path / "worker", redis_prefix)
        args = worker_args(data_dir, pg_url, external_redis_url)

        result = await asyncio.to_thread(run_command, *args)
        assert result.returncode == 2
        assert "refusing to take steps" in result.stderr and "no library is recorded" in result.stderr

        library = tmp_path / "shared-library"
        identity = await db.run(lambda s: claim_library(s, library))  # what the station does at start
        marker = json.loads((library / MARKER_NAME).read_text())
        assert marker == {"library_id": identity.library_id}

        library.rename(tmp_path / "unmounted")  # the share is not mounted on this machine
        result = await asyncio.to_thread(run_command, *args)
        assert result.returncode == 2 and f"the library {library} does not exist" in result.stderr

        library.mkdir()  # an empty mount point
        result = await asyncio.to_thread(run_command, *args)
        assert result.returncode == 2 and f"has no {MARKER_NAME}" in result.stderr

        (library / MARKER_NAME).write_text(json.dumps({"library_id": "another-setup"}))
        result = await asyncio.to_thread(run_command, *args)
        assert result.returncode == 2 and "is another library" in result.stderr
        assert "running" not in result.stdout

        (library / MARKER_NAME).unlink()
        library.rmdir()
        (tmp_path / "unmounted").rename(library)  # mounted again
        worker = await asyncio.to_thread(start_worker, data_dir, pg_url, external_redis_url,
                                         INGEST_WORKER_LIBRARY_CHECK_S="0.2")
        try:
            # Its own data folder would put a library in worker/library: it uses the setup's.
            assert f"library: {library}" in worker.output
            assert not (data_dir / "library").exists()
            library.rename(tmp_path / "unmounted")  # the share goes away while it runs: it stops taking steps
            assert await asyncio.to_thread(worker.process.wait, 30) == 2
        finally:
            if worker.process.poll() is None:
                worker.process.kill()
        said = f"stopped taking steps: the library {library} does not exist"
        deadline = time.monotonic() + 10  # the reader thread takes the last lines
        while said not in worker.output and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert said in worker.output
    finally:
        db.close()
