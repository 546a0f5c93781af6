"""Encryption at rest: the key ring, sealed documents and the SecretJSON column."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from db import models
from db.crypto import (
    SEALED_PREFIX,
    KeyRing,
    MissingKeyRingError,
    SealedValueError,
    SecretKeyError,
    count_sealed,
    current_keyring,
    generate_key,
    open_document,
    seal_document,
    use_keyring,
    with_secret_fields,
)
from db.migrate import upgrade
from db.session import Database
from graphql_api.security.keys import DEMO_SECRET_KEY, resolve_secret_key
from graphql_api.settings import Settings, SettingsError
from tests.cli_support import TEST_SECRET_KEY

CONTEXT = {
    "subdomain": "acme",
    "api_key": "key-123",
    "oauth": {"token": {"access_token": "at-1", "refresh_token": "rt-1"}},
    "users": [{"name": "ada", "password": "pw-1"}],
    "empty_secret": None,
}


@pytest.fixture
def keyring() -> KeyRing:
    return KeyRing.from_setting(generate_key())


def test_generated_keys_parse_and_differ() -> None:
    first, second = generate_key(), generate_key()

    first_id = KeyRing.from_setting(first).primary_key_id
    second_id = KeyRing.from_setting(second).primary_key_id

    assert first != second
    assert first_id != second_id
    assert len(first_id) == 8


def test_sealed_value_opens_to_original(keyring: KeyRing) -> None:
    sealed = keyring.seal(b'"hello"')

    assert sealed.startswith(f"{SEALED_PREFIX}{keyring.primary_key_id}:")
    assert keyring.open(sealed) == b'"hello"'


def test_same_value_seals_differently(keyring: KeyRing) -> None:
    assert keyring.seal(b"x") != keyring.seal(b"x")


def test_seal_document_hides_only_secret_values(keyring: KeyRing) -> None:
    sealed = seal_document(CONTEXT, keyring)

    assert sealed["subdomain"] == "acme"
    assert sealed["api_key"].startswith(SEALED_PREFIX)
    assert sealed["oauth"]["token"].startswith(SEALED_PREFIX)
    assert sealed["users"][0]["name"] == "ada"
    assert sealed["users"][0]["password"].startswith(SEALED_PREFIX)
    assert sealed["empty_secret"] is None
    assert count_sealed(sealed) == 3
    assert "key-123" not in repr(sealed)
    assert "rt-1" not in repr(sealed)


def test_open_document_restores_sealed_document(keyring: KeyRing) -> None:
    assert open_document(seal_document(CONTEXT, keyring), keyring) == CONTEXT


def test_extra_secret_fields_are_sealed(keyring: KeyRing) -> None:
    document = with_secret_fields({"pin": "1234", "region": "eu"}, ["pin"])

    sealed = seal_document(document, keyring, lambda name: name == "pin")

    assert sealed["pin"].startswith(SEALED_PREFIX)
    assert sealed["region"] == "eu"


def test_lookalike_plain_value_round_trips(keyring: KeyRing) -> None:
    document = {"note": f"{SEALED_PREFIX}deadbeef:not-a-real-value"}

    sealed = seal_document(document, keyring)

    assert sealed["note"] != document["note"]
    assert open_document(sealed, keyring) == document


def test_second_key_opens_old_values(keyring: KeyRing) -> None:
    old_key, new_key = generate_key(), generate_key()
    sealed = KeyRing.from_setting(old_key).seal(b"1")

    rotated = KeyRing.from_setting(f"{new_key},{old_key}")

    assert rotated.open(sealed) == b"1"
    assert rotated.seal(b"1").split(":")[2] == rotated.primary_key_id


def test_missing_key_is_named_on_open() -> None:
    sealed = KeyRing.from_setting(generate_key()).seal(b"1")
    other = KeyRing.from_setting(generate_key())

    with pytest.raises(SealedValueError, match="not among the keys"):
        other.open(sealed)


def test_tampered_value_fails_authentication(keyring: KeyRing) -> None:
    sealed = keyring.seal(b'"secret"')
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")

    with pytest.raises(SealedValueError, match="failed authentication"):
        keyring.open(tampered)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param("", "is empty", id="empty"),
        pytest.param("change-me", "key 1 is invalid", id="placeholder-word"),
        pytest.param("A" * 43, "key 1 is a placeholder", id="zero-bytes"),
        pytest.param(f"{TEST_SECRET_KEY},", "key 2 is empty", id="trailing-comma"),
        pytest.param(f"{TEST_SECRET_KEY},short", "key 2 is invalid", id="short"),
    ],
)
def test_bad_key_setting_is_rejected(raw: str, message: str) -> None:
    with pytest.raises(SecretKeyError, match=message):
        KeyRing.from_setting(raw)


def test_server_needs_key_outside_demo() -> None:
    with pytest.raises(SettingsError, match="GRAPHQL_API_SECRET_KEY is not set"):
        resolve_secret_key(Settings())


def test_demo_without_key_uses_demo_key() -> None:
    assert resolve_secret_key(Settings(demo=True)).secret_key == DEMO_SECRET_KEY


def test_demo_key_is_refused_outside_demo() -> None:
    with pytest.raises(SettingsError, match="public demo key"):
        resolve_secret_key(Settings(secret_key=f"{TEST_SECRET_KEY},{DEMO_SECRET_KEY}"))


def test_secret_needs_keyring_to_be_stored() -> None:
    previous = current_keyring()
    use_keyring(None)
    try:
        with pytest.raises(MissingKeyRingError, match="GRAPHQL_API_SECRET_KEY"):
            seal_document({"api_key": "x"}, current_keyring())
    finally:
        use_keyring(previous)


def _raw_column(path: Path, table: str, column: str) -> Any:
    with sqlite3.connect(path) as connection:
        return connection.execute(f"SELECT {column} FROM {table}").fetchone()[0]


def test_column_stores_secrets_sealed(tmp_path: Path) -> None:
    path = tmp_path / "crypto.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)

    async def write_and_read() -> dict[str, Any]:
        database = Database(url)
        try:
            async with database.write_session() as session:
                team = models.Team(name="crypto")
                session.add(team)
                await session.flush()
                integration = models.Integration(
                    team_id=team.id,
                    name="app",
                    category="crm",
                    config={"credentials": {"client": {"secret": "cs-777"}}},
                )
                session.add(integration)
            async with database.read_session() as session:
                stored = await session.scalar(select(models.Integration))
                assert stored is not None
                return stored.config
        finally:
            await database.dispose()

    config = asyncio.run(write_and_read())

    assert config == {"credentials": {"client": {"secret": "cs-777"}}}
    raw = _raw_column(path, "integration", "config")
    assert "cs-777" not in raw
    assert SEALED_PREFIX in raw
