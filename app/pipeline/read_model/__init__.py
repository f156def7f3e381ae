"""The read model: every query a view makes of the core, in one place (docs/architecture.md,
"Read model"). The window, the `/ui` channel's `pipeline:list`, `GET /api/executions` and
`ingest-station status` all read through it; no view holds SQL.

- `rows.py`: the frozen rows the window's Imports tree and details panel show;
- `imports.py`: an execution with its passengers, steps and unassigned clips; a step's details;
- `listing.py`: the newest executions with their steps as JSON (`pipeline:list`, `/api`, `status`);
- `passengers.py`: a day of passengers with clip durations (the window's Passengers view);
- `group_state`: the state of a group of steps (a passenger's), the way the core derives an
  execution's.

`ReadModel(db)` runs each query on a database thread in a read-only transaction, so a view
awaits plain values and never sees a session. A new query: a session function in the module of
its subject, and a method here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from app.db.engine import Database
from app.pipeline.offload_report import report_of
from app.pipeline.read_model import imports, listing, passengers
from app.pipeline.read_model.passengers import PassengerRead, PassengersDay
from app.pipeline.read_model.rows import ClipRow, ExecutionRow, ExecutionSnapshot, JumpRow, StepDetails, StepRow
from app.pipeline.scheduler import derive_state


def group_state(step_states: Iterable[str]) -> str:
    """The state of a group of steps as the core derives an execution's (`derive_state`);
    "pending" for a group with no step yet."""
    counts = Counter(step_states)
    return derive_state(dict(counts)).value if counts else "pending"


class ReadModel:
    """The queries, awaited from the event loop (each on a database thread)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def execution(self, execution_id: int) -> ExecutionSnapshot | None:
        return await self.db.read(lambda s: imports.load_execution(s, execution_id))

    async def recent(self, limit: int = 50) -> list[ExecutionSnapshot]:
        """The newest executions, newest first."""
        return await self.db.read(lambda s: imports.load_recent(s, limit))

    async def step_details(self, step_id: int) -> StepDetails | None:
        return await self.db.read(lambda s: imports.load_step_details(s, step_id))

    async def jumps_of_card(self, execution_id: int) -> list[JumpRow]:
        return await self.db.read(lambda s: imports.jumps_of_card(s, execution_id))

    async def output_folders(self, execution_id: int) -> list[str]:
        return await self.db.read(lambda s: imports.output_folders(s, execution_id))

    async def offload_report(self, execution_id: int) -> Path | None:
        """The card's HTML report, once its `write_report` step has written it."""
        return await self.db.read(lambda s: report_of(s, execution_id))

    async def list_executions(self, limit: int = 50) -> list[dict[str, Any]]:
        return await self.db.read(lambda s: listing.list_executions(s, limit))

    async def passengers_day(self, day: str | None, fallback_day: str) -> PassengersDay:
        return await self.db.read(lambda s: passengers.passengers_day(s, day, fallback_day))

    async def passenger(self, passenger_id: int) -> PassengerRead | None:
        return await self.db.read(lambda s: passengers.passenger(s, passenger_id))


__all__ = [
    "ClipRow", "ExecutionRow", "ExecutionSnapshot", "JumpRow", "PassengerRead", "PassengersDay", "ReadModel",
    "StepDetails", "StepRow", "group_state",
]
