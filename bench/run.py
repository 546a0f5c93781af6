"""Run the whole benchmark: `make bench`, or ``python -m bench.run``.

For each database in BENCH_DATABASES it prepares a copy of the dataset,
starts the loopback upstream, the GraphQL server (``graphql-api serve
--workers 1``) and the baseline servers, checks that they give the same
responses, and then drives them with wrk in rounds. It also counts SQL
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

from bench import (
    databases,
    dataset,
    engine_bench,
    lists,
    profile,
    revalidation,
    servers,
    wrk,
)
from bench.dataset import Catalog, make_catalog
from bench.machine import describe_machine, describe_software, git_commit
from bench.processes import RunningProcess
from bench.report import evaluate_targets, render_markdown
from bench.settings import REPOSITORY, BenchSettings, BenchSettingsError
from bench.statements import CountCase, count_statements
from bench.workloads import (
    CONNECTION,
    Workload,
    deep_page_depth,
    list_workloads,
)
from db.crypto import KeyRing, use_keyring
from graphql_api.pagination import encode_cursor
from graphql_api.settings import DEFAULT_LIFECYCLE_CONCURRENCY
from graphql_api.types.ordering import NEWEST_FIRST
from tests.postgres_support import find_postgres_binaries

logger = logging.getLogger("bench.run")

COMMAND = "make bench"
# Engine microbenchmark size: calls per round and rounds (the best counts).
ENGINE_CALLS = 2000
ENGINE_ROUNDS = 7


def main() -> int:
    _configure_logging()
    try:
        settings = _checked_settings()
    except (BenchSettingsError, wrk.WrkError, profile.ProfilerError) as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    except LookupError as error:
        print(
            f"bench: PostgreSQL is not available: {error}. Set "
            "BENCH_DATABASES=sqlite to measure SQLite alone.",
            file=sys.stderr,
        )
        return 2

    # The dataset's credentials are sealed with this key. This process needs
    # it to build and read the dataset, and the servers get it as a setting.
    use_keyring(KeyRing.from_setting(dataset.SECRET_KEY))
    results = _header(settings)
    results["engine"] = measure_engine()
    for database in settings.databases:
        logger.info("database_started database=%s", database)
        results["databases"][database] = run_database(database, settings)
    results["finished_at"] = _now()

    targets = evaluate_targets(results)
    results["targets"] = [target.as_dict() for target in targets]
    markdown = render_markdown(results, targets)
    _write_results(settings.results_dir, results, markdown)
    print(markdown)
    return 0


def _configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    # The statement count runs the application in this process, and its
    # request lines and httpx's would drown the harness's progress lines.
    for name in ("httpx", "graphql_api", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _checked_settings() -> BenchSettings:
    """Read the settings and check that the tools they need are installed."""
    settings = BenchSettings.from_env()
    wrk.wrk_path()
    if settings.profile_seconds:
        profile.py_spy_path()
    if "postgresql" in settings.databases:
        find_postgres_binaries()
    return settings


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
        # The load average shows whether other work shared the machine.
        facts = {
            "dataset_source": prepared.source,
            "prepare_seconds": round(prepared.seconds, 1),
            "load_average_before": _load_average(),
        }
        measured = _run_on(database, prepared.url, settings, work_dir)
    return {**facts, **measured, "load_average_after": _load_average()}


def _load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


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


def _run_on(
    database: str, url: str, settings: BenchSettings, work_dir: Path
) -> dict[str, Any]:
    catalog = make_catalog()
    environment = servers.server_environment(url, settings.log_level)
    with contextlib.ExitStack() as stack:
        upstream = stack.enter_context(servers.start_upstream(work_dir, environment))
        asyncio.run(databases.point_at_upstream(url, upstream.base_url))
        workloads, deep_next_id = _make_workloads(url, settings.accounts)
        statements = asyncio.run(
            count_statements(
                url, dataset.SECRET_KEY, catalog.token, _count_cases(workloads)
            )
        )
        server = stack.enter_context(
            servers.start_graphql_server(work_dir, environment)
        )
        baselines = {
            name: stack.enter_context(
                servers.start_baseline(
                    name, driver, url, work_dir, environment, settings
                )
            )
            for name, driver in servers.baseline_drivers(database).items()
        }
        lists.verify_responses(
            server, baselines, workloads, catalog.token, deep_next_id
        )
        measured = lists.measure_lists(
            server, baselines, workloads, catalog.token, settings, work_dir
        )
        # A failed profile or revalidation is recorded as a miss, so that the
        # measurements taken before it are still written.
        try:
            profile_summary = _profile(
                server, workloads[0], catalog.token, settings, work_dir, database
            )
        except profile.ProfilerError as error:
            logger.error("profile_failed database=%s error=%s", database, error)
            profile_summary = {"error": str(error)}
        try:
            bulk = _revalidate(server, upstream, catalog, settings)
        except revalidation.RevalidationError as error:
            logger.error("revalidation_failed database=%s error=%s", database, error)
            bulk = {"error": str(error)}
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
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    stacks = settings.results_dir / "profiles" / f"{stamp}-{database}-w1.txt"
    body = work_dir / "body-w1-graphql.json"
    recorder = profile.start_recording(server.pid, settings.profile_seconds, stacks)
    load = wrk.LoadSettings(
        settings.connections, settings.threads, settings.profile_seconds + 1
    )
    summary = wrk.run_wrk(f"{server.base_url}/graphql", body, token, load)
    profile.finish_recording(recorder, stacks)
    stacks = profile.compress(stacks)
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
