"""compose.yaml: two API replicas on PostgreSQL behind nginx on one port.

No container engine runs here, so the tests read the file as Docker Compose
would, with its ``${NAME}`` interpolation, and check how the services fit
together.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from sqlalchemy import make_url

from graphql_api.settings import Settings
from tests.cli_support import REPOSITORY

COMPOSE_FILE = REPOSITORY / "compose.yaml"
# PostgreSQL's default max_connections, which the postgres image keeps.
POSTGRES_MAX_CONNECTIONS = 100
VARIABLES = {
    "POSTGRES_PASSWORD": "compose-test-password",
    "GRAPHQL_API_SECRET_KEY": "compose-test-key",
}
_REFERENCE = re.compile(r"\$\$|\$\{(?P<name>[A-Z_][A-Z0-9_]*)(?P<rule>:[-?][^}]*)?\}")


def interpolate(text: str, variables: dict[str, str]) -> str:
    """Substitute ``${NAME}``, ``${NAME:-default}`` and ``${NAME:?error}``.

    ``$$`` stands for one ``$``. Raises KeyError for a required variable that
    `variables` lacks, as Compose refuses to start without it.
    """

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, rule = match.group("name"), match.group("rule") or ""
        if name in variables:
            return variables[name]
        if rule.startswith(":-"):
            return rule[2:]
        raise KeyError(f"{name} is required: {rule[2:]}")

    return _REFERENCE.sub(substitute, text)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    document: dict[str, Any] = yaml.safe_load(interpolate(text, VARIABLES))
    return document


def _seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+)(s|m)", duration)
    assert match, f"unexpected duration {duration!r}"
    return float(match.group(1)) * (60 if match.group(2) == "m" else 1)


def test_every_dollar_is_escaped_or_a_variable() -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")

    stray = _REFERENCE.sub("", text)

    assert "$" not in stray


@pytest.mark.parametrize("name", sorted(VARIABLES))
def test_secrets_are_required(name: str) -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    variables = {key: value for key, value in VARIABLES.items() if key != name}

    with pytest.raises(KeyError, match=name):
        interpolate(text, variables)


def test_api_runs_replicas_without_own_port(compose: dict[str, Any]) -> None:
    api = compose["services"]["api"]

    assert api["deploy"]["replicas"] >= 2
    assert "ports" not in api
    assert api["build"] == "."


def test_api_uses_postgres_service(compose: dict[str, Any]) -> None:
    api = compose["services"]["api"]
    postgres = compose["services"]["postgres"]["environment"]

    url = make_url(api["environment"]["DATABASE_URL"])

    assert url.drivername == "postgresql+asyncpg"
    assert url.host == "postgres"
    assert url.username == postgres["POSTGRES_USER"]
    assert url.password == postgres["POSTGRES_PASSWORD"]
    assert url.database == postgres["POSTGRES_DB"]
    assert api["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_api_settings_are_valid(compose: dict[str, Any]) -> None:
    environment = compose["services"]["api"]["environment"]

    settings = Settings.from_env(environment)

    assert settings.database_url == environment["DATABASE_URL"]


def test_replica_pools_fit_postgres(compose: dict[str, Any]) -> None:
    api = compose["services"]["api"]
    settings = Settings.from_env(api["environment"])

    per_replica = settings.database_pool_size + settings.database_max_overflow

    assert api["deploy"]["replicas"] * per_replica < POSTGRES_MAX_CONNECTIONS


def test_grace_period_exceeds_shutdown_timeout(compose: dict[str, Any]) -> None:
    api = compose["services"]["api"]
    settings = Settings.from_env(api["environment"])

    assert _seconds(api["stop_grace_period"]) > settings.shutdown_timeout_seconds


def test_nginx_publishes_one_port(compose: dict[str, Any]) -> None:
    nginx = compose["services"]["nginx"]
    config = compose["configs"]["nginx-api"]["content"]

    [mapping] = nginx["ports"]
    published, _, target = mapping.rpartition(":")

    assert published == "8000"
    assert f"listen {target};" in config
    assert nginx["depends_on"]["api"]["condition"] == "service_healthy"


def test_nginx_balances_every_replica(compose: dict[str, Any]) -> None:
    config = compose["configs"]["nginx-api"]["content"]

    assert "server api:8000 resolve;" in config
    assert re.search(r"zone \w+ \d+k;", config)
    assert "resolver 127.0.0.11" in config
    assert "proxy_pass http://graphql_api;" in config


def test_nginx_forwards_websockets_and_client_address(
    compose: dict[str, Any],
) -> None:
    config = compose["configs"]["nginx-api"]["content"]
    environment = compose["services"]["api"]["environment"]

    assert "proxy_set_header Upgrade $http_upgrade;" in config
    assert "proxy_set_header Connection $connection_upgrade;" in config
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in config
    assert environment["FORWARDED_ALLOW_IPS"] == "*"
