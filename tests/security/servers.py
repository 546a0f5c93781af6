"""API servers for the security tests: in-process with chosen limits, or a
`graphql-api serve` subprocess whose log output is kept in a file.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import httpx

from graphql_api.security.settings import SecuritySettings
from graphql_api.settings import Settings
from tests.cli_support import CLI, TEST_SECRET_KEY, cli_environment, free_port
from tests.conftest import LiveServer, run_server

STARTUP_TIMEOUT = 60.0


def sqlite_url(path: Path) -> str:
    """Return the async SQLAlchemy URL of a SQLite file."""
    return f"sqlite+aiosqlite:///{path}"


@contextmanager
def limited_server(path: Path, **limits: object) -> Iterator[LiveServer]:
    """Serve a new SQLite database at `path` with some security settings changed."""
    url = sqlite_url(path)
    security = replace(SecuritySettings(), **limits)  # type: ignore[arg-type]
    settings = Settings(database_url=url, secret_key=TEST_SECRET_KEY, security=security)
    with run_server(url, settings) as server:
        yield server


class LoggedServer:
    """A `graphql-api serve` subprocess that writes its log output to a file."""

    def __init__(self, base_url: str, log_path: Path, database_url: str) -> None:
        self.base_url = base_url
        self.log_path = log_path
        self.database_url = database_url

    def log_text(self) -> str:
        """The log output written so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@contextmanager
def logged_server(
    database_url: str, log_path: Path, **environment: str
) -> Iterator[LoggedServer]:
    """Run `graphql-api serve` on a free port with its output in `log_path`.

    The server logs at DEBUG level unless `environment` sets LOG_LEVEL.
    """
    port = free_port()
    env = cli_environment(database_url, **{"LOG_LEVEL": "DEBUG", **environment})
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [str(CLI), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = LoggedServer(f"http://127.0.0.1:{port}", log_path, database_url)
    try:
        _wait_until_healthy(process, server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


def _wait_until_healthy(process: subprocess.Popen[bytes], server: LoggedServer) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"serve exited with {process.returncode}: {server.log_text()}"
            )
        try:
            response = httpx.get(
                f"{server.base_url}/healthz", timeout=2, trust_env=False
            )
        except httpx.TransportError:
            time.sleep(0.1)
            continue
        if response.status_code == 200:
            return
        time.sleep(0.1)
    raise AssertionError(f"serve did not answer within {STARTUP_TIMEOUT} s")
