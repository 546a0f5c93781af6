"""Workloads 1 to 4: check the responses, then drive every server with wrk in rounds."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench import wrk
from bench.processes import RunningProcess
from bench.report import summarise_rounds
from bench.settings import BenchSettings
from bench.workloads import CONNECTION, Workload, check_same_page

logger = logging.getLogger("bench.lists")

# Seconds of the unrecorded wrk run of each server and workload before round 1.
WARMUP_SECONDS = 2


def _post(url: str, body: dict[str, Any], token: str) -> Any:
    response = httpx.post(
        url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    return response.json()


def verify_responses(
    server: RunningProcess,
    baselines: dict[str, RunningProcess],
    workloads: tuple[Workload, ...],
    token: str,
    deep_next_id: str,
) -> None:
    """Check every server's response before timing: same page, right deep page."""
    for workload in workloads:
        response = _post(f"{server.base_url}/graphql", workload.graphql_body(), token)
        for baseline in baselines.values():
            expected = _post(
                f"{baseline.base_url}/accounts", workload.baseline_body(), token
            )
            check_same_page(response, expected, workload)
        if workload.key == "w3":
            first_id = response["data"][CONNECTION]["nodes"][0]["id"]
            if first_id != deep_next_id:
                raise AssertionError(
                    f"the deep page starts at {first_id}, expected {deep_next_id}"
                )
    logger.info(
        "responses_verified workloads=%d baselines=%d", len(workloads), len(baselines)
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


def measure_lists(
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
    endpoints = {"graphql": (f"{server.base_url}/graphql", "graphql")}
    for name, baseline in baselines.items():
        endpoints[name] = (f"{baseline.base_url}/accounts", "baseline")

    warmup = wrk.LoadSettings(settings.connections, settings.threads, WARMUP_SECONDS)
    for url, kind in endpoints.values():
        for workload in workloads:
            wrk.run_wrk(url, files[workload.key, kind], token, warmup)

    load = wrk.LoadSettings(settings.connections, settings.threads, settings.duration)
    raw: dict[str, dict[str, list[dict[str, Any]]]] = {
        workload.key: {name: [] for name in endpoints} for workload in workloads
    }
    for round_number in range(1, settings.rounds + 1):
        for workload in workloads:
            for name, (url, kind) in endpoints.items():
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
