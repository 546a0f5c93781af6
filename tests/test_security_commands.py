"""The key and token commands: generate-key, rotate-key, revoke-token, serve checks."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, MetaData, String, Table, select

from db.crypto import SEALED_PREFIX, KeyRing, generate_key
from db.session import Database
from db.types import GUID, JSONDocument
from graphql_api.auth import authenticate
from graphql_api.errors import AuthenticationError
from graphql_api.security.keys import DEMO_SECRET_KEY
from graphql_api.tokens import hash_token
from tests.cli_support import TEST_SECRET_KEY, cli_environment, run_cli
from tests.database_backend import Databases

_RAW = MetaData()
RAW_ACCOUNTS = Table(
    "integrated_account",
    _RAW,
    Column("id", GUID, primary_key=True),
    Column("context", JSONDocument),
)
RAW_INTEGRATIONS = Table(
    "integration",
    _RAW,
    Column("id", GUID, primary_key=True),
    Column("config", JSONDocument),
)


def _read_raw(url: str, table: Table, column: str) -> list[Any]:
    async def read() -> list[Any]:
        database = Database(url)
        try:
            async with database.read_session() as session:
                return list((await session.scalars(select(table.c[column]))).all())
        finally:
            await database.dispose()

    return asyncio.run(read())


def _key_ids(document: Any) -> set[str]:
    text = json.dumps(document)
    return {part.split(":")[0] for part in text.split(SEALED_PREFIX)[1:]}


def _import_account(url: str, tmp_path: Path, key: str) -> None:
    records = {
        "integrations": [
            {
                "name": "rotated",
                "category": "crm",
                "config": {
                    "base_url": "http://127.0.0.1:9/api",
                    "credentials": {
                        "format": "api_key",
                        "config": {
                            "fields": [{"name": "pin", "type": "password"}],
                            "client": {"secret": "client-secret-1"},
                        },
                    },
                },
            }
        ],
        "environment_integrations": [{"integration": {"name": "rotated"}}],
        "integrated_accounts": [
            {
                "tenant_id": "t-1",
                "integration": {"name": "rotated"},
                "context": {"api_key": "key-1", "pin": "1234", "region": "eu"},
            }
        ],
    }
    path = tmp_path / "records.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    result = run_cli(
        "import",
        "--team",
        "Rotate",
        "--environment",
        "production",
        str(path),
        environment=cli_environment(url, GRAPHQL_API_SECRET_KEY=key),
    )
    assert result.returncode == 0, result.stderr


def test_generate_key_prints_usable_key() -> None:
    result = run_cli("generate-key", environment=cli_environment("sqlite+aiosqlite://"))

    key = result.stdout.strip()
    assert result.returncode == 0
    assert KeyRing.from_setting(key).primary_key_id
    assert key != TEST_SECRET_KEY


@dataclass
class Rotation:
    """A database imported under `old_key`, then rotated to `new_key`."""

    url: str
    old_key: str
    new_key: str
    configs_before: list[Any]
    output: str
    exit_code: int


@pytest.fixture(scope="module")
def rotation(
    tmp_path_factory: pytest.TempPathFactory, database_backend: Databases
) -> Rotation:
    folder = tmp_path_factory.mktemp("rotate")
    url = database_backend.new()
    old_key, new_key = generate_key(), generate_key()
    _import_account(url, folder, old_key)
    configs_before = _read_raw(url, RAW_INTEGRATIONS, "config")
    # A context stored in plain text, as an older version would have left it.
    [account_id] = _read_raw(url, RAW_ACCOUNTS, "id")
    _write_plain_context(url, account_id, PLAIN_CONTEXT)

    result = run_cli(
        "rotate-key",
        environment=cli_environment(url, GRAPHQL_API_SECRET_KEY=f"{new_key},{old_key}"),
    )
    return Rotation(
        url, old_key, new_key, configs_before, result.stdout, result.returncode
    )


PLAIN_CONTEXT = {"api_key": "plain-key", "pin": "9999", "region": "eu"}


def _key_id(key: str) -> str:
    return KeyRing.from_setting(key).primary_key_id


def test_rotate_key_reports_new_key(rotation: Rotation) -> None:
    assert rotation.exit_code == 0
    assert f"with key {_key_id(rotation.new_key)}" in rotation.output


def test_rotate_key_reseals_configs(rotation: Rotation) -> None:
    configs = _read_raw(rotation.url, RAW_INTEGRATIONS, "config")

    assert _key_ids(rotation.configs_before) == {_key_id(rotation.old_key)}
    assert _key_ids(configs) == {_key_id(rotation.new_key)}


def test_rotate_key_seals_plain_context(rotation: Rotation) -> None:
    [stored] = _read_raw(rotation.url, RAW_ACCOUNTS, "context")

    assert stored["api_key"].startswith(SEALED_PREFIX)
    assert stored["pin"].startswith(SEALED_PREFIX)
    assert stored["region"] == "eu"
    assert _key_ids(stored) == {_key_id(rotation.new_key)}


def test_rotated_values_open_with_new_key(rotation: Rotation) -> None:
    [stored] = _read_raw(rotation.url, RAW_ACCOUNTS, "context")

    opened = KeyRing.from_setting(rotation.new_key).open(stored["pin"])

    assert json.loads(opened) == "9999"


def test_rotate_key_without_current_key_fails(rotation: Rotation) -> None:
    result = run_cli(
        "rotate-key",
        environment=cli_environment(
            rotation.url, GRAPHQL_API_SECRET_KEY=generate_key()
        ),
    )

    assert result.returncode == 1
    assert "not among the keys of GRAPHQL_API_SECRET_KEY" in result.stderr


def _write_plain_context(url: str, account_id: Any, context: dict[str, Any]) -> None:
    async def write() -> None:
        database = Database(url)
        try:
            async with database.write_session() as session:
                await session.execute(
                    RAW_ACCOUNTS.update()
                    .where(RAW_ACCOUNTS.c.id == account_id)
                    .values(context=context)
                )
        finally:
            await database.dispose()

    asyncio.run(write())


@dataclass
class Tokens:
    """A database with two tokens of one team, and the tokens' ids."""

    url: str
    tokens: list[str]
    ids: list[Any]


