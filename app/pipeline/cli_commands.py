"""`ingest-station status` and `ingest-station retry`: the pipeline from a terminal.

Both work on the database directly, so they can be used while a station runs. A retry is
queued in the database and sent through Redis (`--redis-url`, or the embedded server of a
station on the same `--data-dir`); without a reachable Redis the station's reconciler sends
it within seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from app.cli_options import storage_options
from app.config import Settings

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_CANNOT_RUN = 2


def register(commands: argparse._SubParsersAction) -> None:

    status = commands.add_parser("status", help="pipeline executions and their steps (failed ones first)")
    storage_options(status)
    status.add_argument("--limit", type=int, default=20, metavar="N", help="newest N executions (default 20)")
    status.add_argument("--json", action="store_true", help="print the pipeline:list JSON instead of a table")
    status.set_defaults(handler=run_status)

    retry = commands.add_parser("retry", help="re-run a failed step and everything after it")
    storage_options(retry)
    retry.add_argument("--redis-url", metavar="URL", help="the station's Redis, when it is not the embedded one")
    retry.add_argument("execution_id", type=int, metavar="EXECUTION_ID")
    retry.add_argument("step_id", type=int, metavar="STEP_ID")
    retry.set_defaults(handler=run_retry)


def _open_db(settings: Settings):
    from app.db.engine import Database  # noqa: PLC0415
    from app.db.migrate import current_revision, head_revision  # noqa: PLC0415

    db = Database(settings.db_url, threads=1)
    current, head = current_revision(db.engine), head_revision(db.engine)
    if current != head:
        db.close()
        raise RuntimeError(f"the database {db.describe()} is at schema {current or 'none'}, not {head}: "
                           "run `ingest-station migrate` first")
    return db


def run_status(args: argparse.Namespace, settings: Settings) -> int:
    from app.pipeline.read_model.listing import list_executions  # noqa: PLC0415

    if not 1 <= args.limit <= 1000:
        print("error: --limit must be between 1 and 1000", file=sys.stderr)
        return EXIT_CANNOT_RUN
    try:
        db = _open_db(settings)
    except Exception as exc:  # noqa: BLE001 - reported, whatever the driver raised
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    try:
        with db.session() as session:
            executions = list_executions(session, args.limit)
    finally:
        db.close()
    executions.sort(key=lambda e: (e["state"] != "failed", -e["id"]))
    if args.json:
        print(json.dumps({"executions": executions}, indent=2))
        return EXIT_OK
    print(format_status(executions))
    return EXIT_OK


def format_status(executions: list[dict[str, Any]]) -> str:
    from app.db.models import FAILED_STEP_STATES  # noqa: PLC0415 - the Detector's CLI loads no database code

    if not executions:
        return "no pipeline executions yet"
    lines: list[str] = []
    for e in executions:
        card = e.get("card_label") or e.get("card_id") or "-"
        progress = e["progress"]
        lines.append(f"execution {e['id']}  {e['state'].upper():<9} {e['pipeline']}  card {card}  "
                     f"steps {progress['done']}/{progress['total']}  started {e['created_at']}")
        if e.get("error"):
            lines.append(f"  error: {e['error']}")
        for s in e["steps"]:
            name = f"{s['name']}[{s['key']}]" if s["key"] else s["name"]
            duration = f"{s['duration_ms']} ms" if s["duration_ms"] is not None else ""
            line = f"  step {s['id']:>5}  {s['state']:<15} {name:<40} attempt {s['attempt']:<3} {duration}"
            if s.get("error") and s["state"] in FAILED_STEP_STATES:
                line += f"  — {s['error']}"
            lines.append(line.rstrip())
    return "\n".join(lines)


def run_retry(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_retry(args.execution_id, args.step_id, settings))


async def _retry(execution_id: int, step_id: int, settings: Settings) -> int:
    from app.pipeline import scheduler  # noqa: PLC0415
    from app.pipeline.worker_main import worker_redis_url  # noqa: PLC0415

    try:
        db = _open_db(settings)
    except Exception as exc:  # noqa: BLE001
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    report = scheduler.Report()
    try:
        reset = await db.run(lambda s: scheduler.retry(s, execution_id, step_id, report))
    except (scheduler.RetryRefused, scheduler.NotFound) as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    finally:
        db.close()
    print(f"execution {execution_id}: step {step_id} and {len(reset) - 1} step(s) after it will run again")
    sent = await _send(worker_redis_url(settings), settings.redis_prefix, report)
    if not sent and report.queued:
        print("note: Redis is not reachable from here; the station's reconciler will send the retry shortly")
    return EXIT_OK


async def _send(url: str | None, prefix: str, report) -> bool:
    if url is None or not report.queued:
        return False
    from app.broker import BrokerError  # noqa: PLC0415
    from app.broker.connection import open_redis  # noqa: PLC0415
    from app.pipeline.step_queue import StepQueue  # noqa: PLC0415

    try:
        client = await open_redis(url)
    except BrokerError:
        return False
    try:
        await StepQueue(client, prefix).send(report.queued)
        return True
    finally:
        await client.aclose()
