"""Compile and evaluate JSONata expressions through one of two engines.

- ``jsonatapy`` (the default) has a Rust core. Its compiled objects belong
  to the thread that compiled them, because another thread gets a
  ``PanicException``.
- ``jsonata-python`` is pure Python and much slower. It raises the process
  recursion limit to 10,000, so it is imported only when selected.

The environment variable ``JSONATA_ENGINE`` picks the engine once, at import.
An unknown name raises EngineSettingError at the first compilation or
evaluation, not at import. `check_engine_setting` validates the variable
earlier, such as at a server's start. `use_engine` changes the engine later,
for tests.

Engine objects are cached per thread, keyed by the expression text, so a
`CompiledExpression` can be compiled on one thread and evaluated on another.

Every evaluation runs with a timeout, a maximum depth and a maximum sequence
length, which defaults to `DEFAULT_LIMITS`. jsonatapy holds the GIL while it
runs, so these limits also keep the event loop alive. Each failure raises one
JsonataError whose `jsonata_code` is JSONata's own code (``S0201``,
``T2001``...) or one of these:

- ``TIMEOUT``: the evaluation ran out of time (JSONata's D1012).
- ``DEPTH``: recursion or nesting went too deep (D1011, U1001, U1002).
- ``SEQUENCE_LENGTH``: a sequence exceeded the length limit (D2014, D2015).
- ``STRING_LENGTH``: a ``$pad`` width or a ``$formatNumber`` or
  ``$formatInteger`` picture exceeded the limit. The engine's timeout does
  not interrupt a single built-in call, so these run only within bounds.
- ``INVALID_INPUT``: the data or bindings hold a value that is not JSON.
- ``ENGINE``: the engine failed without a JSONata code.

JSONata's ``undefined`` and ``null`` both come back as None, because
jsonatapy returns None for both.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import jsonatapy

from config_engine.errors import EngineSettingError, JsonataError

ENGINES: Final = ("jsonatapy", "jsonata-python")
ENGINE_VARIABLE: Final = "JSONATA_ENGINE"
DEFAULT_ENGINE: Final = "jsonatapy"
# Maximum $pad width and $formatNumber / $formatInteger picture length, in
# characters. Both built-ins run in one step that the timeout cannot stop,
# and their cost grows with these lengths (quadratically for pictures).
MAX_PAD_WIDTH: Final = 1_000_000
MAX_PICTURE_LENGTH: Final = 10_000
# The recursion limit that jsonata-python sets on import and needs to reach
# the default depth limit.
PYTHON_RECURSION_LIMIT: Final = 10_000
# Engine objects kept per thread. When full, the oldest is dropped.
CACHE_SIZE: Final = 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds of one evaluation.

    `timeout` is in seconds. `max_depth` counts the engine's evaluation
    frames, roughly three per call of a recursive JSONata function.
    `max_sequence_length` bounds every sequence with jsonatapy, but only
    ranges (``[1..n]``) with jsonata-python.

    NOTE: strings built with ``&`` are bounded only by the timeout. A
    doubling expression reached about 1 GB per second with jsonatapy on a
    2-core Xeon, so keep the timeout short.
    """

    timeout: float = 1.0
    max_depth: int = 1000
    max_sequence_length: int = 1_000_000


DEFAULT_LIMITS: Final = Limits()

_GUARD_CODES: Final = {
    "D1012": "TIMEOUT",
    "D1011": "DEPTH",
    "U1001": "DEPTH",
    "U1002": "DEPTH",
    "D2014": "SEQUENCE_LENGTH",
    "D2015": "SEQUENCE_LENGTH",
}
# Exceptions that must not become a JsonataError.
_FATAL: Final = (KeyboardInterrupt, SystemExit, MemoryError)
_CODE: Final = re.compile(r"\b([DSTU]\d{4})\b")
_STRING_LENGTH: Final = "STRING_LENGTH"


class CompiledExpression:
    """A JSONata expression whose syntax was checked, usable on any thread."""

    __slots__ = ("path", "source")

    def __init__(self, source: str, path: str = "") -> None:
        self.source = source
        self.path = path

    def __repr__(self) -> str:
        return f"CompiledExpression({self.source!r})"


