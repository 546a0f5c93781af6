"""Named actions: ordered steps that call the upstream and edit the context.

An action is ``{"steps": [...]}`` under ``actions.<name>``. Step types:

- ``request``: an HTTP call shaped like a resource method (``method``,
  ``path``, ``query``, ``body``, ``headers``, ``response_path``, ...) with the
  integration's base URL, headers and authorization. Its output is the
  response data at ``response_path``.
- ``transform``: ``config.expression`` (or ``config`` as a string), JSONata.
- ``update_context``: merges ``config.expression``'s object, or else the
  previous output, into the context.
- ``set_context``: merges the fixed object ``config`` (placeholders rendered)
  into the context.
- ``get_context``: outputs the context, or the value at ``config.path``.

JSONata steps see ``previous`` (the previous step's output), ``steps`` (all
outputs so far), ``context`` and ``environment_variables``, both as input
fields and as ``$`` variables; request placeholders see ``previous`` and
``steps`` next to the usual context keys. A step may carry ``run_if``, a
JSONata condition. Context merges are shallow, as Truto's are, and
``environment_variables`` is never written.

The first failing step stops the run: later steps are recorded as skipped and
the error is kept on the ActionRun rather than raised, so that the account
lifecycle can store the per-step record.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from config_engine import jsonata
from config_engine.display import short_repr
from config_engine.errors import ConfigError, EngineError, JsonataError, UpstreamError
from config_engine.http import render_optional
from config_engine.responses import lookup_path

STEP_TYPES = ("request", "transform", "update_context", "set_context", "get_context")
LIFECYCLE_ACTIONS = frozenset({"post_install", "validation", "refresh_token"})


@dataclass(frozen=True, slots=True)
class StepResponse:
    """The response data and request line of a request step, for its record."""

    output: Any
    method: str
    path: str
    status: int


RequestRunner = Callable[
    [Mapping[str, Any], Mapping[str, Any], str], Awaitable[StepResponse]
]
VariablesFactory = Callable[[Mapping[str, Any]], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class StepRecord:
    """The record of one step: what ran, against what, and how it ended.

    `outcome` is ``ok``, ``error`` or ``skipped``. `status` is the upstream
    status of a request step, or of the upstream error that ended it.
    """

    index: int
    type: str
    name: str | None
    outcome: str
    duration_ms: float
    request_method: str | None = None
    request_path: str | None = None
    status: int | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready copy."""
        return {
            "index": self.index,
            "type": self.type,
            "name": self.name,
            "outcome": self.outcome,
            "duration_ms": round(self.duration_ms, 3),
            "request_method": self.request_method,
            "request_path": self.request_path,
            "status": self.status,
            "error": self.error,
        }


@dataclass(slots=True)
class ActionRun:
    """The result of running one action.

    `context` is the account context after the run and `context_changes` the
    top-level keys that the run set. `error` is the error that stopped the
    run, if any.
    """

    name: str
    steps: list[StepRecord] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)
    context_changes: dict[str, Any] = field(default_factory=dict)
    output: Any = None
    error: EngineError | None = None

    @property
    def ok(self) -> bool:
        """Whether every step succeeded or was skipped by its condition."""
        return self.error is None

    def raise_for_error(self) -> None:
        """Raise the error that stopped the run, if there was one."""
        if self.error is not None:
            raise self.error

    def as_record(self) -> dict[str, Any]:
        """Return a JSON-ready summary, fit for an account's last action result."""
        return {
            "action": self.name,
            "ok": self.ok,
            "error": self.error.message if self.error else None,
            "error_code": self.error.code if self.error else None,
            "steps": [step.as_dict() for step in self.steps],
            "context_keys_changed": sorted(self.context_changes),
        }


@dataclass
class _RunState:
    context: dict[str, Any]
    outputs: list[Any] = field(default_factory=list)
    changes: dict[str, Any] = field(default_factory=dict)

    @property
    def previous(self) -> Any:
        return self.outputs[-1] if self.outputs else None


async def run_action(
    actions: Mapping[str, Any] | None,
    name: str,
    context: Mapping[str, Any],
    *,
    run_request: RequestRunner,
    variables_for: VariablesFactory,
    timeout: float | None = None,
) -> ActionRun:
    """Run the action `name` step by step and return its record."""
    steps = _steps(actions, name)
    state = _RunState(context=dict(context))
    run = ActionRun(name=name)
    for index, step in enumerate(steps):
        path = f"actions.{name}.steps.{index}"
        if run.error is not None:
            run.steps.append(_skipped(index, step))
            continue
        started = time.perf_counter()
        try:
            record = await _run_step(
                step, index, path, state, run_request, variables_for, timeout
            )
        except EngineError as exc:
            record = _failed(index, step, exc, started)
            run.error = exc
        run.steps.append(record)
    run.context, run.context_changes, run.output = (
        state.context,
        state.changes,
        state.previous,
    )
    return run


