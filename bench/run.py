"""Run the whole benchmark: `make bench`, or ``python -m bench.run``.

For each database in BENCH_DATABASES it prepares a copy of the dataset,
starts the loopback upstream, the GraphQL server (``graphql-api serve
--workers 1``) and the baseline servers, checks that they give the same
answers, and then drives them with wrk in rounds. It also counts SQL
statements, profiles workload 1 with py-spy, runs bulk revalidation and
reads the server's memory. Workload 5 (the engine) runs once, in this
process. The results go to ``bench/results/<timestamp>.json`` and
``bench/results/latest.json``, and the targets table is printed.

Settings (environment variables, see `bench.settings`): BENCH_DURATION
(seconds per wrk run, default 10), BENCH_ROUNDS (default 3),
BENCH_DATABASES (default ``sqlite,postgresql``), BENCH_CONNECTIONS (16),
BENCH_THREADS (1), BENCH_ACCOUNTS (200000), BENCH_PROFILE_SECONDS (15, 0
skips the profile) and BENCH_LOG_LEVEL (WARNING).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench import databases, dataset, engine_bench, profile, revalidation, wrk
from bench.dataset import Catalog, make_catalog
from bench.machine import describe_machine, describe_software, git_commit
from bench.processes import CLI, PYTHON, RunningProcess, running
from bench.report import evaluate_targets, render_markdown, summarise_rounds
from bench.settings import REPOSITORY, BenchSettings
from bench.statements import CountCase, count_statements
from bench.workloads import (
    CONNECTION,
    Workload,
    check_same_answer,
    deep_page_depth,
    list_workloads,
)
from db.crypto import KeyRing, use_keyring
from graphql_api.pagination import encode_cursor
from graphql_api.settings import DEFAULT_LIFECYCLE_CONCURRENCY
from graphql_api.types.ordering import NEWEST_FIRST
from tests.cli_support import free_port

logger = logging.getLogger("bench.run")

COMMAND = "make bench"
# Seconds of the unrecorded wrk run before each server's first round.
WARMUP_SECONDS = 2
# Engine microbenchmark size: calls per round and rounds (the best counts).
ENGINE_CALLS = 2000
ENGINE_ROUNDS = 7
# Variables that would change the servers' settings if the shell had them.
_SERVER_VARIABLES = (
    "DATABASE_URL",
    "HOST",
    "PORT",
    "LOG_LEVEL",
    "GRAPHQL_API_SECRET_KEY",
    "GRAPHQL_API_DEMO",
    "LIFECYCLE_CONCURRENCY",
    "LIFECYCLE_LEASE_SECONDS",
)


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    # The statement count runs the application in this process; its request
    # lines and httpx's would drown the harness's own progress lines.
    for name in ("httpx", "graphql_api", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    settings = BenchSettings.from_env()
    # The dataset's credentials are sealed with this key: this process needs
    # it to build and read the dataset, and the servers get it as a setting.
    use_keyring(KeyRing.from_setting(dataset.SECRET_KEY))
    wrk.wrk_path()
    if settings.profile_seconds:
        profile.py_spy_path()
    results = _header(settings)
    results["engine"] = measure_engine()
    for database in settings.databases:
        logger.info("database_started database=%s", database)
        results["databases"][database] = run_database(database, settings)
    results["finished_at"] = _now()
    targets = evaluate_targets(results)
    results["targets"] = [target.as_dict() for target in targets]
    _write_results(settings.results_dir, results, render_markdown(results, targets))
    print(render_markdown(results, targets))
    return 0


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _header(settings: BenchSettings) -> dict[str, Any]:
    return {
        "format": 1,
        "command": COMMAND,
        "started_at": _now(),
        "commit": git_commit(),
        "machine": describe_machine(),
        "software": {**describe_software(), "wrk": wrk.wrk_version()},
        "settings": {
            "duration": settings.duration,
            "rounds": settings.rounds,
            "databases": list(settings.databases),
            "connections": settings.connections,
            "threads": settings.threads,
            "accounts": settings.accounts,
            "profile_seconds": settings.profile_seconds,
            "log_level": settings.log_level,
        },
        "databases": {},
    }


def measure_engine() -> dict[str, Any]:
    """Workload 5: the engine's render and expression costs, in µs per call."""
    measured = engine_bench.measure(ENGINE_CALLS, ENGINE_ROUNDS)
    render = measured["render request"]
    return {
        "microseconds": {name: round(value, 2) for name, value in measured.items()},
        # The engine passes expressions as source text to the adapter, which
        # keeps the compiled form, so this is the path of a real call.
        "one_call_microseconds": round(
            render
            + measured["rate-limit, source text"]
            + measured["error, source text"],
            2,
        ),
        "one_call_precompiled_microseconds": round(
            render + measured["rate-limit, compiled"] + measured["error, compiled"], 2
        ),
    }


