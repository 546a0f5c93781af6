"""Workload 6: bulk revalidation through `revalidateIntegratedAccounts`.

The accounts of the four revalidation installs (see `bench.dataset`) all
validate with ``GET /me`` against the loopback upstream of `bench.upstream`,
which responds after 20 ms. Each round revalidates all of them in one
mutation, timed at the client, and then reads the upstream's counters: the
requests served and the maximum in flight per integration.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import httpx

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
