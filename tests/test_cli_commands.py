"""The graphql-api command's migrate, create-token and settings handling."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from sqlalchemy import func, select

from db.migrate import head_revision
from db.models import ApiToken, Environment, Team
from graphql_api.tokens import hash_token
from tests.cli_support import cli_environment, run_cli, sqlite_url
from tests.database_backend import fetch_all, table_names

TOKEN_LINE = re.compile(r"gapi_[A-Za-z0-9_-]{43}\n")


@pytest.fixture
def environment(database_url: str) -> dict[str, str]:
    return cli_environment(database_url)


def _count(database_url: str, model: type) -> int:
    [(count,)] = fetch_all(database_url, select(func.count()).select_from(model))
    return int(count)


def test_migrate_creates_fresh_database(
    environment: dict[str, str], database_url: str
) -> None:
    result = run_cli("migrate", environment=environment)

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"Database at revision {head_revision()}.\n"
    tables = table_names(database_url)
    assert {"team", "environment", "api_token", "integrated_account"} <= tables


def test_migrate_twice_succeeds(environment: dict[str, str]) -> None:
    run_cli("migrate", environment=environment)

    result = run_cli("migrate", environment=environment)

    assert result.returncode == 0, result.stderr
    assert head_revision() in result.stdout


def test_migrate_into_missing_folder_exits_1(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "absent" / "api.db")

    result = run_cli("migrate", environment=cli_environment(url))

    assert result.returncode == 1
    assert "folder" in result.stderr
    assert "does not exist" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        pytest.param(
            {"PORT": "abc"},
            "PORT='abc' is invalid: expected a whole number from 1 to 65535",
            id="port-not-number",
        ),
        pytest.param(
            {"PORT": "70000"},
            "PORT='70000' is invalid: expected 1 to 65535",
            id="port-range",
        ),
        pytest.param(
            {"LOG_LEVEL": "loud"}, "LOG_LEVEL='loud' is invalid", id="log-level"
        ),
        pytest.param(
            {"DATABASE_URL": "sqlite:///api.db"},
            "DATABASE_URL='sqlite:///api.db' is invalid: expected the driver",
            id="sync-driver",
        ),
        pytest.param(
            {"DATABASE_URL": "not a url"},
            "DATABASE_URL='not a url' is invalid: expected a SQLAlchemy URL",
            id="not-url",
        ),
    ],
)
def test_bad_setting_exits_2_with_one_line(
    environment: dict[str, str], variables: dict[str, str], expected: str
) -> None:
    result = run_cli("migrate", environment={**environment, **variables})

    assert result.returncode == 2
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_serve_with_bad_port_exits_2(environment: dict[str, str]) -> None:
    result = run_cli("serve", environment={**environment, "PORT": "abc"})

    assert result.returncode == 2
    assert "PORT='abc' is invalid" in result.stderr


def test_help_documents_exit_codes(environment: dict[str, str]) -> None:
    result = run_cli("--help", environment=environment)

    assert result.returncode == 0
    assert "exit codes:" in result.stdout
    assert "2  invalid command line or setting" in result.stdout


def test_create_token_prints_only_token(
    environment: dict[str, str], database_url: str
) -> None:
    result = run_cli(
        "create-token",
        "--team",
        "Acme",
        "--environment",
        "Production",
        environment=environment,
    )

    assert result.returncode == 0, result.stderr
    assert TOKEN_LINE.fullmatch(result.stdout)
    stored = fetch_all(
        database_url,
        select(Team.name, Environment.name, ApiToken.expires_at)
        .join(Team, Team.id == ApiToken.team_id)
        .join(Environment, Environment.id == ApiToken.environment_id)
        .where(ApiToken.token_hash == hash_token(result.stdout.strip())),
    )
    assert stored == [("Acme", "Production", None)]


def test_team_token_has_no_environment(
    environment: dict[str, str], database_url: str
) -> None:
    result = run_cli("create-token", "--team", "Acme", environment=environment)

    assert result.returncode == 0, result.stderr
    stored = fetch_all(
        database_url,
        select(ApiToken.environment_id).where(
            ApiToken.token_hash == hash_token(result.stdout.strip())
        ),
    )
    assert stored == [(None,)]


def test_create_token_reuses_team_and_environment(
    environment: dict[str, str], database_url: str
) -> None:
    arguments = ("create-token", "--team", "Acme", "--environment", "Staging")

    first = run_cli(*arguments, environment=environment)
    second = run_cli(*arguments, environment=environment)

    assert first.stdout != second.stdout
    assert _count(database_url, Team) == 1
    assert _count(database_url, Environment) == 1
    assert _count(database_url, ApiToken) == 2


def test_create_token_sets_expiry(
    environment: dict[str, str], database_url: str
) -> None:
    result = run_cli(
        "create-token", "--team", "Acme", "--expires-in", "30", environment=environment
    )

    assert result.returncode == 0, result.stderr
    [(created_at, expires_at)] = fetch_all(
        database_url, select(ApiToken.created_at, ApiToken.expires_at)
    )
    days = (expires_at - created_at).total_seconds() / 86400
    assert days == pytest.approx(30, abs=0.01)


def test_create_token_rejects_zero_days(environment: dict[str, str]) -> None:
    result = run_cli(
        "create-token", "--team", "Acme", "--expires-in", "0", environment=environment
    )

    assert result.returncode == 2
    assert "'0' is invalid: expected a whole number of at least 1" in result.stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        pytest.param(
            ("--team", "Acme", "--expires-in", "100000000"),
            "'100000000' is invalid: expected at most 36500 days",
            id="lifetime-past-year-9999",
        ),
        pytest.param(
            ("--team", ""), "argument --team: a blank name is invalid", id="empty-team"
        ),
        pytest.param(
            ("--team", "   "),
            "argument --team: a blank name is invalid",
            id="blank-team",
        ),
        pytest.param(
            ("--team", "x" * 300),
            "a name of 300 characters is invalid: expected at most 200",
            id="long-team",
        ),
        pytest.param(
            ("--team", "Acme", "--environment", ""),
            "argument --environment: a blank name is invalid",
            id="empty-environment",
        ),
        pytest.param(
            ("--team", "Ac\x01me"),
            "contains the control character U+0001",
            id="control-character",
        ),
    ],
)
def test_create_token_rejects_bad_argument(
    environment: dict[str, str],
    database_url: str,
    arguments: tuple[str, ...],
    message: str,
) -> None:
    result = run_cli("create-token", *arguments, environment=environment)

    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert "team" not in table_names(database_url)


def test_unreachable_database_is_one_line() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    url = f"postgresql+asyncpg://user:secret@127.0.0.1:{closed_port}/api"

    result = run_cli("create-token", "--team", "Acme", environment=cli_environment(url))

    assert result.returncode == 1
    assert result.stderr.startswith("graphql-api: cannot reach the database:")
    assert len(result.stderr.strip().splitlines()) == 1
