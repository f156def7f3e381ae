"""The models and the migrations never drift; migrations run on SQLite and Postgres."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from app.db.engine import make_engine
from app.db.migrate import current_revision, head_revision, upgrade
from app.db.models import Base


def test_migrations_match_the_models(db_url):
    engine = make_engine(db_url)
    upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations differ; add a migration: {diff}"


def test_upgrade_is_idempotent_and_reaches_head(db_url):
    engine = make_engine(db_url)
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision(engine)
    tables = set(inspect(engine).get_table_names())
    assert {"pipeline_execution", "pipeline_step", "pipeline_step_log", "imported_file", "jump"} <= tables
    fingerprint_indexes = [ix for ix in inspect(engine).get_indexes("imported_file") if ix["column_names"] == ["fingerprint"]]
    assert fingerprint_indexes and fingerprint_indexes[0]["unique"]
    engine.dispose()


def test_sqlite_runs_with_wal_and_foreign_keys(sqlite_url):
    engine = make_engine(sqlite_url)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    engine.dispose()


async def test_reads_do_not_wait_for_a_writer_on_sqlite(sqlite_url):
    import time

    from app.db.engine import Database
    from app.db.models import PipelineExecution

    db = Database(sqlite_url)
    upgrade(db.engine)
    with db.session() as session:
        session.add(PipelineExecution(pipeline="p"))
    writer = db.sessions()
    writer.add(PipelineExecution(pipeline="q"))
    writer.flush()  # holds SQLite's write lock until commit
    try:
        started = time.monotonic()
        count = await db.read(lambda s: s.query(PipelineExecution).count())
        waited = time.monotonic() - started
    finally:
        writer.rollback()
        writer.close()
    assert count == 1  # the uncommitted row is not seen
    assert waited < 2, f"a read waited {waited:.1f} s behind a writer"
    db.close()
