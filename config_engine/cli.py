"""The ``config check`` and ``config request`` commands.

`add_config_commands` registers both under an argparse subparsers object;
each sets ``func``, a handler that takes the parsed arguments and returns an
exit code (``config request``'s handler is a coroutine function).

``config request`` prints JSON lines on stdout: with ``--dry-run`` the request
it would send, with credentials masked; otherwise every record it fetched,
page by page. Page summaries, the next cursor and rate-limit waits go to
stderr, so stdout stays a clean stream of records.

Exit codes: 0 success, 1 the config has problems or the call failed,
2 an input file, argument or environment variable is unusable.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

import httpx
import orjson

from config_engine.engine import Engine, EngineLimits, PageResult
from config_engine.errors import EngineError, EngineSettingError
from config_engine.merge import effective_config
from config_engine.rate_limit import RetryWait

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
_DEFAULT_LIMITS = EngineLimits()


class InputError(Exception):
    """Raised when a file or argument of a command is unusable."""


def add_config_commands(subparsers: Any) -> None:
    """Register ``config check`` and ``config request`` under `subparsers`."""
    config = subparsers.add_parser(
        "config", help="check integration configs and try their requests"
    )
    commands = config.add_subparsers(title="config commands", metavar="COMMAND")
    config.set_defaults(func=lambda _arguments: _print_help(config))
    _add_check(commands)
    _add_request(commands)


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def _add_check(commands: Any) -> None:
    check = commands.add_parser(
        "check",
        help="validate an integration config or an override file",
        description='Validate a config JSON file (or an {"override": ...} body) '
        "and list each problem with its JSON path. Unknown keys are warnings. "
        "Exit 0 when there is no error (and, with --strict, no warning), 1 "
        "otherwise.",
    )
    check.add_argument("file", type=Path, metavar="FILE", help="config JSON file")
    check.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 on warnings too, such as unknown keys",
    )
    check.set_defaults(func=run_check)


def _add_request(commands: Any) -> None:
    request = commands.add_parser(
        "request",
        help="send (or print) the requests of one resource method",
        description="Run one resource method of a config against its upstream and "
        "print the records as JSON lines. FILE is an integration config, or an "
        'object {"config": ..., "override": ...}.',
    )
    request.add_argument("file", type=Path, metavar="FILE", help="config JSON file")
    request.add_argument(
        "--context", type=Path, help="account context JSON file (default: empty)"
    )
    request.add_argument(
        "--resource", required=True, help="resource name, such as contacts"
    )
    request.add_argument("--method", required=True, help="method name, such as list")
    request.add_argument("--query", help="query parameters as a JSON object")
    request.add_argument("--body", help="request body as JSON")
    request.add_argument("--id", help="resource id for paths with {{id}}")
    request.add_argument("--cursor", help="cursor of the page to start from")
    request.add_argument("--all-pages", action="store_true", help="follow every page")
    request.add_argument(
        "--max-pages",
        type=int,
        default=100,
        help="maximum pages to fetch (default 100)",
    )
    request.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=30.0,
        help="timeout of each upstream exchange, in seconds (default 30)",
    )
    request.add_argument(
        "--deadline",
        type=_positive_seconds,
        default=_DEFAULT_LIMITS.call_timeout,
        help="time limit of each call with its retries and waits, in seconds "
        f"(default {_DEFAULT_LIMITS.call_timeout:g})",
    )
    request.add_argument(
        "--dry-run", action="store_true", help="print the request instead of sending it"
    )
    request.set_defaults(func=run_request)


def _positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (0 < seconds < math.inf):
        raise argparse.ArgumentTypeError(
            f"{text!r} is invalid: expected a number of seconds greater than 0"
        )
    return seconds


def run_check(
    arguments: argparse.Namespace,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Validate a config file; print one line per problem."""
    from config_engine.check import check_file

    out = stdout or sys.stdout
    try:
        problems = check_file(arguments.file)
    except EngineSettingError as exc:
        (stderr or sys.stderr).write(f"error: {exc.message}\n")
        return EXIT_USAGE
    errors = [problem for problem in problems if problem.severity == "error"]
    warnings = [problem for problem in problems if problem.severity != "error"]
    for problem in errors:
        location = problem.path or "(root)"
        out.write(f"{arguments.file}: {location}: {problem.message}\n")
    for problem in warnings:
        out.write(f"{arguments.file}: {problem.path}: warning: {problem.message}\n")
    if errors:
        out.write(f"{arguments.file}: {len(errors)} problem(s)\n")
        return EXIT_FAILED
    if warnings:
        out.write(f"{arguments.file}: ok with {len(warnings)} warning(s)\n")
        return EXIT_FAILED if getattr(arguments, "strict", False) else EXIT_OK
    out.write(f"{arguments.file}: ok\n")
    return EXIT_OK