@pytest.fixture(scope="module")
def tokens(database_backend: Databases) -> Tokens:
    url = database_backend.new()
    issued = []
    for _ in range(2):
        result = run_cli(
            "create-token", "--team", "Revoke", environment=cli_environment(url)
        )
        assert result.returncode == 0, result.stderr
        issued.append(result.stdout.strip())
    table = Table(
        "api_token",
        MetaData(),
        Column("id", GUID, primary_key=True),
        Column("token_hash", String),
    )
    hashes = {hash_token(token): token for token in issued}
    rows = _read_rows(url, select(table.c.token_hash, table.c.id))
    ids = [dict(rows)[digest] for digest in hashes]
    return Tokens(url, issued, ids)


def _read_rows(url: str, query: Any) -> list[Any]:
    async def read() -> list[Any]:
        database = Database(url)
        try:
            async with database.read_session() as session:
                return list((await session.execute(query)).all())
        finally:
            await database.dispose()

    return asyncio.run(read())


def _authenticates(url: str, token: str) -> str:
    async def check() -> str:
        database = Database(url)
        try:
            await authenticate(database, f"Bearer {token}")
        except AuthenticationError as error:
            return error.message
        finally:
            await database.dispose()
        return "accepted"

    return asyncio.run(check())


def test_revoke_token_by_value_stops_it(tokens: Tokens) -> None:
    token = tokens.tokens[0]
    before = _authenticates(tokens.url, token)

    result = run_cli("revoke-token", token, environment=cli_environment(tokens.url))

    assert before == "accepted"
    assert result.returncode == 0, result.stderr
    assert f"Revoked API token {tokens.ids[0]}" in result.stdout
    assert token not in result.stdout + result.stderr
    assert "revoked" in _authenticates(tokens.url, token)


def test_revoke_token_by_id_is_repeatable(tokens: Tokens) -> None:
    token_id = str(tokens.ids[1])

    first = run_cli("revoke-token", token_id, environment=cli_environment(tokens.url))
    second = run_cli("revoke-token", token_id, environment=cli_environment(tokens.url))

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert "was already revoked" in second.stdout
    assert "revoked" in _authenticates(tokens.url, tokens.tokens[1])


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        pytest.param("gapi_unknown", "No API token matches", id="unknown-token"),
        pytest.param("hello", "neither", id="malformed"),
    ],
)
def test_revoke_token_reports_no_match(
    tokens: Tokens, argument: str, message: str
) -> None:
    result = run_cli("revoke-token", argument, environment=cli_environment(tokens.url))

    assert result.returncode == 1
    assert message in result.stderr


@pytest.mark.parametrize(
    ("key", "message"),
    [
        pytest.param(None, "GRAPHQL_API_SECRET_KEY is not set", id="missing"),
        pytest.param("change-me", "key 1 is invalid", id="placeholder"),
        pytest.param(DEMO_SECRET_KEY, "public demo key", id="demo-key"),
    ],
)
def test_serve_refuses_bad_key(tmp_path: Path, key: str | None, message: str) -> None:
    environment = cli_environment(f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}")
    environment.pop("GRAPHQL_API_SECRET_KEY")
    if key is not None:
        environment["GRAPHQL_API_SECRET_KEY"] = key

    result = run_cli("serve", "--port", "9", environment=environment, timeout=60)

    assert result.returncode == 2
    assert message in result.stderr
    assert "graphql-api generate-key" in result.stderr