# -- One database -------------------------------------------------------------


def run_database(database: str, settings: BenchSettings) -> dict[str, Any]:
    """Prepare the dataset on `database` and run every workload against it."""
    work_dir = settings.work_dir / database
    with _prepared(database, settings, work_dir) as prepared:
        facts = {
            "dataset_source": prepared.source,
            "prepare_seconds": round(prepared.seconds, 1),
        }
        return {**facts, **_run_on(database, prepared.url, settings, work_dir)}


@contextlib.contextmanager
def _prepared(
    database: str, settings: BenchSettings, work_dir: Path
) -> Iterator[databases.PreparedDatabase]:
    if database == "sqlite":
        yield databases.sqlite_copy(
            settings.cache_dir, work_dir / "api.db", settings.accounts
        )
        return
    with databases.postgres_copy(settings.cache_dir, settings.accounts) as prepared:
        yield prepared


def _server_environment(database_url: str, log_level: str) -> dict[str, str]:
    environment = {
        key: value for key, value in os.environ.items() if key not in _SERVER_VARIABLES
    }
    environment["DATABASE_URL"] = database_url
    environment["LOG_LEVEL"] = log_level
    environment["GRAPHQL_API_SECRET_KEY"] = dataset.SECRET_KEY
    return environment


def _baseline_drivers(database: str) -> dict[str, str]:
    """Name each baseline server by its driver; "baseline" is the reference."""
    if database == "sqlite":
        return {"baseline": "aiosqlite", "baseline (sqlite3 on loop)": "sqlite3"}
    return {"baseline": "asyncpg"}


def _run_on(
    database: str, url: str, settings: BenchSettings, work_dir: Path
) -> dict[str, Any]:
    catalog = make_catalog()
    environment = _server_environment(url, settings.log_level)
    with contextlib.ExitStack() as stack:
        upstream = stack.enter_context(_start_upstream(work_dir, environment))
        asyncio.run(databases.point_at_upstream(url, upstream.base_url))
        workloads, deep_next_id = _make_workloads(url, settings.accounts)
        statements = asyncio.run(
            count_statements(
                url, dataset.SECRET_KEY, catalog.token, _count_cases(workloads)
            )
        )
        server = stack.enter_context(
            _start_server(url, work_dir, environment, settings)
        )
        baselines = {
            name: stack.enter_context(
                _start_baseline(name, driver, url, work_dir, environment, settings)
            )
            for name, driver in _baseline_drivers(database).items()
        }
        _verify_answers(server, baselines, workloads, catalog.token, deep_next_id)
        measured = _measure_lists(
            server, baselines, workloads, catalog.token, settings, work_dir
        )
        profile_summary = _profile(
            server, workloads[0], catalog.token, settings, work_dir, database
        )
        bulk = _revalidate(server, upstream, catalog, settings)
        memory = server.memory()
    return {
        "workloads": measured,
        "statements": statements,
        "profile": profile_summary,
        "revalidation": bulk,
        "memory": memory,
        "deep_page_depth": deep_page_depth(settings.accounts),
    }


def _make_workloads(url: str, accounts: int) -> tuple[tuple[Workload, ...], str]:
    depth = deep_page_depth(accounts)
    position = asyncio.run(databases.newest_first_row(url, depth))
    cursor = encode_cursor(CONNECTION, NEWEST_FIRST, position.row)
    return list_workloads(cursor), str(position.next_id)