def engine_name() -> str:
    """Return the name of the engine in use, one of `ENGINES`."""
    return _current_engine().name


def use_engine(name: str) -> None:
    """Select the engine for every later call, on every thread.

    Raises EngineSettingError for a name not in `ENGINES`.
    """
    global _engine
    _engine = _make_engine(name, subject=f"JSONata engine {name!r}")


def check_engine_setting(environ: Mapping[str, str] = os.environ) -> str:
    """Return the engine name that ``JSONATA_ENGINE`` selects in `environ`.

    Raises EngineSettingError, naming the variable and the allowed values,
    when the name is not one of `ENGINES`.
    """
    name = environ.get(ENGINE_VARIABLE, DEFAULT_ENGINE)
    if name not in ENGINES:
        raise EngineSettingError(_unknown_engine_message(f"{ENGINE_VARIABLE}={name!r}"))
    return name


def _current_engine() -> _Jsonatapy | _JsonataPython:
    global _engine
    if _engine is None:
        name = check_engine_setting()
        _engine = _make_engine(name, subject=f"{ENGINE_VARIABLE}={name!r}")
    return _engine


def compile(expression: str, *, path: str = "") -> CompiledExpression:
    """Check the syntax of `expression` and return it ready to evaluate.

    Raises JsonataError with JSONata's code and, when the engine reports it,
    the position. `path` is the config JSON path of the expression, and the
    message includes it.
    """
    if not isinstance(expression, str):
        raise JsonataError(
            _with_path(
                f"expected a JSONata expression string, received {expression!r}", path
            ),
            "ENGINE",
        )
    _cached_expression(_current_engine(), expression, path)
    return CompiledExpression(expression, path)


def evaluate(
    expression: str | CompiledExpression,
    data: Any,
    bindings: Mapping[str, Any] | None = None,
    *,
    timeout: float | None = None,
    limits: Limits | None = None,
) -> Any:
    """Evaluate `expression` against `data` and return the result.

    `bindings` become ``$name`` variables. `timeout`, in seconds, replaces
    the timeout of `limits` (by default `DEFAULT_LIMITS`). ``undefined``
    results come back as None. Every failure raises JsonataError.
    """
    if isinstance(expression, CompiledExpression):
        source, path = expression.source, expression.path
    else:
        source, path = expression, ""
    limits = limits or DEFAULT_LIMITS
    seconds = limits.timeout if timeout is None else timeout
    timeout_ms = int(seconds * 1000) or 1
    if bindings is not None and type(bindings) is not dict:
        bindings = dict(bindings)
    engine = _current_engine()
    compiled = _cached_expression(engine, source, path)
    try:
        return engine.evaluate(compiled, data, bindings, timeout_ms, limits)
    except BaseException as exc:
        # jsonatapy's PanicException derives from BaseException.
        if isinstance(exc, _FATAL):
            raise
        raise engine.translate(exc, source, path) from exc


def _cached_expression(
    engine: _Jsonatapy | _JsonataPython, source: str, path: str
) -> Any:
    try:
        cache: dict[str, Any] = engine.local.cache
    except AttributeError:
        cache = engine.local.cache = {}
        if engine.keeps_caches:
            _KEPT_CACHES.append(cache)
    compiled = cache.get(source)
    if compiled is None:
        try:
            compiled = engine.compile(source)
        except BaseException as exc:
            if isinstance(exc, _FATAL):
                raise
            raise engine.translate(exc, source, path) from exc
        if len(cache) >= CACHE_SIZE:
            del cache[next(iter(cache))]
        cache[source] = compiled
    return compiled


def _with_path(message: str, path: str) -> str:
    return f"{message} (in {path})" if path else message


def _error(
    code: str, message: str, source: str, path: str, position: int | None
) -> JsonataError:
    code = _GUARD_CODES.get(code, code)
    where = f" at position {position}" if position is not None else ""
    return JsonataError(
        _with_path(f"{message}{where}", path),
        code,
        position=position,
        expression=source,
    )


