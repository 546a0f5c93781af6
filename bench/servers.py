"""The servers of a benchmark run: upstream, GraphQL server and baselines.

Each runs as its own process on a free port of 127.0.0.1, with its output in
the run's work folder.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from bench import dataset
from bench.processes import CLI, PYTHON, RunningProcess, running
from bench.settings import BenchSettings
from tests.cli_support import free_port

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
    "RATE_LIMIT_REQUESTS",
)
# Delay of the upstream's responses, in milliseconds.
UPSTREAM_DELAY_MS = 20


def server_environment(database_url: str, log_level: str) -> dict[str, str]:
    """Return the servers' process environment: this one's, with their settings."""
    environment = {
        key: value for key, value in os.environ.items() if key not in _SERVER_VARIABLES
    }
    environment["DATABASE_URL"] = database_url
    environment["LOG_LEVEL"] = log_level
    environment["GRAPHQL_API_SECRET_KEY"] = dataset.SECRET_KEY
    # wrk sends thousands of requests per second with one token, far past
    # the per-token limit that protects a real deployment.
    environment["RATE_LIMIT_REQUESTS"] = "0"
    return environment


def baseline_drivers(database: str) -> dict[str, str]:
    """Name each baseline server by its driver; "baseline" is the reference."""
    if database == "sqlite":
        return {"baseline": "aiosqlite", "baseline (sqlite3 on loop)": "sqlite3"}
    return {"baseline": "asyncpg"}


@contextlib.contextmanager
def start_upstream(
    work_dir: Path, environment: dict[str, str]
) -> Iterator[RunningProcess]:
    """Run `bench.upstream` until the block ends."""
    port = free_port()
    with running(
        "upstream",
        [
            PYTHON,
            "-m",
            "bench.upstream",
            "--port",
            str(port),
            "--delay-ms",
            str(UPSTREAM_DELAY_MS),
        ],
        port=port,
        ready_path="/_stats",
        log_path=work_dir / "upstream.log",
        environment=environment,
    ) as server:
        yield server


@contextlib.contextmanager
def start_graphql_server(
    work_dir: Path, environment: dict[str, str]
) -> Iterator[RunningProcess]:
    """Run ``graphql-api serve --workers 1`` on the prepared database."""
    port = free_port()
    command = [
        CLI,
        "serve",
        "--workers",
        "1",
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
def start_baseline(
    name: str,
    driver: str,
    url: str,
    work_dir: Path,
    environment: dict[str, str],
    settings: BenchSettings,
) -> Iterator[RunningProcess]:
    """Run the `bench.baseline` endpoint with `driver` on the database at `url`."""
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
