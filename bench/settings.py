"""Benchmark settings, read once from BENCH_* environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPOSITORY = BENCH_DIR.parent
DATABASES = ("sqlite", "postgresql")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class BenchSettingsError(ValueError):
    """Raised when a BENCH_* variable has a value the harness cannot use."""


@dataclass(frozen=True, slots=True)
class BenchSettings:
    """Settings of one benchmark run: what it measures, and for how long."""

    # Seconds of each wrk run, and the number of rounds per workload.
    duration: int = 10
    rounds: int = 3
    databases: tuple[str, ...] = DATABASES
    # wrk's open connections and threads.
    connections: int = 16
    threads: int = 1
    # Integrated accounts in the dataset.
    accounts: int = 200_000
    # Seconds that py-spy samples the server during workload 1; 0 skips it.
    profile_seconds: int = 15
    # LOG_LEVEL of the GraphQL server and the baseline server.
    log_level: str = "WARNING"
    cache_dir: Path = BENCH_DIR / ".cache"
    results_dir: Path = BENCH_DIR / "results"
    work_dir: Path = BENCH_DIR / ".work"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BenchSettings:
        """Read the settings from `environ` (default: the process environment)."""
        env = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            duration=_whole(env, "BENCH_DURATION", defaults.duration, 1, 600),
            rounds=_whole(env, "BENCH_ROUNDS", defaults.rounds, 1, 50),
            databases=_databases(env.get("BENCH_DATABASES")),
            connections=_whole(env, "BENCH_CONNECTIONS", defaults.connections, 1, 1000),
            threads=_whole(env, "BENCH_THREADS", defaults.threads, 1, 64),
            accounts=_whole(env, "BENCH_ACCOUNTS", defaults.accounts, 1000, 10**7),
            profile_seconds=_whole(
                env, "BENCH_PROFILE_SECONDS", defaults.profile_seconds, 0, 600
            ),
            log_level=_log_level(env.get("BENCH_LOG_LEVEL"), defaults.log_level),
            cache_dir=Path(env.get("BENCH_CACHE_DIR") or defaults.cache_dir),
            results_dir=Path(env.get("BENCH_RESULTS_DIR") or defaults.results_dir),
        )


def _whole(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise BenchSettingsError(
            f"{name}={raw!r} is invalid: expected a whole number from {low} to {high}"
        )
    return value


def _databases(raw: str | None) -> tuple[str, ...]:
    if not raw:
        return DATABASES
    names = tuple(name.strip().lower() for name in raw.split(",") if name.strip())
    unknown = [name for name in names if name not in DATABASES]
    if unknown or not names:
        raise BenchSettingsError(
            f"BENCH_DATABASES={raw!r} is invalid: expected a comma-separated "
            f"list of {', '.join(DATABASES)}"
        )
    return names


def _log_level(raw: str | None, default: str) -> str:
    if not raw:
        return default
    level = raw.strip().upper()
    if level not in _LOG_LEVELS:
        raise BenchSettingsError(
            f"BENCH_LOG_LEVEL={raw!r} is invalid: expected one of "
            f"{', '.join(_LOG_LEVELS)}"
        )
    return level
