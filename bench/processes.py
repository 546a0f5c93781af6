"""Start and stop the servers of a benchmark run as subprocesses on 127.0.0.1."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.settings import REPOSITORY

logger = logging.getLogger("bench.processes")

PYTHON = sys.executable
CLI = str(Path(sys.executable).parent / "graphql-api")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


class ServerStartError(RuntimeError):
    """Raised when a server exits or does not respond before `START_TIMEOUT`."""


@dataclass(frozen=True, slots=True)
class RunningProcess:
    """A server subprocess, its base URL and its log file."""

    name: str
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    @property
    def pid(self) -> int:
        """The process id."""
        return self.process.pid

    def memory(self) -> dict[str, int]:
        """Return the resident set size now and at its peak, in KiB."""
        fields = {"VmRSS": "rss_kib", "VmHWM": "peak_rss_kib"}
        found: dict[str, int] = {}
        status = Path(f"/proc/{self.pid}/status").read_text()
        for line in status.splitlines():
            key, _, value = line.partition(":")
            if key in fields:
                found[fields[key]] = int(value.split()[0])
        return found


@contextmanager
def running(
    name: str,
    command: list[str],
    *,
    port: int,
    ready_path: str,
    log_path: Path,
    environment: Mapping[str, str],
) -> Iterator[RunningProcess]:
    """Start `command`, wait until GET `ready_path` responds, stop it on exit.

    Any HTTP status counts as ready, because some readiness paths need a
    token or a POST. The process's output goes to `log_path`.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=REPOSITORY,
            env=dict(environment),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = RunningProcess(name, process, f"http://127.0.0.1:{port}", log_path)
    try:
        _wait_until_ready(server, ready_path)
        logger.info(
            "server_started name=%s pid=%d url=%s", name, server.pid, server.base_url
        )
        yield server
    finally:
        _stop(server)


def _wait_until_ready(server: RunningProcess, path: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerStartError(
                f"{server.name} exited with {server.process.returncode} before "
                f"responding; see its log {server.log_path}"
            )
        try:
            httpx.get(f"{server.base_url}{path}", timeout=2)
        except httpx.TransportError:
            time.sleep(0.2)
            continue
        return
    raise ServerStartError(
        f"{server.name} did not respond to GET {path} within {START_TIMEOUT} s; "
        f"see its log {server.log_path}"
    )


def _stop(server: RunningProcess) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        logger.warning("server_killed name=%s pid=%d", server.name, server.pid)
        server.process.kill()
        server.process.wait(timeout=STOP_TIMEOUT)
    logger.info("server_stopped name=%s pid=%d", server.name, server.pid)