# jsonatapy's compiled objects must be freed on the thread that compiled them:
# freeing one on another thread raises RuntimeError ("unsendable, but is being
# dropped on another thread"), for example when a thread ends and its
# thread-local cache is released elsewhere, or when `use_engine` replaces the
# engine. Every jsonatapy cache is therefore also referenced here and never
# freed, which costs at most CACHE_SIZE expressions per thread that ever
# evaluated one. Entries evicted from a cache are freed by the owning thread.
_KEPT_CACHES: list[dict[str, Any]] = []


class _Jsonatapy:
    name = "jsonatapy"
    keeps_caches = True

    def __init__(self) -> None:
        # Per-thread state: `cache` maps expression text to engine objects.
        self.local = threading.local()

    def compile(self, source: str) -> Any:
        compiled = jsonatapy.compile(source)
        for builtin, guard in _GUARDS.items():
            if f"${builtin}" in source or "$eval" in source:
                compiled.register_override(builtin, guard)
        return compiled

    def evaluate(
        self,
        compiled: Any,
        data: Any,
        bindings: Mapping[str, Any] | None,
        timeout_ms: int,
        limits: Limits,
    ) -> Any:
        return compiled.evaluate(
            data,
            bindings,
            timeout=timeout_ms,
            max_stack_depth=limits.max_depth,
            max_sequence_length=limits.max_sequence_length,
        )

    def translate(self, exc: BaseException, source: str, path: str) -> JsonataError:
        text = str(exc)
        if isinstance(exc, TypeError):
            return _error("INVALID_INPUT", text, source, path, None)
        if _STRING_LENGTH in text:
            return _error(
                _STRING_LENGTH,
                text.split(f"{_STRING_LENGTH}: ")[-1],
                source,
                path,
                None,
            )
        match = _CODE.search(text) if isinstance(exc, ValueError) else None
        if match is None:
            return _error("ENGINE", f"{type(exc).__name__}: {text}", source, path, None)
        message = text[match.end() :].lstrip(": ") or text
        position = _syntax_error_position(source, match.group(1))
        return _error(match.group(1), message, source, path, position)


def _syntax_error_position(source: str, code: str) -> int | None:
    """Find where a syntax error sits, which jsonatapy does not report.

    jsonata-python's parser finds the same syntax errors with a position,
    sometimes under a neighbouring code (S0203 for S0207). Its import raises
    the recursion limit, which this restores.
    """
    if not code.startswith("S"):
        return None
    limit = sys.getrecursionlimit()
    try:
        from jsonata import JException, Jsonata  # type: ignore[import-untyped]
    finally:
        sys.setrecursionlimit(limit)
    try:
        Jsonata(source)
    except JException as exc:
        if str(exc.error).startswith("S") and exc.location >= 0:
            return int(exc.location)
    except Exception:
        # The position is only a hint, so a parser failure is not an error.
        return None
    return None


def _pad_guard(*args: Any) -> Any:
    width = args[1] if len(args) > 1 else None
    if isinstance(width, int | float) and abs(width) > MAX_PAD_WIDTH:
        raise ValueError(
            f"{_STRING_LENGTH}: $pad width {width!r} exceeds the maximum "
            f"of {MAX_PAD_WIDTH}"
        )
    return _call_builtin("pad", args)


def _picture_guard(builtin: str) -> Callable[..., Any]:
    def guard(*args: Any) -> Any:
        picture = args[1] if len(args) > 1 else None
        if isinstance(picture, str) and len(picture) > MAX_PICTURE_LENGTH:
            raise ValueError(
                f"{_STRING_LENGTH}: ${builtin} picture of {len(picture)} characters "
                f"exceeds the maximum of {MAX_PICTURE_LENGTH}"
            )
        return _call_builtin(builtin, args)

    return guard


