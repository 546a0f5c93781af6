"""Cross-origin requests (CORS) from browsers on allowed origins."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from graphql_api.settings import Settings, SettingsError
from tests.cli_support import TEST_SECRET_KEY
from tests.conftest import LiveServer, Seeder, make_tenant, run_server
from tests.database_backend import Databases

FRONTEND = "http://127.0.0.1:5173"
PREFLIGHT_HEADERS = {
    "origin": FRONTEND,
    "access-control-request-method": "POST",
    "access-control-request-headers": "authorization, content-type",
}


@pytest.fixture(scope="module")
def cors_server(database_backend: Databases) -> Iterator[LiveServer]:
    url = database_backend.new_migrated()
    settings = Settings(
        database_url=url,
        secret_key=TEST_SECRET_KEY,
        cors_allow_origins=(FRONTEND,),
    )
    with run_server(url, settings) as server:
        yield server


def _http(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=30, trust_env=False)


def test_preflight_is_answered_without_token(cors_server: LiveServer) -> None:
    with _http(cors_server) as http:
        response = http.options("/graphql", headers=PREFLIGHT_HEADERS)

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == FRONTEND
    allowed_headers = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed_headers
    assert "content-type" in allowed_headers
    assert "access-control-allow-credentials" not in response.headers


def test_preflight_from_other_origin_is_rejected(cors_server: LiveServer) -> None:
    headers = {**PREFLIGHT_HEADERS, "origin": "http://127.0.0.1:6000"}

    with _http(cors_server) as http:
        response = http.options("/graphql", headers=headers)

    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


def test_cross_origin_post_gets_allow_origin(cors_server: LiveServer) -> None:
    seeder = Seeder(cors_server.database_url)
    try:
        token = make_tenant(seeder).team_token
    finally:
        seeder.close()

    with _http(cors_server) as http:
        response = http.post(
            "/graphql",
            json={"query": "{ environments { nodes { name } } }"},
            headers={"origin": FRONTEND, "authorization": f"Bearer {token}"},
        )

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == FRONTEND
    assert "errors" not in response.json()


def test_default_server_sends_no_cors_headers(live_server: LiveServer) -> None:
    with _http(live_server) as http:
        response = http.options("/graphql", headers=PREFLIGHT_HEADERS)

    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("", (), id="empty"),
        pytest.param("*", ("*",), id="any"),
        pytest.param(
            "https://a.test, http://127.0.0.1:3000",
            ("https://a.test", "http://127.0.0.1:3000"),
            id="list",
        ),
    ],
)
def test_cors_origins_setting_parses(raw: str, expected: tuple[str, ...]) -> None:
    settings = Settings.from_env({"CORS_ALLOW_ORIGINS": raw})

    assert settings.cors_allow_origins == expected


def test_cors_origin_with_path_is_invalid() -> None:
    with pytest.raises(SettingsError, match=r"'https://a\.test/app', which is not"):
        Settings.from_env({"CORS_ALLOW_ORIGINS": "https://a.test/app"})