def _count_cases(workloads: tuple[Workload, ...]) -> list[CountCase]:
    first, filtered, deep, wide = workloads
    return [
        CountCase("W1 first page, 1 row", _resized(first, 1)),
        CountCase("W1 first page, 25 rows", first),
        CountCase("W1 first page, 100 rows", _resized(first, 100)),
        CountCase("W1 with totalCount", first, total_count=True),
        CountCase("W2 filtered page", filtered),
        CountCase("W3 deep page", deep),
        CountCase("W4 page of 100, nested", wide),
    ]


def _resized(workload: Workload, first: int) -> Workload:
    return dataclasses.replace(workload, first=first)


# -- Servers ------------------------------------------------------------------


@contextlib.contextmanager
def _start_upstream(
    work_dir: Path, environment: dict[str, str]
) -> Iterator[RunningProcess]:
    port = free_port()
    with running(
        "upstream",
        [PYTHON, "-m", "bench.upstream", "--port", str(port), "--delay-ms", "20"],
        port=port,
        ready_path="/_stats",
        log_path=work_dir / "upstream.log",
        environment=environment,
    ) as server:
        yield server


@contextlib.contextmanager
def _start_server(
    url: str, work_dir: Path, environment: dict[str, str], settings: BenchSettings
) -> Iterator[RunningProcess]:
    port = free_port()
    command = [
        CLI,
        "serve",
        "--workers",
        "1",
        "--no-migrate",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with running(
        "graphql",
        command,
        port=port,
        ready_path="/healthz",
        log_path=work_dir / "server.log",
        environment=environment,
    ) as server:
        yield server


@contextlib.contextmanager
def _start_baseline(
    name: str,
    driver: str,
    url: str,
    work_dir: Path,
    environment: dict[str, str],
    settings: BenchSettings,
) -> Iterator[RunningProcess]:
    port = free_port()
    command = [
        PYTHON,
        "-m",
        "bench.baseline",
        "--port",
        str(port),
        "--database-url",
        url,
        "--driver",
        driver,
        "--log-level",
        settings.log_level.lower(),
    ]
    with running(
        name,
        command,
        port=port,
        ready_path="/accounts",
        log_path=work_dir / f"baseline-{driver}.log",
        environment=environment,
    ) as server:
        yield server


# -- Workloads 1 to 4 -----------------------------------------------------------


def _post(url: str, body: dict[str, Any], token: str) -> Any:
    response = httpx.post(
        url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    return response.json()


def _verify_answers(
    server: RunningProcess,
    baselines: dict[str, RunningProcess],
    workloads: tuple[Workload, ...],
    token: str,
    deep_next_id: str,
) -> None:
    """Check every server's answer before timing: same page, right deep page."""
    for workload in workloads:
        answer = _post(f"{server.base_url}/graphql", workload.graphql_body(), token)
        for baseline in baselines.values():
            expected = _post(
                f"{baseline.base_url}/accounts", workload.baseline_body(), token
            )
            check_same_answer(answer, expected, workload)
        if workload.key == "w3":
            first_id = answer["data"][CONNECTION]["nodes"][0]["id"]
            if first_id != deep_next_id:
                raise AssertionError(
                    f"the deep page starts at {first_id}, expected {deep_next_id}"
                )
    logger.info(
        "answers_verified workloads=%d baselines=%d", len(workloads), len(baselines)
    )


def _body_files(
    workloads: tuple[Workload, ...], work_dir: Path
) -> dict[tuple[str, str], Path]:
    files = {}
    for workload in workloads:
        for kind, body in (
            ("graphql", workload.graphql_body()),
            ("baseline", workload.baseline_body()),
        ):
            path = work_dir / f"body-{workload.key}-{kind}.json"
            path.write_bytes(orjson.dumps(body))
            files[workload.key, kind] = path
    return files


def _measure_lists(
    server: RunningProcess,
    baselines: dict[str, RunningProcess],
    workloads: tuple[Workload, ...],
    token: str,
    settings: BenchSettings,
    work_dir: Path,
) -> dict[str, dict[str, Any]]:
    """Run workloads 1 to 4 in rounds, alternating between the servers.

    Alternating within each round spreads any drift of the machine (another
    process, thermal limits) over all servers alike.
    """
    files = _body_files(workloads, work_dir)
    targets = {"graphql": (f"{server.base_url}/graphql", "graphql")}
    for name, baseline in baselines.items():
        targets[name] = (f"{baseline.base_url}/accounts", "baseline")
    warmup = wrk.LoadSettings(settings.connections, settings.threads, WARMUP_SECONDS)
    for url, kind in targets.values():
        for workload in workloads:
            wrk.run_wrk(url, files[workload.key, kind], token, warmup)
    load = wrk.LoadSettings(settings.connections, settings.threads, settings.duration)
    raw: dict[str, dict[str, list[dict[str, Any]]]] = {
        w.key: {name: [] for name in targets} for w in workloads
    }
    for round_number in range(1, settings.rounds + 1):
        for workload in workloads:
            for name, (url, kind) in targets.items():
                summary = wrk.run_wrk(url, files[workload.key, kind], token, load)
                raw[workload.key][name].append(summary)
                logger.info(
                    "wrk_finished round=%d workload=%s server=%r rps=%.0f "
                    "p50_ms=%.2f failures=%d",
                    round_number,
                    workload.key,
                    name,
                    summary["requests_per_second"],
                    summary["latency_us"]["p50"] / 1000,
                    wrk.failures(summary),
                )
    return {
        key: {name: summarise_rounds(rounds) for name, rounds in by_server.items()}
        for key, by_server in raw.items()
    }


# -- Profile, revalidation ------------------------------------------------------


def _profile(
    server: RunningProcess,
    workload: Workload,
    token: str,
    settings: BenchSettings,
    work_dir: Path,
    database: str,
) -> dict[str, Any] | None:
    """Sample the server with py-spy during workload 1, in a run of its own."""
    if not settings.profile_seconds:
        return None
    stacks = settings.results_dir / "profiles" / f"{database}-w1.txt"
    body = work_dir / "body-w1-graphql.json"
    recorder = profile.start_recording(server.pid, settings.profile_seconds, stacks)
    load = wrk.LoadSettings(
        settings.connections, settings.threads, settings.profile_seconds + 1
    )
    summary = wrk.run_wrk(f"{server.base_url}/graphql", body, token, load)
    profile.finish_recording(recorder, stacks)
    return {
        "workload": workload.key,
        "seconds": settings.profile_seconds,
        "rate_hz": profile.SAMPLE_RATE,
        "requests_per_second_while_sampled": round(summary["requests_per_second"], 1),
        "stacks_file": os.path.relpath(stacks, REPOSITORY),
        **profile.summarise(stacks),
    }


def _revalidate(
    server: RunningProcess,
    upstream: RunningProcess,
    catalog: Catalog,
    settings: BenchSettings,
) -> dict[str, Any]:
    installs = [str(install.id) for install in catalog.revalidation_installs]
    expected = len(installs) * dataset.REVALIDATION_ACCOUNTS_PER_INSTALL
    rounds = []
    for round_number in range(1, settings.rounds + 1):
        result = revalidation.run_round(
            server.base_url, upstream.base_url, catalog.token, installs, expected
        )
        logger.info(
            "revalidation_finished round=%d accounts_per_second=%.0f max_in_flight=%s",
            round_number,
            result["accounts_per_second"],
            result["max_in_flight_per_integration"],
        )
        rounds.append(result)
    return revalidation.summarise(rounds, DEFAULT_LIFECYCLE_CONCURRENCY)


# -- Results --------------------------------------------------------------------


def _write_results(results_dir: Path, results: dict[str, Any], markdown: str) -> None:
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = results["started_at"].replace(":", "").replace("-", "")
    document = json.dumps(results, indent=2, ensure_ascii=False) + "\n"
    (results_dir / f"{stamp}.json").write_text(document)
    (results_dir / "latest.json").write_text(document)
    (results_dir / "latest.md").write_text(markdown)
    logger.info("results_written path=%s", results_dir / f"{stamp}.json")


if __name__ == "__main__":
    sys.exit(main())
