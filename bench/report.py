"""Summaries, targets and the printed report of a benchmark run.

The targets are reported, not asserted: a miss is a measured fact about the
current server, and the run still succeeds.

``python -m bench.report [RESULTS_JSON]`` renders a results file again
(default: ``bench/results/latest.json``) and prints the Markdown.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Workloads 1 to 4 should reach this share of the baseline's throughput.
BASELINE_SHARE_TARGET = 0.5
# Workload 3's median latency relative to workload 1's.
DEEP_LATENCY_RATIO_TARGET = 1.2
MAX_QUERIES_PER_LIST = 2
ENGINE_TARGET_MICROSECONDS = 50.0
REVALIDATION_TARGET_PER_SECOND = 500.0
RSS_TARGET_MIB = 200.0


def summarise_rounds(rounds: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Return the median throughput and latency of wrk rounds, with their spread."""
    rates = [r["requests_per_second"] for r in rounds]
    median = statistics.median(rates)
    return {
        "median_rps": round(median, 1),
        "min_rps": round(min(rates), 1),
        "max_rps": round(max(rates), 1),
        "spread_percent": round(100 * (max(rates) - min(rates)) / median, 1)
        if median
        else None,
        "median_p50_ms": round(
            statistics.median(r["latency_us"]["p50"] for r in rounds) / 1000, 2
        ),
        "median_p99_ms": round(
            statistics.median(r["latency_us"]["p99"] for r in rounds) / 1000, 2
        ),
        "failures": sum(
            r["failed_responses"] + sum(r["socket_errors"].values()) for r in rounds
        ),
        "rounds": [
            {
                "rps": round(r["requests_per_second"], 1),
                "p50_ms": round(r["latency_us"]["p50"] / 1000, 2),
                "p99_ms": round(r["latency_us"]["p99"] / 1000, 2),
                "requests": r["requests"],
                "failed_responses": r["failed_responses"],
                "socket_errors": r["socket_errors"],
            }
            for r in rounds
        ],
    }


@dataclass(frozen=True, slots=True)
class Target:
    """One target with its measured value."""

    name: str
    database: str
    goal: str
    measured: str
    met: bool

    def as_dict(self) -> dict[str, Any]:
        """Return the target as a JSON object."""
        return {
            "name": self.name,
            "database": self.database,
            "goal": self.goal,
            "measured": self.measured,
            "status": "pass" if self.met else "miss",
        }


def evaluate_targets(results: dict[str, Any]) -> list[Target]:
    """Compare the measurements of a run with every target."""
    targets = [_engine_target(results["engine"])]
    for database, measured in results["databases"].items():
        targets.extend(_database_targets(database, measured))
    return targets


def _engine_target(engine: dict[str, Any]) -> Target:
    value = engine["one_call_microseconds"]
    return Target(
        "W5 engine: render + 2 expressions per call",
        "-",
        f"< {ENGINE_TARGET_MICROSECONDS:g} µs",
        f"{value:.1f} µs",
        value < ENGINE_TARGET_MICROSECONDS,
    )


def _database_targets(database: str, measured: dict[str, Any]) -> list[Target]:
    targets = []
    workloads = measured["workloads"]
    for key, result in workloads.items():
        share = _ratio(
            result["graphql"]["median_rps"], result["baseline"]["median_rps"]
        )
        targets.append(
            Target(
                f"{key.upper()} throughput vs baseline",
                database,
                f">= {BASELINE_SHARE_TARGET:g}x",
                f"{share:.3f}x ({result['graphql']['median_rps']:.0f} vs "
                f"{result['baseline']['median_rps']:.0f} req/s)",
                share >= BASELINE_SHARE_TARGET,
            )
        )
    first = workloads["w1"]["graphql"]["median_p50_ms"]
    deep = workloads["w3"]["graphql"]["median_p50_ms"]
    targets.append(
        Target(
            "W3 p50 latency vs W1",
            database,
            f"<= {DEEP_LATENCY_RATIO_TARGET:g}x",
            f"{_ratio(deep, first):.2f}x ({deep:.1f} vs {first:.1f} ms)",
            0 < deep <= DEEP_LATENCY_RATIO_TARGET * first,
        )
    )
    targets.extend(_statement_targets(database, measured["statements"]))
    targets.extend(_revalidation_targets(database, measured["revalidation"]))
    rss = measured["memory"]["rss_kib"] / 1024
    targets.append(
        Target(
            "server RSS after the run",
            database,
            f"< {RSS_TARGET_MIB:g} MiB",
            f"{rss:.0f} MiB",
            rss < RSS_TARGET_MIB,
        )
    )
    return targets


def _ratio(value: float, reference: float) -> float:
    """Divide, giving NaN when the reference is 0 (a run too short to count)."""
    return value / reference if reference else float("nan")


def _statement_targets(database: str, cases: list[dict[str, Any]]) -> list[Target]:
    plain = [case for case in cases if not case["total_count_selected"]]
    counted = [case for case in cases if case["total_count_selected"]]
    max_queries = max(case["queries"] for case in plain)
    sizes = sorted({case["page_size"] for case in plain})
    targets = [
        Target(
            "SQL queries per list request",
            database,
            f"<= {MAX_QUERIES_PER_LIST}",
            f"max {max_queries} over page sizes {', '.join(map(str, sizes))}",
            max_queries <= MAX_QUERIES_PER_LIST,
        )
    ]
    without = sum(_counts(case) for case in plain)
    selected = sum(_counts(case) for case in counted)
    targets.append(
        Target(
            "COUNT only when totalCount is selected",
            database,
            "0 without, 1 with",
            f"{without} without, {selected} with",
            without == 0 and selected == len(counted),
        )
    )
    return targets


