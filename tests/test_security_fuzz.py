"""Generated GraphQL operations never make the server fail.

hypothesis-graphql builds queries and mutations from the schema: valid ones,
and ones with a single schema violation such as a wrong argument type. Each
goes to a running server over HTTP. No response may be a 5xx, contain a
Python traceback, or carry an INTERNAL_SERVER_ERROR, which the server uses
for unexpected exceptions.

Ids in generated operations are random, so they never name a seeded record,
and the only upstream that a run can reach is the unused port 9 on
127.0.0.1 of the seeded configs. ``SECURITY_FUZZ_OPERATIONS`` sets the
number of operations per strategy and mode (default 500, so 2,000 in all);
``make fuzz`` runs a larger, randomized search.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, mutations, nodes, queries

from graphql_api.schema import schema_sdl
from tests.conftest import Seeder, make_tenant
from tests.database_backend import selected_backend
from tests.security.servers import LoggedServer, logged_server, sqlite_url

OPERATIONS = int(os.environ.get("SECURITY_FUZZ_OPERATIONS", "500"))
# Requests in flight while Hypothesis generates the next operations.
CONCURRENCY = 8
# A fixed seed keeps `make test` reproducible; `make fuzz` explores.
RANDOMIZED = os.environ.get("SECURITY_FUZZ_RANDOM") == "1"

SCALARS = {
    "DateTime": st.datetimes(timezones=st.just(UTC)).map(
        lambda moment: nodes.String(moment.isoformat())
    ),
    "JSON": st.one_of(
        st.just(nodes.Object([])),
        st.text(max_size=20).map(nodes.String),
        st.integers(-1000, 1000).map(nodes.Int),
    ),
}
SCHEMA = schema_sdl()


@pytest.fixture(scope="module")
def fuzz_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LoggedServer]:
    if selected_backend(request.config) != "sqlite":
        # The search takes minutes and exercises the same server code on
        # either database, so `make test` runs it once, with SQLite.
        pytest.skip("the generated-operation search runs with --database=sqlite")
    # A separate process responds faster than a server thread of this process,
    # and its log shows any exception that the responses hide.
    folder = tmp_path_factory.mktemp("fuzz")
    url = sqlite_url(folder / "api.db")
    # Thousands of requests come from one token, so rate limiting is off.
    # Lower limits reject the largest random documents before execution, so
    # the time goes to many operations rather than a few huge ones.
    with logged_server(
        url,
        folder / "server.log",
        LOG_LEVEL="INFO",
        RATE_LIMIT_REQUESTS="0",
        QUERY_MAX_COST="300",
        QUERY_MAX_DEPTH="8",
    ) as server:
        yield server


@pytest.fixture(scope="module")
def fuzz_http(fuzz_server: LoggedServer) -> Iterator[httpx.Client]:
    seeder = Seeder(fuzz_server.database_url)
    try:
        tenant = make_tenant(seeder)
        integration = seeder.integration(tenant.team, "fuzzed")
        install = seeder.install(tenant.production, integration)
        seeder.add(*(seeder.account_row(install) for _ in range(3)))
    finally:
        seeder.close()
    headers = {"authorization": f"Bearer {tenant.team_token}"}
    with httpx.Client(
        base_url=fuzz_server.base_url, headers=headers, timeout=30, trust_env=False
    ) as http:
        yield http


def _check(http: httpx.Client, query: str) -> None:
    response = http.post("/graphql", json={"query": query})

    assert response.status_code < 500, (query, response.text)
    assert "Traceback" not in response.text, query
    body = response.json()
    codes = [
        error.get("extensions", {}).get("code") for error in body.get("errors", [])
    ]
    assert "INTERNAL_SERVER_ERROR" not in codes, (query, response.text)


def _settings() -> settings:
    return settings(
        max_examples=OPERATIONS,
        deadline=None,
        database=None,
        derandomize=not RANDOMIZED,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.function_scoped_fixture,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
        ],
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "strategy",
    [
        pytest.param(queries, id="queries"),
        pytest.param(mutations, id="mutations"),
    ],
)
@pytest.mark.parametrize(
    "mode",
    [
        pytest.param(Mode.POSITIVE, id="valid"),
        pytest.param(Mode.NEGATIVE, id="invalid"),
    ],
)
def test_generated_operations_never_fail(
    fuzz_http: httpx.Client, strategy: object, mode: Mode
) -> None:
    operations = strategy(SCHEMA, custom_scalars=SCALARS, mode=mode)  # type: ignore[operator]

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        sent: list[Future[None]] = []

        # Each operation is checked in the pool, so a failure is reported
        # with its query when the results are read, without shrinking.
        @_settings()
        @given(operations)
        def run(query: str) -> None:
            sent.append(pool.submit(_check, fuzz_http, query))

        run()
        for future in sent:
            future.result()

    assert len(sent) >= OPERATIONS // 2


def test_fuzzed_server_logged_no_failure(
    fuzz_server: LoggedServer, fuzz_http: httpx.Client
) -> None:
    _check(fuzz_http, "{ __typename }")
    log = fuzz_server.log_text()

    assert "request_completed" in log
    assert "Traceback" not in log
    assert "resolver_failed" not in log
    assert "request_failed" not in log
