"""What a pipeline step is: `BaseStep.run(ctx) -> StepResult`, the context it gets, and how it
spawns children (`NewStep`). The engine (scheduler, worker) drives these; steps never touch
Redis or the step tables themselves.

A step must be idempotent: after a crash, a wake or a retry its `run()` is called again and
must decide from the database (or the files) what is already done.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

if TYPE_CHECKING:
    from app.config import Settings
    from app.core_events import CoreEvent
    from app.db.engine import Database

T = TypeVar("T")

log = logging.getLogger(__name__)


# -- dependencies ------------------------------------------------------------------------------
@dataclass(frozen=True)
class StepRef:
    """Depend on the step `name` with key `key` in the same execution."""

    name: str
    key: str = ""


@dataclass(frozen=True)
class ChildrenOf:
    """Fan-in: depend on the step `name`/`key` AND on every child it spawns (`NewStep`s in its
    results), so the dependent runs once the parent has finished and all its children succeeded."""

    name: str
    key: str = ""


# A dependency as written by a step author: "name" (key ""), ("name", "key"), StepRef or ChildrenOf.
DependsOn = str | tuple[str, str] | StepRef | ChildrenOf


def as_ref(dep: DependsOn) -> StepRef | ChildrenOf:
    """Normalize a dependency; raises ValueError for anything else."""
    if isinstance(dep, (StepRef, ChildrenOf)):
        return dep
    if isinstance(dep, str) and dep:
        return StepRef(dep)
    if isinstance(dep, tuple) and len(dep) == 2 and all(isinstance(part, str) for part in dep) and dep[0]:
        return StepRef(dep[0], dep[1])
    raise ValueError(f"not a step dependency: {dep!r} (use 'name', ('name', 'key'), StepRef or ChildrenOf)")


def children_of(name: str, key: str = "") -> ChildrenOf:
    return ChildrenOf(name, key)


@dataclass(frozen=True)
class NewStep:
    """A step to create: a static step of a pipeline definition, or a child spawned by a result.

    (execution, name, key) is unique: spawning the same name+key twice creates it once, so a
    redelivered message never doubles work. `depends_on` names steps of the same execution.
    """

    name: str
    key: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    depends_on: Sequence[DependsOn] = ()

    def refs(self) -> list[StepRef | ChildrenOf]:
        return [as_ref(dep) for dep in self.depends_on]


# -- results -----------------------------------------------------------------------------------
class StepStatus(enum.StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    WAITING = "waiting"
    SKIPPED = "skipped"


class StepFailure(Exception):
    """Raised from anywhere a step calls (a helper deep in a transaction): the step fails for
    good with this sentence, exactly as if it had returned `StepResult.fail(str(exc))`."""


@dataclass(frozen=True)
class StepResult:
    """What `run()` returns. Build it with `ok`, `fail`, `wait` or `skip`."""

    status: StepStatus
    output: dict[str, Any] | None = None
    error: str | None = None
    reason: str | None = None
    spawn: tuple[NewStep, ...] = ()

    @classmethod
    def ok(cls, output: dict[str, Any] | None = None, spawn: Sequence[NewStep] = ()) -> StepResult:
        """Done; `output` (a JSON object) becomes the `inputs` of dependents; `spawn` adds children."""
        return cls(StepStatus.SUCCEEDED, output=output, spawn=tuple(spawn))

    @classmethod
    def fail(cls, error: str) -> StepResult:
        """Failed for good (no automatic retry); dependents become `upstream_failed`."""
        return cls(StepStatus.FAILED, error=str(error))

    @classmethod
    def wait(cls, reason: str, spawn: Sequence[NewStep] = ()) -> StepResult:
        """Not done yet; hold no worker until `engine.wake(...)` queues this step again."""
        return cls(StepStatus.WAITING, reason=str(reason), spawn=tuple(spawn))

    @classmethod
    def skip(cls, reason: str) -> StepResult:
        """Nothing to do; counts as done for dependents."""
        return cls(StepStatus.SKIPPED, reason=str(reason))


# -- retry policy ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Retry:
    """Automatic retries: `attempts` runs in all; exceptions of the types in `on` (and timeouts
    when `TimeoutError` is listed) are retried after `backoff_s * factor**n` seconds."""

    attempts: int = 1
    backoff_s: float = 1.0
    factor: float = 2.0
    max_backoff_s: float = 300.0
    on: tuple[type[BaseException], ...] = ()

    def retryable(self, exc: BaseException) -> bool:
        return bool(self.on) and isinstance(exc, self.on)

    def delay_s(self, attempt: int) -> float:
        """Delay before run number `attempt + 1` (attempt counts from 1)."""
        return min(self.max_backoff_s, self.backoff_s * self.factor ** max(0, attempt - 1))


# -- the context -------------------------------------------------------------------------------
class StepLog:
    """`ctx.log.info(...)`: lines for `pipeline_step_log` (shown under the step in the window).
    Buffered and written with the step's result (or earlier, at heartbeats)."""

    def __init__(self, step_name: str) -> None:
        self._logger = logging.getLogger(f"app.pipeline.step.{step_name}")
        self.lines: list[tuple[str, str]] = []

    def _add(self, level: str, message: str, *args: Any) -> None:
        text = message % args if args else str(message)
        self.lines.append((level, text))
        self._logger.log(getattr(logging, level), text)

    def info(self, message: str, *args: Any) -> None:
        self._add("INFO", message, *args)

    def warning(self, message: str, *args: Any) -> None:
        self._add("WARNING", message, *args)

    def error(self, message: str, *args: Any) -> None:
        self._add("ERROR", message, *args)

    def take(self) -> list[tuple[str, str]]:
        lines, self.lines = self.lines, []
        return lines


@dataclass
class StepContext:
    """Everything a running step may use.

    - `inputs`: outputs of the steps it depends on, by step name (and by "name:key" for keyed
      steps; a fan-in dependency also gives `inputs["children:<name>"]`, a list of the children's
      outputs in creation order).
    - `offload(fn, *args)`: CPU work off the event loop (a thread pool; `process=True` uses a
      process pool, so `fn` and its arguments must pickle).
    - `emit(event)`: a typed event (app/core_events.py) on the station's bus.
    """

    execution_id: int
    step_id: int
    name: str
    key: str
    attempt: int
    params: dict[str, Any]
    inputs: dict[str, Any]
    db: Database
    settings: Settings
    log: StepLog
    _emit: Callable[[CoreEvent], None] = field(repr=False)
    _thread_pool: Executor | None = field(default=None, repr=False)
    _process_pool: Callable[[], Executor] | None = field(default=None, repr=False)
    progress_done: int = 0
    progress_total: int = 0

    def progress(self, done: int, total: int) -> None:
        self.progress_done, self.progress_total = int(done), int(total)

    def emit(self, event: CoreEvent) -> None:
        self._emit(event)

    async def offload(self, fn: Callable[..., T], *args: Any, process: bool = False) -> T:
        pool = self._process_pool() if (process and self._process_pool) else self._thread_pool
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)


# -- steps -------------------------------------------------------------------------------------
class BaseStep:
    """Subclass, set `name`, optionally `retry` and `timeout_s`, implement `run`, and decorate
    with `@register` (app.pipeline.registry). One instance serves many runs: keep no state on it."""

    name: ClassVar[str] = ""
    retry: ClassVar[Retry] = Retry()
    timeout_s: ClassVar[float | None] = 600.0

    async def run(self, ctx: StepContext) -> StepResult:  # pragma: no cover - abstract
        raise NotImplementedError(f"step {self.name!r} does not implement run()")