def _call_builtin(builtin: str, args: tuple[Any, ...]) -> Any:
    # The guard replaced the built-in only in the guarded expression, so a
    # separate expression without guards still calls the original. An
    # undefined first argument arrives as None and stays undefined.
    if not args or args[0] is None:
        return None
    names = [f"a{index}" for index in range(len(args))]
    source = f"${builtin}({', '.join('$' + name for name in names)})"
    cache: dict[str, Any] = _local.__dict__.setdefault("builtins", {})
    compiled = cache.get(source)
    if compiled is None:
        compiled = cache[source] = jsonatapy.compile(source)
    return compiled.evaluate(None, dict(zip(names, args, strict=True)))


_GUARDS: Final[dict[str, Callable[..., Any]]] = {
    "pad": _pad_guard,
    "formatNumber": _picture_guard("formatNumber"),
    "formatInteger": _picture_guard("formatInteger"),
}


class _JsonataPython:
    """The jsonata-python engine, with fresh bounds for every call.

    Its own timeout counts from compile time and its depth counter is not
    reset after an error, so each call gets a new frame with a new Timebox.
    Input validation, which walks the whole input on every call, is off.
    """

    name = "jsonata-python"
    keeps_caches = False

    def __init__(self) -> None:
        self.local = threading.local()
        from jsonata import JException, Jsonata
        from jsonata.functions import Functions  # type: ignore[import-untyped]
        from jsonata.timebox import Timebox  # type: ignore[import-untyped]

        # The library sets this limit when first imported, but an import for
        # `_syntax_error_position` may have restored the lower one since.
        sys.setrecursionlimit(max(sys.getrecursionlimit(), PYTHON_RECURSION_LIMIT))
        self._exception: type[Exception] = JException
        self._timebox = Timebox
        self._limit_error: type[Exception] = _limit_error_class(JException)
        self._class = _bounded_class(Jsonata, self._limit_error)
        guards = _guard_class(Functions, self._limit_error)
        self._guards = {
            "pad": Jsonata.JNativeFunction("pad", "<s-ns?:s>", guards, "pad"),
            "formatNumber": Jsonata.JNativeFunction(
                "formatNumber", "<n-so?:s>", guards, "format_number"
            ),
            "formatInteger": Jsonata.JNativeFunction(
                "formatInteger", "<n-s:s>", guards, "format_integer"
            ),
        }

    def compile(self, source: str) -> Any:
        compiled = self._class(source)
        compiled.set_validate_input(False)
        return compiled

    def evaluate(
        self,
        compiled: Any,
        data: Any,
        bindings: Mapping[str, Any] | None,
        timeout_ms: int,
        limits: Limits,
    ) -> Any:
        frame = compiled.create_frame(compiled.environment)
        self._timebox(frame, timeout_ms, limits.max_depth)
        # The guards shadow the built-ins of the same name in this call only.
        for name, guard in self._guards.items():
            frame.bind(name, guard)
        for name, value in (bindings or {}).items():
            frame.bind(name, value)
        _local.max_sequence_length = limits.max_sequence_length
        return _plain(compiled.evaluate(data, frame))

    def translate(self, exc: BaseException, source: str, path: str) -> JsonataError:
        exc = self._limit_inside_eval(exc)
        if isinstance(exc, self._limit_error):
            code = str(getattr(exc, "limit_code", "ENGINE"))
            return _error(code, str(exc), source, path, None)
        if isinstance(exc, RecursionError):
            return _error("DEPTH", "evaluation nested too deeply", source, path, None)
        code = str(getattr(exc, "error", ""))
        if isinstance(exc, self._exception) and _CODE.fullmatch(code):
            location = int(getattr(exc, "location", -1))
            position = location if location >= 0 else None
            return _error(code, str(exc), source, path, position)
        message = f"{type(exc).__name__}: {exc}"
        return _error("ENGINE", message, source, path, None)

    def _limit_inside_eval(self, exc: BaseException) -> BaseException:
        """Return the limit error that `$eval` hid behind its D3121 error.

        jsonata-python's `$eval` raises D3121 for any inner failure, and the
        inner error survives only as the implicit exception context.
        """
        if getattr(exc, "error", None) != "D3121":
            return exc
        inner: BaseException | None = exc.__context__
        while inner is not None:
            if isinstance(inner, self._limit_error | RecursionError):
                return inner
            if getattr(inner, "error", None) in _GUARD_CODES:
                return inner
            inner = inner.__context__
        return exc


