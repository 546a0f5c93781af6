"""Every root query and mutation, tried with another team's token, gets nothing.

Team A owns an integration, an install, an account and its event. Team B
names A's ids in every root field of the schema, with a team token and an
environment token. Queries must return null or empty pages with a zero
count. Mutations must return NOT_FOUND with the same message as for an id
that does not exist, and change nothing of A's. The case table is checked
against the schema, so a new root field without a case fails.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from db import models
from graphql_api.schema import schema
from tests.conftest import GraphQLClient, Seeder, Tenant, make_tenant


@dataclass
class World:
    """Team A's records and team B's tokens."""

    a: Tenant
    b: Tenant
    b_integration: models.Integration
    integration: models.Integration
    install: models.EnvironmentIntegration
    account: models.IntegratedAccount
    event: models.Event

    def ids(self) -> dict[str, str]:
        """Team A's record ids by kind."""
        return {
            "environment": str(self.a.production.id),
            "integration": str(self.integration.id),
            "install": str(self.install.id),
            "account": str(self.account.id),
            "event": str(self.event.id),
        }


@pytest.fixture(scope="module")
def world(seeder: Seeder) -> World:
    a, b = make_tenant(seeder), make_tenant(seeder)
    integration = seeder.integration(a.team, "isolated", version=1)
    install = seeder.install(a.production, integration)
    account = seeder.account(install, tenant_id="a-tenant", context={"k": "v"})
    event = models.Event(
        type="integrated_account:created",
        environment_id=a.production.id,
        integrated_account_id=account.id,
        integration_id=integration.id,
        payload={"id": str(account.id)},
    )
    seeder.add(event)
    return World(
        a=a,
        b=b,
        b_integration=seeder.integration(b.team, "b-own"),
        integration=integration,
        install=install,
        account=account,
        event=event,
    )


Variables = Callable[[World], dict[str, Any]]


@dataclass(frozen=True)
class QueryCase:
    """A query that names team A's ids and the path to what it returned."""

    document: str
    variables: Variables


def _connection_case(field: str, filter_: str, kind: str) -> QueryCase:
    return QueryCase(
        f"query ($id: ID!) {{ {field}(filter: {{ {filter_}: {{eq: $id}} }}) "
        "{ totalCount nodes { id } edges { cursor } } }",
        lambda world: {"id": world.ids()[kind]},
    )


QUERY_CASES: dict[str, list[QueryCase]] = {
    "node": [
        QueryCase(
            "query ($id: ID!) { node(id: $id) { id } }",
            lambda world, kind=kind: {"id": world.ids()[kind]},  # type: ignore[misc]
        )
        for kind in ("environment", "integration", "install", "account")
    ],
    "nodes": [
        QueryCase(
            "query ($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            lambda world: {"ids": list(world.ids().values())},
        )
    ],
    "environments": [_connection_case("environments", "id", "environment")],
    "integrations": [_connection_case("integrations", "id", "integration")],
    "environmentIntegrations": [
        _connection_case("environmentIntegrations", "id", "install"),
        _connection_case("environmentIntegrations", "environmentId", "environment"),
    ],
    "integratedAccounts": [
        _connection_case("integratedAccounts", "id", "account"),
        _connection_case("integratedAccounts", "integrationId", "integration"),
    ],
    "events": [_connection_case("events", "integratedAccountId", "account")],
}


@dataclass(frozen=True)
class MutationCase:
    """A mutation whose input names one of team A's ids."""

    document: str
    input: Callable[[World, str], dict[str, Any]]
    # Which of A's ids the input names; replaced by a random id to compare.
    kind: str


def _mutation(field: str, selection: str = "") -> str:
    input_type = field[0].upper() + field[1:] + "Input"
    return (
        f"mutation ($input: {input_type}!) {{ {field}(input: $input) "
        f"{{ {selection} userErrors {{ field message code }} }} }}"
    )


