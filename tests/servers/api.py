"""`graphql-api serve` processes on a seeded database, for end-to-end tests.

The servers run as separate processes, as in production, so the tests see
what a client sees: real sockets, the command's own start-up and settings
read from environment variables.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.cli_support import CLI, cli_environment, free_port
from tests.conftest import Seeder, Tenant, make_tenant

STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
SERVE_COMMAND = (str(CLI), "serve", "--no-migrate", "--host", "127.0.0.1")


@dataclass
class SeededTenant:
    """A tenant with one installed integration and accounts in both environments.

    The probe account, in production, is for `tests.servers.events`.
    """

    tenant: Tenant
    production_account_id: str
    staging_account_id: str
    probe_account_id: str


def seed_tenant(seeder: Seeder) -> SeededTenant:
    """Create a team with two environments, tokens, and accounts in each."""
    tenant = make_tenant(seeder)
    integration = seeder.integration(tenant.team)
    production_install = seeder.install(tenant.production, integration)
    production = seeder.account(production_install)
    probe = seeder.account(production_install)
    staging = seeder.account(seeder.install(tenant.staging, integration))
    return SeededTenant(tenant, str(production.id), str(staging.id), str(probe.id))


@dataclass
class ApiServer:
    """A `graphql-api serve` process and the file that collects its output."""

    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    @property
    def graphql_url(self) -> str:
        return f"{self.base_url}/graphql"

    @property
    def websocket_url(self) -> str:
        return self.graphql_url.replace("http://", "ws://", 1)

    def log(self) -> str:
        """Return what the server has printed so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@contextmanager
def api_server(database_url: str, **settings: str) -> Iterator[ApiServer]:
    """Serve the API from a migrated database in a new process.

    `settings` are environment variables, such as
    ``SUBSCRIPTION_PING_SECONDS="0.5"``. The output goes to a file, which a
    failing start-up shows.
    """
    port = free_port()
    environment = cli_environment(database_url, **settings)
    descriptor, name = tempfile.mkstemp(prefix="graphql-api-serve-", suffix=".log")
    os.close(descriptor)
    log_path = Path(name)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*SERVE_COMMAND, "--port", str(port)],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = ApiServer(process, f"http://127.0.0.1:{port}", log_path)
    try:
        _wait_until_ready(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)
        log_path.unlink(missing_ok=True)


def _wait_until_ready(server: ApiServer) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(
                f"serve exited with {server.process.returncode}:\n{server.log()}"
            )
        try:
            httpx.get(f"{server.base_url}/healthz", timeout=2, trust_env=False)
        except httpx.TransportError:
            time.sleep(0.1)
            continue
        return
    raise AssertionError(f"serve did not start in {STARTUP_TIMEOUT} s:\n{server.log()}")