def _limit_error_class(exception_class: Any) -> Any:
    """Subclass jsonata-python's JException for the adapter's own limits."""

    class LimitError(exception_class):  # type: ignore[misc]
        def __init__(self, limit_code: str, message: str) -> None:
            super().__init__(limit_code, -1)
            self.limit_code = limit_code
            self.args = (message,)

        def __str__(self) -> str:
            return str(self.args[0])

    return LimitError


def _bounded_class(jsonata_class: Any, limit_error: Any) -> Any:
    """Subclass jsonata-python's Jsonata so that ranges obey the length limit."""

    class BoundedJsonata(jsonata_class):  # type: ignore[misc]
        def evaluate_range_expression(self, lhs: Any, rhs: Any) -> Any:
            limit = getattr(
                _local, "max_sequence_length", DEFAULT_LIMITS.max_sequence_length
            )
            numbers = all(
                isinstance(side, int) and not isinstance(side, bool)
                for side in (lhs, rhs)
            )
            if numbers and rhs - lhs + 1 > limit:
                raise limit_error(
                    "SEQUENCE_LENGTH",
                    f"the range of {rhs - lhs + 1} items exceeds the maximum "
                    f"sequence length of {limit}",
                )
            return super().evaluate_range_expression(lhs, rhs)

    return BoundedJsonata


def _guard_class(functions_class: Any, limit_error: Any) -> Any:
    """Wrap jsonata-python's $pad and format built-ins with length checks."""

    def check(builtin: str, length: Any, maximum: int, what: str) -> None:
        if isinstance(length, int | float) and abs(length) > maximum:
            raise limit_error(
                _STRING_LENGTH,
                f"${builtin} {what} {length!r} exceeds the maximum of {maximum}",
            )

    class Guards:
        @staticmethod
        def pad(string: Any, width: Any, char: Any) -> Any:
            check("pad", width, MAX_PAD_WIDTH, "width")
            return functions_class.pad(string, width, char)

        @staticmethod
        def format_number(value: Any, picture: Any, decimal_format: Any) -> Any:
            if isinstance(picture, str):
                check(
                    "formatNumber", len(picture), MAX_PICTURE_LENGTH, "picture length"
                )
            return functions_class.format_number(value, picture, decimal_format)

        @staticmethod
        def format_integer(value: Any, picture: Any) -> Any:
            if isinstance(picture, str):
                check(
                    "formatInteger", len(picture), MAX_PICTURE_LENGTH, "picture length"
                )
            return functions_class.format_integer(value, picture)

    return Guards


def _plain(value: Any) -> Any:
    """Copy a jsonata-python result into plain lists and dicts.

    Its lists are subclasses, and a range is a lazy list that serializers
    see as empty. A function result becomes None, as with jsonatapy.
    """
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if value is None or isinstance(value, str | int | float):
        return value
    return None


def _make_engine(name: str, *, subject: str) -> _Jsonatapy | _JsonataPython:
    if name == "jsonatapy":
        return _Jsonatapy()
    if name == "jsonata-python":
        return _JsonataPython()
    raise EngineSettingError(_unknown_engine_message(subject))


def _unknown_engine_message(subject: str) -> str:
    return (
        f"{subject} is invalid: expected one of {', '.join(ENGINES)}; "
        f"unset {ENGINE_VARIABLE} to use {DEFAULT_ENGINE}"
    )


def _engine_from_environment() -> _Jsonatapy | _JsonataPython | None:
    # An invalid JSONATA_ENGINE leaves no engine, so that the first use raises
    # a typed error in the caller rather than a traceback at import.
    try:
        name = check_engine_setting()
    except EngineSettingError:
        return None
    return _make_engine(name, subject=f"{ENGINE_VARIABLE}={name!r}")


_local = threading.local()
_engine = _engine_from_environment()
