"""Steps and pipeline definitions by name.

Steps register with `@register` on their class. A worker process knows every step because
`load_step_modules()` imports `app.pipeline.steps` (the import pipeline) and the modules
listed in INGEST_EXTRA_STEP_MODULES (comma-separated; tests use it for their own steps).
Pipeline definitions are checked when they are made: unknown steps, dependencies on steps
the definition does not have, and cycles are errors then, never at run time.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from app.pipeline.base import BaseStep, ChildrenOf, NewStep, StepRef

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from app.db.models import PipelineExecution

log = logging.getLogger(__name__)

EXTRA_MODULES_ENV = "INGEST_EXTRA_STEP_MODULES"
# The steps first, then the pipeline defined from them.
STEP_PACKAGES = ("app.pipeline.steps", "app.pipeline.card_import", "app.pipeline.passenger_render")

S = TypeVar("S", bound=type[BaseStep])

_steps: dict[str, type[BaseStep]] = {}
_pipelines: dict[str, PipelineDefinition] = {}
_loaded = False
_import_errors: dict[str, str] = {}


class PipelineDefinitionError(ValueError):
    """A pipeline definition or a step registration is wrong; the message says what."""


class UnknownStep(LookupError):
    """No step of that name is registered in this process."""


def register(cls: S) -> S:
    """Class decorator: make a `BaseStep` subclass known by its `name`."""
    if not (isinstance(cls, type) and issubclass(cls, BaseStep)):
        raise PipelineDefinitionError(f"{cls!r} is not a BaseStep subclass")
    if not cls.name or not isinstance(cls.name, str):
        raise PipelineDefinitionError(f"step class {cls.__qualname__} has no name")
    existing = _steps.get(cls.name)
    if existing is not None and _qualname(existing) != _qualname(cls):
        raise PipelineDefinitionError(
            f"step name {cls.name!r} is taken by {_qualname(existing)}; {_qualname(cls)} needs another name"
        )
    _steps[cls.name] = cls  # the same class imported again (reload) replaces itself
    return cls


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def load_step_modules(extra: Iterable[str] = ()) -> None:
    """Import the packages that register steps (once; cheap afterwards)."""
    global _loaded
    modules = list(extra)
    if not _loaded:
        _loaded = True
        modules = [*STEP_PACKAGES, *_env_modules(), *modules]
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as exc:  # one broken step module must not take the whole engine down
            _import_errors[module] = f"{type(exc).__name__}: {exc}"
            log.exception("cannot import step module %s; its steps are unknown in this process", module)


def _env_modules() -> list[str]:
    return [name.strip() for name in os.environ.get(EXTRA_MODULES_ENV, "").split(",") if name.strip()]


def get_step(name: str) -> type[BaseStep]:
    """The registered step class; raises UnknownStep."""
    if name not in _steps:
        load_step_modules()
    try:
        return _steps[name]
    except KeyError:
        raise UnknownStep(f"no step named {name!r} is registered in this process{_import_problems()}") from None


def _import_problems() -> str:
    if not _import_errors:
        return ""
    return " (step modules that failed to import: " + "; ".join(f"{m}: {e}" for m, e in _import_errors.items()) + ")"


def known_steps() -> list[str]:
    load_step_modules()
    return sorted(_steps)


# on_completed(session, execution) -> extra fields of the `pipeline:completed` event.
CompletedHook = Callable[["Session", "PipelineExecution"], dict[str, Any]]


@dataclass(frozen=True)
class PipelineDefinition:
    """A named graph of static steps (`NewStep`s whose `depends_on` name other static steps).
    Steps spawned at run time are not part of it. Registered by name when created."""

    name: str
    steps: Sequence[NewStep] = field(default_factory=tuple)
    on_completed: CompletedHook | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(self.steps))
        validate_graph(self.name, self.steps)
        _pipelines[self.name] = self

    def topological(self) -> list[NewStep]:
        """The static steps, each after its dependencies."""
        return _topological(self.name, self.steps)


def get_pipeline(name: str) -> PipelineDefinition:
    if name not in _pipelines:
        load_step_modules()
    try:
        return _pipelines[name]
    except KeyError:
        raise PipelineDefinitionError(f"no pipeline named {name!r} is defined") from None


def validate_graph(pipeline: str, steps: Sequence[NewStep]) -> None:
    """Unknown step names, duplicate (name, key), dangling dependencies and cycles are errors."""
    if not pipeline:
        raise PipelineDefinitionError("a pipeline needs a name")
    seen: set[tuple[str, str]] = set()
    for step in steps:
        if not isinstance(step, NewStep):
            raise PipelineDefinitionError(f"pipeline {pipeline!r}: {step!r} is not a NewStep")
        if step.name not in _steps:
            load_step_modules()
        if step.name not in _steps:
            raise PipelineDefinitionError(f"pipeline {pipeline!r}: unknown step {step.name!r}{_import_problems()}")
        if (step.name, step.key) in seen:
            raise PipelineDefinitionError(f"pipeline {pipeline!r}: step {step.name!r} key {step.key!r} is listed twice")
        seen.add((step.name, step.key))
    for step in steps:
        try:
            refs = step.refs()
        except ValueError as exc:
            raise PipelineDefinitionError(f"pipeline {pipeline!r}, step {step.name!r}: {exc}") from None
        for ref in refs:
            if (ref.name, ref.key) not in seen:
                raise PipelineDefinitionError(
                    f"pipeline {pipeline!r}: step {step.name!r} depends on {ref.name!r}"
                    f"{f' key {ref.key!r}' if ref.key else ''}, which the pipeline does not have"
                )
    _topological(pipeline, steps)


def _topological(pipeline: str, steps: Sequence[NewStep]) -> list[NewStep]:
    """Depth-first order without recursion (a chain of thousands of steps is fine)."""
    by_id = {(s.name, s.key): s for s in steps}
    deps = {(s.name, s.key): [(r.name, r.key) for r in s.refs()] for s in steps}
    order: list[NewStep] = []
    state: dict[tuple[str, str], int] = {}  # 1 = on the current path, 2 = done
    for root in by_id:
        if state.get(root) == 2:
            continue
        path: list[tuple[str, str]] = [root]
        pending: list[list[tuple[str, str]]] = [list(deps[root])]
        state[root] = 1
        while path:
            if pending[-1]:
                dep = pending[-1].pop()
                if state.get(dep) == 2:
                    continue
                if state.get(dep) == 1:
                    cycle = path[path.index(dep):] + [dep]
                    raise PipelineDefinitionError(
                        f"pipeline {pipeline!r} has a cycle: {' -> '.join(n for n, _ in cycle)}"
                    )
                state[dep] = 1
                path.append(dep)
                pending.append(list(deps[dep]))
            else:
                node = path.pop()
                pending.pop()
                state[node] = 2
                order.append(by_id[node])
    return order


def check_new_steps(steps: Sequence[NewStep]) -> None:
    """Spawned children: known names and well-formed dependencies (raises PipelineDefinitionError)."""
    for step in steps:
        if not isinstance(step, NewStep):
            raise PipelineDefinitionError(f"spawned {step!r} is not a NewStep")
        try:
            get_step(step.name)
        except UnknownStep as exc:
            raise PipelineDefinitionError(str(exc)) from None
        try:
            step.refs()
        except ValueError as exc:
            raise PipelineDefinitionError(f"spawned step {step.name!r}: {exc}") from None


__all__ = [
    "ChildrenOf", "NewStep", "PipelineDefinition", "PipelineDefinitionError", "StepRef", "UnknownStep",
    "get_pipeline", "get_step", "known_steps", "load_step_modules", "register", "validate_graph",
]
