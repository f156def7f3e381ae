"""Shared fixtures: real SQLite and Postgres databases, embedded and external Redis.

Postgres and the external Redis come from INGEST_TEST_PG_URL and INGEST_TEST_REDIS_URL
(.ci/run sets both). Without them those tests skip with a loud reason; with
INGEST_TEST_REQUIRE_SERVICES=1 (CI) a missing service is an error instead.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from app.broker.embedded import EmbeddedRedis

PG_URL = os.environ.get("INGEST_TEST_PG_URL", "")
REDIS_URL = os.environ.get("INGEST_TEST_REDIS_URL", "")
REQUIRE = os.environ.get("INGEST_TEST_REQUIRE_SERVICES") == "1"

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _missing(what: str, var: str) -> None:
    message = f"SKIPPED LOUDLY: {what} not configured; set {var} to run this test"
    if REQUIRE:
        pytest.fail(message.replace("SKIPPED LOUDLY", "MISSING SERVICE"))
    print(f"\n*** {message} ***", file=sys.stderr)
    pytest.skip(message)


def pytest_report_header(config) -> list[str]:
    return [
        f"postgres: {PG_URL or 'NOT SET (postgres tests skip)'}",
        f"external redis: {REDIS_URL or 'NOT SET (external-redis tests skip)'}",
    ]


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A brand-new Postgres database, dropped afterwards."""
    if not PG_URL:
        _missing("Postgres", "INGEST_TEST_PG_URL")
    name = f"ingest_test_{os.getpid()}_{secrets.token_hex(4)}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base, _, _ = PG_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'station.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request) -> str:
    """Each test using this runs once on SQLite and once on Postgres."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def external_redis_url() -> str:
    if not REDIS_URL:
        _missing("external Redis", "INGEST_TEST_REDIS_URL")
    return REDIS_URL


@pytest.fixture
def embedded_redis_url(tmp_path: Path) -> Iterator[str]:
    server = EmbeddedRedis(tmp_path / "redis")
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture(params=["embedded", "external"])
def redis_url(request) -> str:
    """Each test using this runs against the embedded server and the external one."""
    return request.getfixturevalue(f"{request.param}_redis_url")


@pytest.fixture
def redis_prefix() -> str:
    """Keys of one test never meet another's on a shared server."""
    return f"test-{secrets.token_hex(4)}"
