"""Several server processes on one database: start-up and graceful shutdown.

Every test here starts real `graphql-api` processes on a database of the
selected backend, as replicas of a deployment would run.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from db import models
from db.migrate import head_revision
from tests.cli_support import CLI, RunningServer, cli_environment, serve
from tests.conftest import GraphQLClient, Seeder
from tests.upstream.accounts import REAUTHORIZE, install, oauth_config
from tests.upstream.vendor import Vendor

pytest_plugins = ["tests.upstream.plugin"]

REPLICAS = 3
POLL_TIMEOUT = 30.0
# Seconds that the vendor's token endpoint waits, so that a reauthorize call is
# still in progress when the server receives SIGTERM.
SLOW_TOKEN_SECONDS = 3.0
# uvicorn raises the signal again once its graceful shutdown is done, so a
# process stopped by SIGTERM ends with that signal's status.
STOPPED_BY_SIGTERM = -signal.SIGTERM


def test_replicas_migrate_one_after_another(database_url: str) -> None:
    environment = cli_environment(database_url)

    processes = [
        subprocess.Popen(
            [str(CLI), "migrate"],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(REPLICAS)
    ]
    results = [process.communicate(timeout=120) for process in processes]

    for process, (stdout, stderr) in zip(processes, results, strict=True):
        assert process.returncode == 0, stderr
        assert stdout == f"Database at revision {head_revision()}.\n"


def _oauth_account(
    seeder: Seeder, vendor: Vendor
) -> tuple[str, models.IntegratedAccount]:
    installed = install(seeder, oauth_config(vendor))
    access, refresh = vendor.oauth.grant()
    account = seeder.account(
        installed.install,
        status="active",
        authentication_method="oauth2",
        context={
            "oauth": {"token": {"access_token": access, "refresh_token": refresh}}
        },
    )
    return installed.token, account


def _wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + POLL_TIMEOUT
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class BackgroundReauthorize:
    """A reauthorize request sent from a thread; keeps its response or error."""

    def __init__(self, server: RunningServer, token: str, account_id: Any) -> None:
        self.response: httpx.Response | None = None
        self.error: httpx.TransportError | None = None
        self._thread = threading.Thread(
            target=self._run, args=(server.base_url, token, str(account_id))
        )

    def _run(self, url: str, token: str, account_id: str) -> None:
        client = GraphQLClient(url)
        try:
            variables = {"input": {"id": account_id}}
            self.response = client.post(REAUTHORIZE, variables, token=token)
        except httpx.TransportError as error:
            self.error = error
        finally:
            client.close()

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        self._thread.join(timeout=POLL_TIMEOUT)

    def payload(self) -> dict[str, Any]:
        """Return the mutation's payload from a 200 response."""
        assert self.response is not None, self.error
        assert self.response.status_code == 200, self.response.text
        body = self.response.json()
        assert "errors" not in body, body
        payload: dict[str, Any] = body["data"]["reauthorizeIntegratedAccount"]
        return payload


def _refused(url: str) -> bool:
    try:
        httpx.get(f"{url}/healthz", timeout=1, trust_env=False)
    except httpx.ConnectError:
        return True
    except httpx.TransportError:
        return False
    return False


def test_sigterm_lets_request_in_progress_finish(
    migrated_database_url: str, upstream: Vendor
) -> None:
    seeder = Seeder(migrated_database_url)
    token, account = _oauth_account(seeder, upstream)
    upstream.oauth.delay = SLOW_TOKEN_SECONDS
    environment = cli_environment(migrated_database_url)

    with serve("--no-migrate", environment=environment) as server:
        request = BackgroundReauthorize(server, token, account.id)
        request.start()
        _wait_for(lambda: upstream.hits("/oauth/token"), "the token request")
        server.process.send_signal(signal.SIGTERM)
        _wait_for(lambda: _refused(server.base_url), "the listener to close")
        finished_before_refusal = request.response is not None
        request.join()
        exit_code = server.process.wait(timeout=POLL_TIMEOUT)
    stored = seeder.get(models.IntegratedAccount, account.id)
    seeder.close()

    assert not finished_before_refusal
    payload = request.payload()
    assert payload["userErrors"] == []
    assert payload["integratedAccount"]["status"] == "ACTIVE"
    assert exit_code == STOPPED_BY_SIGTERM
    assert stored is not None
    assert stored.lease_id is None
    assert stored.context["oauth"]["token"]["refresh_token"] in (
        upstream.oauth.valid_refresh_tokens
    )


def test_shutdown_timeout_ends_stuck_request(
    migrated_database_url: str, upstream: Vendor
) -> None:
    seeder = Seeder(migrated_database_url)
    token, account = _oauth_account(seeder, upstream)
    seeder.close()
    upstream.oauth.delay = 2 * SLOW_TOKEN_SECONDS
    environment = cli_environment(migrated_database_url, SHUTDOWN_TIMEOUT_SECONDS="0.5")

    with serve("--no-migrate", environment=environment) as server:
        request = BackgroundReauthorize(server, token, account.id)
        request.start()
        _wait_for(lambda: upstream.hits("/oauth/token"), "the token request")
        server.process.send_signal(signal.SIGTERM)
        exit_code = server.process.wait(timeout=POLL_TIMEOUT)
        request.join()

    assert exit_code == STOPPED_BY_SIGTERM
    # uvicorn cancels the request when the timeout ends and, since no response
    # had started, sends 500.
    assert request.response is not None, request.error
    assert request.response.status_code == 500
