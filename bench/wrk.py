"""Run wrk, the HTTP load generator, against a server on 127.0.0.1.

wrk runs as its own process, so the load generator does not share the
server's interpreter. `bench/post.lua` sends the POST body and token and
counts failed responses; its ``done`` hook prints the summary as JSON.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LUA_SCRIPT = Path(__file__).resolve().parent / "post.lua"
RESULT_PREFIX = "BENCH_RESULT "
# A request slower than this counts as a timeout in wrk's summary, in seconds.
REQUEST_TIMEOUT = 30


class WrkError(RuntimeError):
    """Raised when wrk is missing, fails, or prints no summary."""


@dataclass(frozen=True, slots=True)
class LoadSettings:
    """wrk's connections, threads and duration in seconds."""

    connections: int
    threads: int
    duration: int


def wrk_path() -> str:
    """Return the wrk executable, or raise WrkError with the install command."""
    found = shutil.which("wrk")
    if found is None:
        raise WrkError(
            "wrk is not installed: run `apt-get install -y wrk` (Debian) or "
            "install it from your system's packages"
        )
    return found


def wrk_version() -> str:
    """Return wrk's version line."""
    result = subprocess.run(
        [wrk_path(), "--version"], capture_output=True, text=True, check=False
    )
    return (result.stdout or result.stderr).splitlines()[0].strip()


def run_wrk(
    url: str, body_file: Path, token: str, load: LoadSettings
) -> dict[str, Any]:
    """Send the body in `body_file` to `url` for `load.duration` seconds.

    Returns wrk's summary with ``requests_per_second`` added; failed
    responses are counted in ``failed_responses`` and not left out of
    ``requests``.
    """
    command = [
        wrk_path(),
        f"--threads={load.threads}",
        f"--connections={load.connections}",
        f"--duration={load.duration}s",
        f"--timeout={REQUEST_TIMEOUT}s",
        f"--script={LUA_SCRIPT}",
        url,
        "--",
        str(body_file),
        token,
    ]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
        timeout=load.duration + REQUEST_TIMEOUT + 30,
    )
    summary = _parse_summary(result.stdout)
    if result.returncode != 0 or summary is None:
        raise WrkError(
            f"wrk exited with {result.returncode} and printed no summary: "
            f"{(result.stderr or result.stdout).strip()[:1000]}"
        )
    seconds = summary["duration_us"] / 1_000_000
    summary["requests_per_second"] = summary["requests"] / seconds
    return summary


def _parse_summary(output: str) -> dict[str, Any] | None:
    for line in output.splitlines():
        if line.startswith(RESULT_PREFIX):
            summary: dict[str, Any] = json.loads(line[len(RESULT_PREFIX) :])
            return summary
    return None


def failures(summary: dict[str, Any]) -> int:
    """Count the failed responses and socket errors of a wrk summary."""
    socket_errors = sum(summary["socket_errors"].values())
    return int(summary["failed_responses"]) + int(socket_errors)