MUTATION_CASES: dict[str, MutationCase] = {
    "updateIntegration": MutationCase(
        _mutation("updateIntegration", "integration { id }"),
        lambda world, id_: {"id": id_, "version": 1, "name": "taken"},
        "integration",
    ),
    "deleteIntegration": MutationCase(
        _mutation("deleteIntegration", "deletedIntegrationId"),
        lambda world, id_: {"id": id_},
        "integration",
    ),
    "installIntegration": MutationCase(
        _mutation("installIntegration", "environmentIntegration { id }"),
        lambda world, id_: {
            "integrationId": id_,
            "environmentId": str(world.b.production.id),
        },
        "integration",
    ),
    "updateEnvironmentIntegration": MutationCase(
        _mutation("updateEnvironmentIntegration", "environmentIntegration { id }"),
        lambda world, id_: {"id": id_, "isEnabled": False},
        "install",
    ),
    "uninstallIntegration": MutationCase(
        _mutation("uninstallIntegration", "deletedEnvironmentIntegrationId"),
        lambda world, id_: {"id": id_},
        "install",
    ),
    "updateIntegratedAccount": MutationCase(
        _mutation("updateIntegratedAccount", "integratedAccount { id }"),
        lambda world, id_: {"id": id_, "tenantId": "stolen"},
        "account",
    ),
    "deleteIntegratedAccount": MutationCase(
        _mutation("deleteIntegratedAccount", "deletedIntegratedAccountId"),
        lambda world, id_: {"id": id_},
        "account",
    ),
    "createIntegratedAccount": MutationCase(
        _mutation("createIntegratedAccount", "integratedAccount { id }"),
        lambda world, id_: {
            "environmentIntegrationId": id_,
            "tenantId": "intruder",
            "context": {},
        },
        "install",
    ),
    "reauthorizeIntegratedAccount": MutationCase(
        _mutation("reauthorizeIntegratedAccount", "integratedAccount { id }"),
        lambda world, id_: {"id": id_},
        "account",
    ),
    "revalidateIntegratedAccount": MutationCase(
        _mutation("revalidateIntegratedAccount", "integratedAccount { id }"),
        lambda world, id_: {"id": id_},
        "account",
    ),
    "updateIntegratedAccountCredentials": MutationCase(
        _mutation("updateIntegratedAccountCredentials", "integratedAccount { id }"),
        lambda world, id_: {"id": id_, "credentials": {"api_key": "stolen"}},
        "account",
    ),
}
# Mutations whose input names no existing record; each has its own test below.
OTHER_MUTATIONS = {"createIntegration", "revalidateIntegratedAccounts"}


def _root_fields(type_name: str) -> set[str]:
    root = schema._schema.get_type(type_name)
    return set(getattr(root, "fields", {}))


def test_every_query_has_a_case() -> None:
    assert _root_fields("Query") == set(QUERY_CASES)


def test_every_mutation_has_a_case() -> None:
    assert _root_fields("Mutation") == set(MUTATION_CASES) | OTHER_MUTATIONS


def _tokens(world: World) -> list[str]:
    return [world.b.team_token, world.b.production_token]