def _counts(case: dict[str, Any]) -> int:
    return sum(1 for s in case["statements"] if "count(" in s.lower())


def _revalidation_targets(database: str, result: dict[str, Any]) -> list[Target]:
    goal = f">= {REVALIDATION_TARGET_PER_SECOND:g} accounts/s"
    if "error" in result:
        failed = f"failed: {result['error'][:120]}"
        return [Target("W6 bulk revalidation", database, goal, failed, False)]
    rate = result["median_accounts_per_second"]
    seen = result["max_in_flight_per_integration"]
    cap = result["cap_per_integration"]
    return [
        Target(
            f"W6 bulk revalidation of {result['accounts']} accounts",
            database,
            goal,
            f"{rate:.0f} accounts/s",
            rate >= REVALIDATION_TARGET_PER_SECOND,
        ),
        Target(
            "W6 per-integration upstream concurrency",
            database,
            f"<= cap {cap}",
            f"max {seen} in flight (all integrations: {result['max_in_flight_total']})",
            seen <= cap,
        ),
    ]


def targets_table(targets: Sequence[Target]) -> str:
    """Render the targets as a Markdown table."""
    lines = [
        "| Target | Database | Goal | Measured | Result |",
        "| --- | --- | --- | --- | --- |",
    ]
    for target in targets:
        result = "pass" if target.met else "**miss**"
        lines.append(
            f"| {target.name} | {target.database} | {target.goal} | "
            f"{target.measured} | {result} |"
        )
    return "\n".join(lines)


def throughput_table(results: dict[str, Any]) -> str:
    """Render workloads 1 to 4 on every server as a Markdown table."""
    lines = [
        "| Database | Workload | Server | Median req/s | Min-max req/s | Spread "
        "| p50 ms | p99 ms | Failures |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for database, measured in results["databases"].items():
        for key, servers in measured["workloads"].items():
            for server, summary in servers.items():
                spread = summary["spread_percent"]
                spread_text = "n/a" if spread is None else f"{spread:.1f} %"
                lines.append(
                    f"| {database} | {key.upper()} | {server} | "
                    f"{summary['median_rps']:.0f} | {summary['min_rps']:.0f}-"
                    f"{summary['max_rps']:.0f} | {spread_text} | "
                    f"{summary['median_p50_ms']:.2f} | "
                    f"{summary['median_p99_ms']:.2f} | {summary['failures']} |"
                )
    return "\n".join(lines)


def statements_table(results: dict[str, Any]) -> str:
    """Render the statement counts and page query plans as a Markdown table."""
    lines = [
        "| Database | Request | Queries | Statements (truncated) | Page query plan |",
        "| --- | --- | --- | --- | --- |",
    ]
    for database, measured in results["databases"].items():
        for case in measured["statements"]:
            statements = "<br>".join(
                f"`{statement[:60]}`" for statement in case["statements"]
            )
            plan = "<br>".join(
                f"`{line.strip()[:90]}`" for line in case.get("page_query_plan", [])
            )
            lines.append(
                f"| {database} | {case['case']} | {case['queries']} | {statements} "
                f"| {plan} |"
            )
    return "\n".join(lines)


def profile_table(results: dict[str, Any]) -> str:
    """Render each database's profile of workload 1 by layer as a Markdown table."""
    lines = [
        "| Database | Layer | Self % | Inclusive % |",
        "| --- | --- | --- | --- |",
    ]
    for database, measured in results["databases"].items():
        summary = measured.get("profile") or {}
        inclusive = summary.get("inclusive_percent", {})
        for layer, share in summary.get("self_percent", {}).items():
            lines.append(
                f"| {database} | {layer} | {share:.1f} | "
                f"{inclusive.get(layer, 0.0):.1f} |"
            )
    return "\n".join(lines)


def focus_table(results: dict[str, Any]) -> str:
    """Render the costs that cut across layers, per database, as a Markdown table."""
    lines = ["| Database | Cost | Inclusive % |", "| --- | --- | --- |"]
    for database, measured in results["databases"].items():
        summary = measured.get("profile") or {}
        for name, share in summary.get("focus_percent", {}).items():
            lines.append(f"| {database} | {name} | {share:.1f} |")
    return "\n".join(lines)


def render_markdown(results: dict[str, Any], targets: Sequence[Target]) -> str:
    """Render a run as Markdown: machine, command, targets and tables."""
    machine = results["machine"]
    settings = results["settings"]
    sections = [
        f"Run {results['started_at']} on commit `{results['commit']}`: "
        f"{machine['cpu_model']}, {machine['cpus']} CPUs, "
        f"{machine['memory_gib']} GiB memory, Linux {machine['kernel']}, "
        f"Python {machine['python']}.",
        f"Command: `{results['command']}` with duration {settings['duration']} s, "
        f"{settings['rounds']} rounds, {settings['connections']} connections, "
        f"{settings['threads']} wrk thread(s), log level {settings['log_level']}, "
        f"{settings['accounts']} accounts.",
        targets_table(targets),
        throughput_table(results),
        statements_table(results),
        profile_table(results),
        focus_table(results),
    ]
    return "\n\n".join(sections) + "\n"


def main() -> None:
    default = Path(__file__).resolve().parent / "results" / "latest.json"
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    results = json.loads(path.read_text())
    print(render_markdown(results, evaluate_targets(results)), end="")


if __name__ == "__main__":
    main()