def _steps(actions: Mapping[str, Any] | None, name: str) -> list[Mapping[str, Any]]:
    action = (actions or {}).get(name)
    if action is None:
        raise ConfigError(f"no action named {name!r} is configured", f"actions.{name}")
    steps = action.get("steps") if isinstance(action, Mapping) else action
    if not isinstance(steps, list):
        raise ConfigError("an action needs a list of steps", f"actions.{name}.steps")
    for index, step in enumerate(steps):
        if not isinstance(step, Mapping) or step.get("type") not in STEP_TYPES:
            kind = step.get("type") if isinstance(step, Mapping) else step
            raise ConfigError(
                f"unknown step type {kind!r}; expected one of {', '.join(STEP_TYPES)}",
                f"actions.{name}.steps.{index}.type",
            )
    return steps


async def _run_step(
    step: Mapping[str, Any],
    index: int,
    path: str,
    state: _RunState,
    run_request: RequestRunner,
    variables_for: VariablesFactory,
    timeout: float | None,
) -> StepRecord:
    started = time.perf_counter()
    kind, name = str(step["type"]), step.get("name")
    scope = _scope(state, variables_for)
    run_if = step.get("run_if")
    if run_if and not _evaluate(run_if, scope, f"{path}.run_if", timeout):
        return StepRecord(index, kind, name, "skipped", _elapsed(started))
    config = step.get("config")
    if kind == "request":
        if not isinstance(config, Mapping):
            raise ConfigError("a request step needs a config object", f"{path}.config")
        variables = {
            **variables_for(state.context),
            "previous": state.previous,
            "steps": state.outputs,
        }
        response = await run_request(config, variables, f"{path}.config")
        state.outputs.append(response.output)
        return StepRecord(
            index,
            kind,
            name,
            "ok",
            _elapsed(started),
            request_method=response.method,
            request_path=response.path,
            status=response.status,
        )
    state.outputs.append(
        _local_step(kind, config, scope, path, state, variables_for, timeout)
    )
    return StepRecord(index, kind, name, "ok", _elapsed(started))


def _local_step(
    kind: str,
    config: Any,
    scope: Mapping[str, Any],
    path: str,
    state: _RunState,
    variables_for: VariablesFactory,
    timeout: float | None,
) -> Any:
    if kind == "transform":
        expression = (
            config if isinstance(config, str) else (config or {}).get("expression")
        )
        if not expression:
            raise ConfigError(
                "a transform step needs an expression", f"{path}.config.expression"
            )
        return _evaluate(expression, scope, f"{path}.config.expression", timeout)
    if kind == "update_context":
        expression = (
            (config or {}).get("expression") if isinstance(config, Mapping) else config
        )
        values = (
            _evaluate(expression, scope, f"{path}.config.expression", timeout)
            if expression
            else state.previous
        )
        return _merge_into_context(values, state, f"{path}.config.expression")
    if kind == "set_context":
        if not isinstance(config, Mapping):
            raise ConfigError(
                "a set_context step needs a config object", f"{path}.config"
            )
        values = render_optional(
            dict(config), variables_for(state.context), path=f"{path}.config"
        )
        return _merge_into_context(values, state, f"{path}.config")
    context_path = (config or {}).get("path") if isinstance(config, Mapping) else None
    return (
        lookup_path(state.context, context_path)
        if context_path
        else dict(state.context)
    )


def _merge_into_context(values: Any, state: _RunState, path: str) -> dict[str, Any]:
    if not isinstance(values, Mapping):
        raise ConfigError(
            f"expected an object to merge into the context, received "
            f"{short_repr(values)}",
            path,
        )
    written = {str(k): v for k, v in values.items() if k != "environment_variables"}
    state.context.update(written)
    state.changes.update(written)
    return written


def _scope(state: _RunState, variables_for: VariablesFactory) -> dict[str, Any]:
    variables = variables_for(state.context)
    return {
        "previous": state.previous,
        "steps": list(state.outputs),
        "context": state.context,
        "environment_variables": variables.get("environment_variables") or {},
    }


def _evaluate(
    expression: Any, scope: Mapping[str, Any], path: str, timeout: float | None
) -> Any:
    if not isinstance(expression, str):
        raise ConfigError(
            f"expected a JSONata expression, received {expression!r}", path
        )
    try:
        return jsonata.evaluate(expression, scope, scope, timeout=timeout)
    except JsonataError as exc:
        raise ConfigError(f"the expression failed: {exc.message}", path) from exc


def _skipped(index: int, step: Mapping[str, Any]) -> StepRecord:
    return StepRecord(index, str(step.get("type")), step.get("name"), "skipped", 0.0)


def _failed(
    index: int, step: Mapping[str, Any], error: EngineError, started: float
) -> StepRecord:
    status = error.status if isinstance(error, UpstreamError) else None
    config = step.get("config")
    method = path = None
    if step.get("type") == "request" and isinstance(config, Mapping):
        # The path template, not the rendered path: it names the endpoint
        # without any value that placeholders would have put in it.
        method = str(config.get("method") or "get").upper()
        path = str(config.get("path") or "")
    return StepRecord(
        index,
        str(step.get("type")),
        step.get("name"),
        "error",
        _elapsed(started),
        request_method=method,
        request_path=path,
        status=status,
        error=error.message,
    )


def _elapsed(started: float) -> float:
    return (time.perf_counter() - started) * 1000
