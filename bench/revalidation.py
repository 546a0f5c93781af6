"""Workload 6: bulk revalidation through `revalidateIntegratedAccounts`.

The accounts of the four revalidation installs (see `bench.dataset`) all
validate with ``GET /me`` against the loopback upstream of `bench.upstream`,
which responds after 20 ms. Each round revalidates all of them in one
mutation, timed at the client, and then reads the upstream's counters: the
requests served and the maximum in flight per integration.

`make bench` runs this workload among the others. ``python -m
bench.revalidation`` runs it alone, on the databases and with the dataset
size and rounds of the BENCH_* settings (see `bench.settings`), and prints
the summary of each database as JSON. BENCH_ACCOUNTS=5000 keeps the dataset
build short, because the revalidation installs always get their 2,000
accounts. BENCH_PROFILE_SECONDS, when set, samples the server with py-spy
for that many seconds from the start of the first round and writes the
stacks in py-spy's raw format to the work folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from bench import databases, dataset, profile, servers
from bench.databases import PreparedDatabase
from bench.settings import BenchSettings
from db.crypto import KeyRing, use_keyring
from graphql_api.settings import DEFAULT_LIFECYCLE_CONCURRENCY

REVALIDATE = """
mutation Revalidate($input: RevalidateIntegratedAccountsInput!) {
  revalidateIntegratedAccounts(input: $input) {
    matchedCount revalidatedCount skippedCount
    statusCounts { status count }
    errorCounts { code count }
    userErrors { field message code }
  }
}
"""
# Maximum wait for one bulk mutation, in seconds.
MUTATION_TIMEOUT = 600.0


class RevalidationError(AssertionError):
    """Raised when a round did not revalidate every account successfully."""


def run_round(
    server_url: str,
    upstream_url: str,
    token: str,
    install_ids: list[str],
    expected: int,
) -> dict[str, Any]:
    """Revalidate the accounts of `install_ids` once and return the round's facts."""
    httpx.post(f"{upstream_url}/_stats/reset", timeout=10).raise_for_status()
    variables = {"input": {"filter": {"environmentIntegrationId": {"in": install_ids}}}}
    started = time.perf_counter()
    response = httpx.post(
        f"{server_url}/graphql",
        json={"query": REVALIDATE, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
        timeout=MUTATION_TIMEOUT,
    )
    seconds = time.perf_counter() - started
    payload = _payload(response)
    _check(payload, expected)
    stats = httpx.get(f"{upstream_url}/_stats", timeout=10).json()
    return {
        "seconds": round(seconds, 3),
        "accounts_per_second": round(expected / seconds, 1),
        "matched": payload["matchedCount"],
        "revalidated": payload["revalidatedCount"],
        "status_counts": {
            item["status"]: item["count"] for item in payload["statusCounts"]
        },
        "upstream_requests": sum(stats["served"].values()),
        "max_in_flight_per_integration": stats["max_in_flight"],
        "max_in_flight_total": stats["max_total_in_flight"],
    }


def _payload(response: httpx.Response) -> dict[str, Any]:
    document = response.json()
    if response.status_code != 200 or document.get("errors"):
        raise RevalidationError(
            f"revalidateIntegratedAccounts failed with {response.status_code}: "
            f"{str(document)[:1000]}"
        )
    payload: dict[str, Any] = document["data"]["revalidateIntegratedAccounts"]
    return payload


def _check(payload: dict[str, Any], expected: int) -> None:
    if payload["userErrors"] or payload["errorCounts"]:
        raise RevalidationError(
            f"revalidation reported errors: {payload['userErrors']!r} "
            f"{payload['errorCounts']!r}"
        )
    if payload["revalidatedCount"] != expected:
        raise RevalidationError(
            f"revalidated {payload['revalidatedCount']} of {expected} accounts "
            f"(matched {payload['matchedCount']}, skipped {payload['skippedCount']})"
        )


def summarise(rounds: list[dict[str, Any]], cap: int) -> dict[str, Any]:
    """Return the median rate, its spread and the largest concurrency seen."""
    rates = [r["accounts_per_second"] for r in rounds]
    per_integration = max(
        max(r["max_in_flight_per_integration"].values(), default=0) for r in rounds
    )
    return {
        "accounts": rounds[0]["matched"],
        "cap_per_integration": cap,
        "median_accounts_per_second": round(statistics.median(rates), 1),
        "min_accounts_per_second": min(rates),
        "max_accounts_per_second": max(rates),
        "max_in_flight_per_integration": per_integration,
        "max_in_flight_total": max(r["max_in_flight_total"] for r in rounds),
        "rounds": rounds,
    }


# -- Running this workload alone ----------------------------------------------


def main() -> int:
    """Run the revalidation rounds on every BENCH_DATABASES database."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = BenchSettings.from_env()
    use_keyring(KeyRing.from_setting(dataset.SECRET_KEY))
    summaries = {
        database: _measure(database, settings) for database in settings.databases
    }
    json.dump(_without_rounds(summaries), sys.stdout, indent=2)
    print()
    return 0


def _measure(database: str, settings: BenchSettings) -> dict[str, Any]:
    work_dir = settings.work_dir / f"revalidation-{database}"
    catalog = dataset.make_catalog()
    installs = [str(install.id) for install in catalog.revalidation_installs]
    expected = len(installs) * dataset.REVALIDATION_ACCOUNTS_PER_INSTALL
    with contextlib.ExitStack() as stack:
        prepared = stack.enter_context(_prepared(database, settings, work_dir))
        environment = servers.server_environment(prepared.url, settings.log_level)
        upstream = stack.enter_context(servers.start_upstream(work_dir, environment))
        asyncio.run(databases.point_at_upstream(prepared.url, upstream.base_url))
        server = stack.enter_context(
            servers.start_graphql_server(work_dir, environment)
        )
        rounds = []
        for round_number in range(settings.rounds):
            recorder = None
            stacks = work_dir / "revalidation-stacks.txt"
            if round_number == 0 and settings.profile_seconds:
                recorder = profile.start_recording(
                    server.pid, settings.profile_seconds, stacks
                )
            rounds.append(
                run_round(
                    server.base_url,
                    upstream.base_url,
                    catalog.token,
                    installs,
                    expected,
                )
            )
            if recorder is not None:
                profile.finish_recording(recorder, stacks)
    return summarise(rounds, DEFAULT_LIFECYCLE_CONCURRENCY)


@contextlib.contextmanager
def _prepared(
    database: str, settings: BenchSettings, work_dir: Path
) -> Iterator[PreparedDatabase]:
    if database == "sqlite":
        yield databases.sqlite_copy(
            settings.cache_dir, work_dir / "api.db", settings.accounts
        )
        return
    with databases.postgres_copy(settings.cache_dir, settings.accounts) as prepared:
        yield prepared


def _without_rounds(summaries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        database: {key: value for key, value in summary.items() if key != "rounds"}
        | {"rates": [r["accounts_per_second"] for r in summary["rounds"]]}
        for database, summary in summaries.items()
    }


if __name__ == "__main__":
    sys.exit(main())