async def run_request(
    arguments: argparse.Namespace,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Send (or print) one resource method's requests; print records as JSON lines."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        call = _read_call(arguments)
    except InputError as exc:
        err.write(f"error: {exc}\n")
        return EXIT_USAGE
    limits = EngineLimits(
        request_timeout=arguments.timeout,
        call_timeout=arguments.deadline,
        max_pages=arguments.max_pages,
    )
    async with httpx.AsyncClient() as client:
        engine = Engine(
            client, limits=limits, on_wait=lambda wait: _log_wait(err, wait)
        )
        try:
            if arguments.dry_run:
                return _dry_run(engine, arguments, call, out)
            return await _fetch(engine, arguments, call, out, err)
        except EngineSettingError as exc:
            err.write(f"error: {exc.message}\n")
            return EXIT_USAGE
        except EngineError as exc:
            err.write(f"error: {exc.code}: {exc.message}\n")
            return EXIT_FAILED


def _read_call(arguments: argparse.Namespace) -> dict[str, Any]:
    document = _read_json(arguments.file, "config")
    if not isinstance(document, Mapping):
        raise InputError(f"{arguments.file}: expected a JSON object")
    if "config" in document and isinstance(document["config"], Mapping):
        config = effective_config(document["config"], document.get("override"))
    else:
        config = dict(document)
    context = _read_json(arguments.context, "context") if arguments.context else {}
    if not isinstance(context, Mapping):
        raise InputError(f"{arguments.context}: the context must be a JSON object")
    query = _parse_json(arguments.query, "--query") if arguments.query else None
    if query is not None and not isinstance(query, Mapping):
        raise InputError("--query must be a JSON object")
    body = _parse_json(arguments.body, "--body") if arguments.body else None
    return {"config": config, "context": context, "query": query, "body": body}


def _read_json(path: Path, what: str) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except OSError as exc:
        raise InputError(
            f"cannot read the {what} file {str(path)!r}: {exc.strerror}"
        ) from None
    except orjson.JSONDecodeError as exc:
        raise InputError(f"{path}: invalid JSON: {exc}") from None


def _parse_json(text: str, option: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"{option} is not valid JSON: {exc}") from None


def _dry_run(
    engine: Engine, arguments: argparse.Namespace, call: Mapping[str, Any], out: TextIO
) -> int:
    request = engine.prepare_request(
        call["config"],
        call["context"],
        arguments.resource,
        arguments.method,
        query=call["query"],
        body=call["body"],
        id=arguments.id,
        cursor=arguments.cursor,
    )
    _write_line(out, {"type": "request", **request.describe()})
    return EXIT_OK


async def _fetch(
    engine: Engine,
    arguments: argparse.Namespace,
    call: Mapping[str, Any],
    out: TextIO,
    err: TextIO,
) -> int:
    cursor = arguments.cursor
    while True:
        page = await engine.request(
            call["config"],
            call["context"],
            arguments.resource,
            arguments.method,
            query=call["query"],
            body=call["body"],
            id=arguments.id,
            cursor=cursor,
        )
        for record in page.records:
            _write_line(out, record)
        _log_page(err, page)
        if page.next_cursor is None or not arguments.all_pages:
            return EXIT_OK
        cursor = page.next_cursor


def _write_line(out: TextIO, value: Any) -> None:
    out.write(orjson.dumps(value, default=str).decode() + "\n")


def _log_page(err: TextIO, page: PageResult) -> None:
    err.write(
        f"page {page.page}: status {page.status}, {len(page.records)} record(s), "
        f"stop reason {page.stop_reason}\n"
    )
    if page.next_cursor:
        err.write(f"next cursor: {page.next_cursor}\n")


def _log_wait(err: TextIO, wait: RetryWait) -> None:
    err.write(
        f"waiting {wait.seconds:.2f} s before retry {wait.attempt} "
        f"({wait.reason}, status {wait.status})\n"
    )