def _assert_nothing_found(value: Any, path: str) -> None:
    """Assert that a query result contains no record: nulls, empty lists, zeros."""
    if isinstance(value, dict):
        for key, child in value.items():
            _assert_nothing_found(child, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            assert item is None, f"{path}[{index}] = {item!r}"
    else:
        assert value in (None, 0), f"{path} = {value!r}"


@pytest.mark.parametrize(
    ("field", "index"),
    [
        pytest.param(field, index, id=f"{field}-{index}")
        for field, cases in QUERY_CASES.items()
        for index in range(len(cases))
    ],
)
def test_foreign_query_finds_nothing(
    client: GraphQLClient, world: World, field: str, index: int
) -> None:
    case = QUERY_CASES[field][index]

    for token in _tokens(world):
        data = client.data(case.document, case.variables(world), token=token)

        _assert_nothing_found(data, "data")


def test_owner_sees_what_foreign_tokens_miss(
    client: GraphQLClient, world: World
) -> None:
    for field, cases in QUERY_CASES.items():
        for case in cases:
            data = client.data(
                case.document, case.variables(world), token=world.a.team_token
            )

            assert _has_record(data), (field, data)


def _has_record(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_record(child) for child in value.values())
    if isinstance(value, list):
        return any(item is not None for item in value)
    return value not in (None, 0)


def _normalized(errors: list[dict[str, Any]]) -> list[tuple[Any, str, str]]:
    uuid_pattern = re.compile(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    )
    return [
        (error["field"], error["code"], uuid_pattern.sub("<id>", error["message"]))
        for error in errors
    ]


@pytest.mark.parametrize("field", sorted(MUTATION_CASES))
def test_foreign_mutation_is_not_found(
    client: GraphQLClient, world: World, field: str
) -> None:
    case = MUTATION_CASES[field]
    foreign_id = world.ids()[case.kind]
    missing_id = str(uuid.uuid4())

    for token in _tokens(world):
        foreign = client.data(
            case.document, {"input": case.input(world, foreign_id)}, token=token
        )[field]
        missing = client.data(
            case.document, {"input": case.input(world, missing_id)}, token=token
        )[field]

        assert [error["code"] for error in foreign["userErrors"]] == ["NOT_FOUND"]
        assert _normalized(foreign["userErrors"]) == _normalized(missing["userErrors"])
        assert foreign_id not in str(
            {k: v for k, v in foreign.items() if k != "userErrors"}
        )


def test_foreign_mutations_change_nothing(
    client: GraphQLClient, world: World, seeder: Seeder
) -> None:
    for case in MUTATION_CASES.values():
        input_ = case.input(world, world.ids()[case.kind])
        client.data(case.document, {"input": input_}, token=world.b.team_token)

    integration = seeder.get(models.Integration, world.integration.id)
    install = seeder.get(models.EnvironmentIntegration, world.install.id)
    account = seeder.get(models.IntegratedAccount, world.account.id)
    assert integration is not None
    assert integration.version == 1
    assert integration.name == "isolated"
    assert install is not None
    assert install.is_enabled is True
    assert account is not None
    assert account.tenant_id == "a-tenant"
    assert account.context == {"k": "v"}


def test_create_integration_ignores_foreign_names(
    client: GraphQLClient, world: World, seeder: Seeder
) -> None:
    other = make_tenant(seeder)
    document = _mutation("createIntegration", "integration { id name }")
    variables = {
        "input": {
            "name": world.integration.name,
            "category": "crm",
            "config": {"base_url": "http://127.0.0.1:9/api"},
        }
    }

    payload = client.data(document, variables, token=other.team_token)[
        "createIntegration"
    ]

    assert payload["userErrors"] == []
    assert payload["integration"]["name"] == world.integration.name
    assert payload["integration"]["id"] != str(world.integration.id)


def test_bulk_revalidation_skips_foreign_environment(
    client: GraphQLClient, world: World
) -> None:
    document = _mutation(
        "revalidateIntegratedAccounts", "matchedCount revalidatedCount"
    )
    variables = {
        "input": {"filter": {"environmentId": {"eq": str(world.a.production.id)}}}
    }

    for token in _tokens(world):
        payload = client.data(document, variables, token=token)[
            "revalidateIntegratedAccounts"
        ]

        assert payload["matchedCount"] == 0
        assert payload["revalidatedCount"] == 0


def test_foreign_token_sees_no_nested_foreign_rows(
    client: GraphQLClient, world: World
) -> None:
    query = (
        "{ integrations(first: 100) { totalCount nodes { id sharing "
        "environmentIntegrations { totalCount } "
        "integratedAccounts { totalCount } } } environments { nodes { "
        "integratedAccounts { totalCount } environmentIntegrations { totalCount } } } "
        "events { totalCount } }"
    )

    data = client.data(query, token=world.b.team_token)

    # Other tests on the shared server may leave integrations shared with
    # every team (ALLOW), so team B can see those, but never team A's.
    own_id = str(world.b_integration.id)
    nodes = data["integrations"]["nodes"]
    ids = {node["id"] for node in nodes}
    assert own_id in ids
    assert str(world.integration.id) not in ids
    assert all(node["sharing"] == "ALLOW" for node in nodes if node["id"] != own_id)
    assert data["events"]["totalCount"] == 0
    for environment in data["environments"]["nodes"]:
        assert environment["integratedAccounts"]["totalCount"] == 0
        assert environment["environmentIntegrations"]["totalCount"] == 0
