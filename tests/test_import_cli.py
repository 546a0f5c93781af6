"""`graphql-api import` with the record shapes of Truto's admin API."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Executable, select, text

from db.models import Environment, IntegratedAccount, Integration
from tests.cli_support import cli_environment, run_cli, write_json
from tests.database_backend import fetch_all

INTEGRATION_ID = "4a4de828-f4db-4c9e-adfd-434e0864c3c7"
INSTALL_ID = "3fda2b4c-0516-41bc-8ae6-4927e42ecce9"
ACCOUNT_IDS = (
    "1ba1f401-7183-47c5-9e39-e8e257e3c795",
    "62f44730-dd91-461e-bd6a-aedd9e0ad79d",
)
# A Truto environment id; the import ignores it and uses --environment.
TRUTO_ENVIRONMENT_ID = "8a2b104d-74a6-47f2-b93e-c6b611e82391"

CONFIG = {
    "label": "Helpdesk",
    "base_url": "http://127.0.0.1:9/api",
    "authorization": {"format": "bearer"},
    "pagination": {"format": "cursor", "config": {"cursor_path": "meta.next"}},
    "resources": {
        "tickets": {
            "list": {"method": "get", "path": "/tickets", "response_path": "tickets"}
        }
    },
}


def integration_record() -> dict[str, Any]:
    return {
        "id": INTEGRATION_ID,
        "name": "helpdesk",
        "category": "ticketing",
        "is_beta": False,
        "sharing": "allow",
        "config": copy.deepcopy(CONFIG),
        "version": 3,
        "created_at": "2024-01-01 00:00:00",
        "updated_at": "2024-08-15T12:00:00.000Z",
    }


def install_record() -> dict[str, Any]:
    return {
        "id": INSTALL_ID,
        "integration_id": INTEGRATION_ID,
        "environment_id": TRUTO_ENVIRONMENT_ID,
        "show_in_catalog": True,
        "is_enabled": True,
        "override": {"headers": {"X-Region": "eu"}},
        "created_at": "2024-02-01 09:00:00",
        "updated_at": "2024-02-01 09:00:00",
    }


def account_record(index: int = 0) -> dict[str, Any]:
    return {
        "id": ACCOUNT_IDS[index],
        "tenant_id": f"acme-{index + 1}",
        "environment_id": TRUTO_ENVIRONMENT_ID,
        "environment_integration_id": INSTALL_ID,
        "status": "needs_reauth",
        "last_error": "invalid_grant",
        "last_action_result": None,
        "is_sandbox": index == 1,
        "authentication_method": "oauth2",
        "region": "eu",
        "features": {"super_query": "apac"},
        "context": {"subdomain": "acme", "oauth": {"token": {"access_token": "x"}}},
        "object_store_context_fields": [],
        "integration": {
            "id": INTEGRATION_ID,
            "name": "helpdesk",
            "category": "ticketing",
        },
        "created_at": "2024-09-01 10:00:00",
        "updated_at": "2024-09-01 10:05:00",
    }


def grouped_document() -> dict[str, Any]:
    return {
        "integrations": [integration_record()],
        "environment_integrations": [install_record()],
        "integrated_accounts": [account_record(0), account_record(1)],
    }


@pytest.fixture
def environment(database_url: str) -> dict[str, str]:
    return cli_environment(database_url)


def import_files(environment: dict[str, str], *files: Path, team: str = "Acme"):
    return run_cli(
        "import",
        "--team",
        team,
        "--environment",
        "Production",
        *map(str, files),
        environment=environment,
    )


def rows(database_url: str, query: str | Executable) -> list[tuple]:
    statement = text(query) if isinstance(query, str) else query
    return fetch_all(database_url, statement)


def counts(database_url: str) -> dict[str, int]:
    tables = ("integration", "environment_integration", "integrated_account")
    return {t: rows(database_url, f"SELECT count(*) FROM {t}")[0][0] for t in tables}


def account_where_tenant(*columns: Any, tenant_id: str) -> Executable:
    return select(*columns).where(IntegratedAccount.tenant_id == tenant_id)


def test_grouped_document_imports_every_kind(
    tmp_path: Path, environment: dict[str, str], database_url: str
) -> None:
    path = write_json(tmp_path / "export.json", grouped_document())

    result = import_files(environment, path)

    assert result.returncode == 0, result.stderr
    assert "integrations: 1 created, 0 updated" in result.stdout
    assert "environment integrations: 1 created, 0 updated" in result.stdout
    assert "integrated accounts: 2 created, 0 updated" in result.stdout
    assert counts(database_url) == {
        "integration": 1,
        "environment_integration": 1,
        "integrated_account": 2,
    }


def test_import_keeps_ids_and_fields(
    tmp_path: Path, environment: dict[str, str], database_url: str
) -> None:
    path = write_json(tmp_path / "export.json", grouped_document())

    import_files(environment, path)

    [account] = rows(
        database_url,
        select(
            IntegratedAccount.tenant_id,
            IntegratedAccount.status,
            IntegratedAccount.last_error,
            IntegratedAccount.is_sandbox,
            IntegratedAccount.region,
            IntegratedAccount.super_query,
            IntegratedAccount.authentication_method,
            IntegratedAccount.environment_integration_id,
            IntegratedAccount.integration_id,
            Environment.name,
            IntegratedAccount.created_at,
        )
        .join(Environment, Environment.id == IntegratedAccount.environment_id)
        .where(IntegratedAccount.id == uuid.UUID(ACCOUNT_IDS[0])),
    )
    assert account == (
        "acme-1",
        "needs_reauth",
        "invalid_grant",
        False,
        "eu",
        "apac",
        "oauth2",
        uuid.UUID(INSTALL_ID),
        uuid.UUID(INTEGRATION_ID),
        "Production",
        datetime(2024, 9, 1, 10, tzinfo=UTC),
    )
    [integration] = rows(
        database_url,
        select(
            Integration.name,
            Integration.sharing,
            Integration.version,
            Integration.updated_at,
        ),
    )
    assert integration == (
        "helpdesk",
        "allow",
        3,
        datetime(2024, 8, 15, 12, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    "shape",
    [
        pytest.param("bare-list", id="bare-list"),
        pytest.param("envelope", id="result-envelope"),
        pytest.param("results-envelope", id="results-envelope"),
    ],
)
def test_list_shapes_import_mixed_records(
    tmp_path: Path, environment: dict[str, str], database_url: str, shape: str
) -> None:
    records = [integration_record(), install_record(), account_record(0)]
    documents = {
        "bare-list": records,
        "envelope": {"result": records, "next_cursor": None, "limit": 5000},
        "results-envelope": {"results": records, "next_cursor": None},
    }
    path = write_json(tmp_path / "records.json", documents[shape])

    result = import_files(environment, path)

    assert result.returncode == 0, result.stderr
    assert counts(database_url) == {
        "integration": 1,
        "environment_integration": 1,
        "integrated_account": 1,
    }


def test_records_split_across_files(
    tmp_path: Path, environment: dict[str, str], database_url: str
) -> None:
    integrations = write_json(
        tmp_path / "integrations.json", {"result": [integration_record()]}
    )
    installs = write_json(tmp_path / "installs.json", {"result": [install_record()]})
    account = write_json(tmp_path / "account.json", account_record(0))

    result = import_files(environment, integrations, installs, account)

    assert result.returncode == 0, result.stderr
    assert counts(database_url)["integrated_account"] == 1


def test_install_with_nested_integration_creates_it(
    tmp_path: Path, environment: dict[str, str], database_url: str
) -> None:
    install = install_record()
    nested = integration_record()
    del nested["created_at"], nested["updated_at"], nested["sharing"]
    install["integration"] = nested
    path = write_json(tmp_path / "installs.json", {"result": [install]})

    result = import_files(environment, path)

    assert result.returncode == 0, result.stderr
    assert rows(database_url, select(Integration.id, Integration.name)) == [
        (uuid.UUID(INTEGRATION_ID), "helpdesk")
    ]


def test_account_found_by_nested_integration_name(
    tmp_path: Path, environment: dict[str, str], database_url: str
) -> None:
    first = write_json(tmp_path / "setup.json", grouped_document())
    import_files(environment, first)
    account = account_record(0)
    del account["environment_integration_id"], account["id"]
    account["integration"] = {"name": "helpdesk"}
    account["tenant_id"] = "by-name"

    result = import_files(environment, write_json(tmp_path / "a.json", [account]))

    assert result.returncode == 0, result.stderr
    assert rows(
        database_url,
        account_where_tenant(
            IntegratedAccount.environment_integration_id, tenant_id="by-name"
        ),
    ) == [(uuid.UUID(INSTALL_ID),)]


def test_second_import_updates_rows(
    tmp_path: Path, environment: dict[str, str], database_url: str
) -> None:
    document = grouped_document()
    path = write_json(tmp_path / "export.json", document)
    import_files(environment, path)
    document["integrated_accounts"][0]["status"] = "active"
    document["integrated_accounts"][0]["last_error"] = None
    document["integrations"][0]["config"]["label"] = "Helpdesk v2"
    write_json(path, document)

    result = import_files(environment, path)

    assert result.returncode == 0, result.stderr
    assert "integrated accounts: 0 created, 2 updated" in result.stdout
    assert "integrations: 0 created, 1 updated" in result.stdout
    assert counts(database_url) == {
        "integration": 1,
        "environment_integration": 1,
        "integrated_account": 2,
    }
    assert rows(
        database_url,
        account_where_tenant(
            IntegratedAccount.status, IntegratedAccount.last_error, tenant_id="acme-1"
        ),
    ) == [("active", None)]
    assert rows(database_url, select(Integration.config)) == [
        ({**CONFIG, "label": "Helpdesk v2"},)
    ]


def test_reimport_keeps_fields_the_file_omits(
    tmp_path: Path, environment: dict[str, str], database_url: str
) -> None:
    import_files(environment, write_json(tmp_path / "full.json", grouped_document()))
    partial = {
        "id": ACCOUNT_IDS[0],
        "tenant_id": "acme-1",
        "status": "active",
        "environment_integration_id": INSTALL_ID,
    }

    result = import_files(environment, write_json(tmp_path / "partial.json", [partial]))

    assert result.returncode == 0, result.stderr
    assert rows(
        database_url,
        account_where_tenant(
            IntegratedAccount.status,
            IntegratedAccount.region,
            IntegratedAccount.last_error,
            tenant_id="acme-1",
        ),
    ) == [("active", "eu", "invalid_grant")]


@pytest.mark.parametrize(
    ("change", "location", "message"),
    [
        pytest.param(
            ("integrated_accounts", 1, "status", "broken"),
            "integrated_accounts[1].status",
            "'broken' is invalid: expected one of active, connecting",
            id="status",
        ),
        pytest.param(
            ("integrated_accounts", 0, "region", "mars"),
            "integrated_accounts[0].region",
            "'mars' is invalid: expected one of wnam, enam, apac, eu",
            id="region",
        ),
        pytest.param(
            ("integrated_accounts", 0, "id", "not-a-uuid"),
            "integrated_accounts[0].id",
            "'not-a-uuid' is invalid: expected a UUID string",
            id="id",
        ),
        pytest.param(
            ("integrated_accounts", 1, "is_sandbox", "yes"),
            "integrated_accounts[1].is_sandbox",
            "'yes' is invalid: expected true or false",
            id="boolean",
        ),
        pytest.param(
            ("integrated_accounts", 0, "created_at", "yesterday"),
            "integrated_accounts[0].created_at",
            "'yesterday' is invalid: expected an ISO 8601 timestamp",
            id="timestamp",
        ),
        pytest.param(
            ("integrated_accounts", 0, "context", ["x"]),
            "integrated_accounts[0].context",
            "a list is invalid: expected an object",
            id="context",
        ),
        pytest.param(
            ("integrations", 0, "sharing", "public"),
            "integrations[0].sharing",
            "'public' is invalid: expected one of allow, ask, deny",
            id="sharing",
        ),
        pytest.param(
            ("integrations", 0, "config", None),
            "integrations[0].config",
            "missing: expected an object",
            id="config-missing",
        ),
        pytest.param(
            ("environment_integrations", 0, "integration_id", None),
            "environment_integrations[0].integration_id",
            "missing: expected the integration's id",
            id="install-without-integration",
        ),
    ],
)
def test_bad_record_reported_and_nothing_written(
    tmp_path: Path,
    environment: dict[str, str],
    database_url: str,
    change: tuple[str, int, str, Any],
    location: str,
    message: str,
) -> None:
    document = grouped_document()
    group, index, field, value = change
    document[group][index][field] = value
    path = write_json(tmp_path / "bad.json", document)

    result = import_files(environment, path)

    assert result.returncode == 1
    assert f"{path}: {location}: {message}" in result.stderr
    assert "nothing was written" in result.stderr
    assert counts(database_url) == {
        "integration": 0,
        "environment_integration": 0,
        "integrated_account": 0,
    }
    assert rows(database_url, "SELECT count(*) FROM team") == [(0,)]


def test_every_bad_record_is_reported(
    tmp_path: Path, environment: dict[str, str]
) -> None:
    document = grouped_document()
    document["integrated_accounts"][0]["status"] = "broken"
    document["integrated_accounts"][1]["tenant_id"] = ""
    path = write_json(tmp_path / "bad.json", document)

    result = import_files(environment, path)

    assert result.returncode == 1
    assert "integrated_accounts[0].status" in result.stderr
    assert "integrated_accounts[1].tenant_id" in result.stderr
    assert "import failed with 2 problem(s)" in result.stderr


def test_unknown_install_reference_is_error(
    tmp_path: Path, environment: dict[str, str], database_url: str
) -> None:
    account = account_record(0)
    account["environment_integration_id"] = "00000000-0000-4000-8000-000000000001"
    del account["integration"]
    path = write_json(tmp_path / "accounts.json", {"result": [account]})

    result = import_files(environment, path)

    assert result.returncode == 1
    assert (
        f"{path}: result[0].environment_integration_id: environment integration "
        "'00000000-0000-4000-8000-000000000001' is neither in the import files nor "
        "in environment 'Production'"
    ) in result.stderr
    assert counts(database_url)["integrated_account"] == 0


def test_unknown_integration_reference_is_error(
    tmp_path: Path, environment: dict[str, str]
) -> None:
    path = write_json(tmp_path / "installs.json", [install_record()])

    result = import_files(environment, path)

    assert result.returncode == 1
    assert (
        f"{path}: [0].integration_id: integration '{INTEGRATION_ID}' is neither in "
        "the import files nor in team 'Acme'"
    ) in result.stderr


def test_other_team_cannot_take_over_integration(
    tmp_path: Path, environment: dict[str, str]
) -> None:
    path = write_json(tmp_path / "export.json", grouped_document())
    import_files(environment, path, team="Acme")

    result = import_files(environment, path, team="Globex")

    assert result.returncode == 1
    assert f"integration '{INTEGRATION_ID}' belongs to another team" in result.stderr


def test_duplicate_record_is_error(tmp_path: Path, environment: dict[str, str]) -> None:
    document = grouped_document()
    document["integrated_accounts"][1]["id"] = ACCOUNT_IDS[0]
    path = write_json(tmp_path / "dup.json", document)

    result = import_files(environment, path)

    assert result.returncode == 1
    assert "integrated_accounts[1]: duplicate integrated account" in result.stderr


def test_invalid_json_file_exits_1(
    tmp_path: Path, environment: dict[str, str], database_url: str
) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"result": [', encoding="utf-8")

    result = import_files(environment, path)

    assert result.returncode == 1
    assert f"{path}: invalid JSON" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_file_exits_1(tmp_path: Path, environment: dict[str, str]) -> None:
    path = tmp_path / "absent.json"

    result = import_files(environment, path)

    assert result.returncode == 1
    assert f"{path}: file not found" in result.stderr


def test_unknown_record_kind_is_error(
    tmp_path: Path, environment: dict[str, str]
) -> None:
    path = write_json(tmp_path / "odd.json", [{"id": INTEGRATION_ID, "label": "x"}])

    result = import_files(environment, path)

    assert result.returncode == 1
    assert f"{path}: [0]: the kind of record is unknown" in result.stderr


def test_scalar_document_is_error(tmp_path: Path, environment: dict[str, str]) -> None:
    path = write_json(tmp_path / "number.json", 42)

    result = import_files(environment, path)

    assert result.returncode == 1
    assert "expected a list of records" in result.stderr
