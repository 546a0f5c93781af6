"""Helpers for tests that drive the `graphql-api` command as a user would.

The command runs as a subprocess from the same virtual environment as the
tests, with a clean set of settings variables and a SQLite file in the test's
temporary folder.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

CLI = Path(sys.executable).parent / "graphql-api"
REPOSITORY = Path(__file__).resolve().parents[1]
SHARED = REPOSITORY / ".." / "shared"

# Settings variables that a developer's shell may have set. The tests clear
# them so that only what a test passes reaches the command.
_SETTINGS_VARIABLES = (
    "DATABASE_URL",
    "GRAPHQL_API_SECRET_KEY",
    "HOST",
    "PORT",
    "LOG_LEVEL",
    "GRAPHQL_API_DEMO",
)


# The secret key of every server and command that the tests start. Only a test
# may use a key that is written down, since anyone can read it here.
TEST_SECRET_KEY = "89QGpW-k1ro-M-yX91mGKfMSNkQ-HkpvK4K77sNvcEU"


def sqlite_url(path: Path) -> str:
    """Return the async SQLAlchemy URL of a SQLite file."""
    return f"sqlite+aiosqlite:///{path}"


def cli_environment(database_url: str, **extra: str) -> dict[str, str]:
    """Return a process environment with `database_url`, the tests' key and `extra`."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in _SETTINGS_VARIABLES
    }
    environment["DATABASE_URL"] = database_url
    environment["GRAPHQL_API_SECRET_KEY"] = TEST_SECRET_KEY
    environment.update(extra)
    return environment


def run_cli(
    *arguments: str,
    environment: Mapping[str, str],
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run `graphql-api` with `arguments` and return its exit code and output."""
    return subprocess.run(
        [str(CLI), *arguments],
        env=dict(environment),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class RunningServer:
    """A `graphql-api serve` subprocess and the first lines it printed."""

    process: subprocess.Popen[str]
    base_url: str
    stdout_lines: list[str]

    def graphql(self, query: str, token: str | None) -> httpx.Response:
        """POST `query` to /graphql, with `token` as the bearer token if given."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.post(
            f"{self.base_url}/graphql",
            json={"query": query},
            headers=headers,
            timeout=30,
        )


@contextmanager
def serve(
    *arguments: str,
    environment: Mapping[str, str],
    startup_timeout: float = 60,
) -> Iterator[RunningServer]:
    """Start `graphql-api serve` on a free port and stop it on exit.

    Waits until /graphql accepts connections. Lines printed to stdout before
    that are kept in `RunningServer.stdout_lines`.
    """
    port = free_port()
    process = subprocess.Popen(
        [str(CLI), "serve", "--host", "127.0.0.1", "--port", str(port), *arguments],
        env=dict(environment),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    server = RunningServer(process, f"http://127.0.0.1:{port}", [])
    try:
        _wait_until_listening(server, startup_timeout)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)
        if process.stdout is not None:
            process.stdout.close()


def _wait_until_listening(server: RunningServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            output = server.process.stdout.read() if server.process.stdout else ""
            raise AssertionError(
                f"serve exited with {server.process.returncode}: {output}"
            )
        try:
            httpx.get(f"{server.base_url}/graphql", timeout=2)
        except httpx.TransportError:
            time.sleep(0.2)
            continue
        break
    else:
        raise AssertionError(f"serve did not listen within {timeout} s")
    server.stdout_lines.extend(_read_available_lines(server.process))


def _read_available_lines(process: subprocess.Popen[str]) -> list[str]:
    """Read the stdout lines printed so far without waiting for more."""
    if process.stdout is None:
        return []
    os.set_blocking(process.stdout.fileno(), False)
    text = process.stdout.read() or ""
    return text.splitlines()


def write_json(path: Path, document: Any) -> Path:
    """Write `document` to `path` as JSON and return the path."""
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path
