"""Reads stay inside the token's team and, for environment tokens, environment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from db import models
from tests.conftest import GraphQLClient, Seeder, Tenant, make_tenant


@dataclass
class TwoTeams:
    """Team A and team B, with integrations shared in each direction."""

    a: Tenant
    b: Tenant
    a_private: models.Integration
    a_shared: models.Integration
    b_private: models.Integration
    b_shared: models.Integration
    b_ask: models.Integration
    a_production_install: models.EnvironmentIntegration
    a_production_shared_install: models.EnvironmentIntegration
    a_staging_install: models.EnvironmentIntegration
    b_install: models.EnvironmentIntegration
    a_production_accounts: list[models.IntegratedAccount]
    a_staging_accounts: list[models.IntegratedAccount]
    b_accounts: list[models.IntegratedAccount]


@pytest.fixture(scope="module")
def teams(seeder: Seeder) -> TwoTeams:
    a, b = make_tenant(seeder), make_tenant(seeder)
    a_private = seeder.integration(a.team, "a-private")
    a_shared = seeder.integration(a.team, "a-shared", sharing="allow")
    b_private = seeder.integration(b.team, "b-private")
    b_shared = seeder.integration(b.team, "b-shared", sharing="allow")
    b_ask = seeder.integration(b.team, "b-ask", sharing="ask")

    a_production_install = seeder.install(a.production, a_private)
    a_production_shared_install = seeder.install(a.production, b_shared)
    a_staging_install = seeder.install(a.staging, a_private)
    b_install = seeder.install(b.production, b_private)
    seeder.install(b.production, a_shared)

    return TwoTeams(
        a=a,
        b=b,
        a_private=a_private,
        a_shared=a_shared,
        b_private=b_private,
        b_shared=b_shared,
        b_ask=b_ask,
        a_production_install=a_production_install,
        a_production_shared_install=a_production_shared_install,
        a_staging_install=a_staging_install,
        b_install=b_install,
        a_production_accounts=[
            seeder.account(a_production_install, tenant_id="a-production-1"),
            seeder.account(a_production_shared_install, tenant_id="a-production-2"),
        ],
        a_staging_accounts=[seeder.account(a_staging_install, tenant_id="a-staging")],
        b_accounts=[
            seeder.account(b_install, tenant_id="b-1"),
            seeder.account(b_install, tenant_id="b-2"),
        ],
    )


def _ids(rows: list[Any]) -> set[str]:
    return {str(row.id) for row in rows}


def _list(
    client: GraphQLClient, token: str, field: str, selection: str = "id"
) -> tuple[set[str], int]:
    query = f"{{ {field}(first: 100) {{ totalCount nodes {{ {selection} }} }} }}"
    connection = client.data(query, token=token)[field]
    return {node["id"] for node in connection["nodes"]}, connection["totalCount"]


def test_team_token_lists_own_environments(
    client: GraphQLClient, teams: TwoTeams
) -> None:
    ids, total = _list(client, teams.a.team_token, "environments")

    assert ids == _ids([teams.a.production, teams.a.staging])
    assert total == 2


def test_environment_token_lists_one_environment(
    client: GraphQLClient, teams: TwoTeams
) -> None:
    ids, total = _list(client, teams.a.production_token, "environments")

    assert ids == _ids([teams.a.production])
    assert total == 1


def test_team_token_lists_own_accounts(client: GraphQLClient, teams: TwoTeams) -> None:
    ids, total = _list(client, teams.a.team_token, "integratedAccounts")

    expected = _ids(teams.a_production_accounts + teams.a_staging_accounts)
    assert ids == expected
    assert total == len(expected)


def test_environment_token_lists_own_environment_accounts(
    client: GraphQLClient, teams: TwoTeams
) -> None:
    ids, total = _list(client, teams.a.production_token, "integratedAccounts")

    assert ids == _ids(teams.a_production_accounts)
    assert total == 2


def test_other_team_lists_only_its_accounts(
    client: GraphQLClient, teams: TwoTeams
) -> None:
    ids, total = _list(client, teams.b.team_token, "integratedAccounts")

    assert ids == _ids(teams.b_accounts)
    assert total == 2


def test_team_token_lists_own_installs(client: GraphQLClient, teams: TwoTeams) -> None:
    ids, total = _list(client, teams.a.team_token, "environmentIntegrations")

    expected = _ids(
        [
            teams.a_production_install,
            teams.a_production_shared_install,
            teams.a_staging_install,
        ]
    )
    assert ids == expected
    assert total == 3


def test_environment_token_lists_own_environment_installs(
    client: GraphQLClient, teams: TwoTeams
) -> None:
    ids, _total = _list(client, teams.a.production_token, "environmentIntegrations")

    assert ids == _ids([teams.a_production_install, teams.a_production_shared_install])


def test_integrations_follow_sharing_policy(
    client: GraphQLClient, teams: TwoTeams
) -> None:
    ids, _total = _list(client, teams.a.team_token, "integrations")

    assert str(teams.a_private.id) in ids
    assert str(teams.a_shared.id) in ids
    assert str(teams.b_shared.id) in ids
    assert str(teams.b_private.id) not in ids
    assert str(teams.b_ask.id) not in ids


def test_installed_integration_stays_readable_after_unsharing(
    client: GraphQLClient, seeder: Seeder
) -> None:
    owner, user = make_tenant(seeder), make_tenant(seeder)
    integration = seeder.integration(owner.team, "unshared-later", sharing="allow")
    seeder.install(user.production, integration)
    integration.sharing = "deny"
    seeder.add(integration)
    query = "query ($id: ID!) { node(id: $id) { id } }"

    data = client.data(query, {"id": str(integration.id)}, token=user.team_token)

    assert data["node"] == {"id": str(integration.id)}


def _node_query(client: GraphQLClient, token: str, row_id: Any) -> Any:
    query = "query ($id: ID!) { node(id: $id) { id __typename } }"
    return client.data(query, {"id": str(row_id)}, token=token)["node"]


@pytest.mark.parametrize(
    "row_of",
    [
        pytest.param(lambda t: t.b.production, id="environment"),
        pytest.param(lambda t: t.b_private, id="private-integration"),
        pytest.param(lambda t: t.b_ask, id="ask-integration"),
        pytest.param(lambda t: t.b_install, id="install"),
        pytest.param(lambda t: t.b_accounts[0], id="account"),
    ],
)
def test_node_of_other_team_is_null(
    client: GraphQLClient, teams: TwoTeams, row_of: Any
) -> None:
    row = row_of(teams)

    node = _node_query(client, teams.a.team_token, row.id)

    assert node is None
    # The owner reads the same id, so the null above is not a missing row.
    assert _node_query(client, teams.b.team_token, row.id)["id"] == str(row.id)


@pytest.mark.parametrize(
    "row_of",
    [
        pytest.param(lambda t: t.a.staging, id="environment"),
        pytest.param(lambda t: t.a_staging_install, id="install"),
        pytest.param(lambda t: t.a_staging_accounts[0], id="account"),
    ],
)
def test_node_of_other_environment_is_null(
    client: GraphQLClient, teams: TwoTeams, row_of: Any
) -> None:
    row = row_of(teams)

    node = _node_query(client, teams.a.production_token, row.id)

    assert node is None
    assert _node_query(client, teams.a.team_token, row.id)["id"] == str(row.id)


def test_node_of_shared_integration_is_readable(
    client: GraphQLClient, teams: TwoTeams
) -> None:
    node = _node_query(client, teams.a.team_token, teams.b_shared.id)

    assert node == {"id": str(teams.b_shared.id), "__typename": "Integration"}


def test_nodes_mixes_own_and_foreign_ids(
    client: GraphQLClient, teams: TwoTeams
) -> None:
    ids = [
        str(teams.a_production_accounts[0].id),
        str(teams.b_accounts[0].id),
        str(teams.a.production.id),
        str(teams.b.production.id),
    ]
    query = "query ($ids: [ID!]!) { nodes(ids: $ids) { id __typename } }"

    data = client.data(query, {"ids": ids}, token=teams.a.team_token)

    assert data["nodes"] == [
        {"id": ids[0], "__typename": "IntegratedAccount"},
        None,
        {"id": ids[2], "__typename": "Environment"},
        None,
    ]


def test_shared_integration_nests_only_own_installs(
    client: GraphQLClient, teams: TwoTeams
) -> None:
    query = """
    query ($id: ID!) {
      node(id: $id) {
        ... on Integration {
          environmentIntegrations { totalCount nodes { id } }
          integratedAccounts { totalCount nodes { id } }
        }
      }
    }
    """

    data = client.data(query, {"id": str(teams.b_shared.id)}, token=teams.a.team_token)

    installs = data["node"]["environmentIntegrations"]
    accounts = data["node"]["integratedAccounts"]
    assert {node["id"] for node in installs["nodes"]} == _ids(
        [teams.a_production_shared_install]
    )
    assert installs["totalCount"] == 1
    assert {node["id"] for node in accounts["nodes"]} == _ids(
        [teams.a_production_accounts[1]]
    )
    assert accounts["totalCount"] == 1


def test_own_integration_hides_other_team_installs(
    client: GraphQLClient, teams: TwoTeams
) -> None:
    query = """
    query ($id: ID!) {
      node(id: $id) {
        ... on Integration { environmentIntegrations { totalCount } }
      }
    }
    """

    data = client.data(query, {"id": str(teams.a_shared.id)}, token=teams.a.team_token)

    # Team B installed a-shared; team A, its owner, does not see that install.
    assert data["node"]["environmentIntegrations"]["totalCount"] == 0


def test_environment_token_nests_only_its_environment(
    client: GraphQLClient, teams: TwoTeams
) -> None:
    query = """
    query ($id: ID!) {
      node(id: $id) {
        ... on Integration { integratedAccounts { totalCount nodes { id } } }
      }
    }
    """

    data = client.data(
        query, {"id": str(teams.a_private.id)}, token=teams.a.production_token
    )

    accounts = data["node"]["integratedAccounts"]
    assert {node["id"] for node in accounts["nodes"]} == _ids(
        [teams.a_production_accounts[0]]
    )
    assert accounts["totalCount"] == 1


def test_filter_by_foreign_environment_finds_nothing(
    client: GraphQLClient, teams: TwoTeams
) -> None:
    query = """
    query ($id: ID!) {
      integratedAccounts(filter: {environmentId: {eq: $id}}) { totalCount nodes { id } }
    }
    """

    data = client.data(
        query, {"id": str(teams.b.production.id)}, token=teams.a.team_token
    )

    assert data["integratedAccounts"] == {"totalCount": 0, "nodes": []}


def test_account_nests_its_own_objects(client: GraphQLClient, teams: TwoTeams) -> None:
    account = teams.a_production_accounts[1]
    query = """
    query ($id: ID!) {
      node(id: $id) {
        ... on IntegratedAccount {
          integration { id name }
          environment { id name }
          environmentIntegration { id }
        }
      }
    }
    """

    data = client.data(query, {"id": str(account.id)}, token=teams.a.production_token)

    assert data["node"] == {
        "integration": {"id": str(teams.b_shared.id), "name": "b-shared"},
        "environment": {"id": str(teams.a.production.id), "name": "production"},
        "environmentIntegration": {"id": str(teams.a_production_shared_install.id)},
    }


def test_viewer_can_edit_only_own_integrations(
    client: GraphQLClient, teams: TwoTeams
) -> None:
    query = """
    query ($ids: [ID!]!) { nodes(ids: $ids) { ... on Integration { viewerCanEdit } } }
    """
    ids = [str(teams.a_private.id), str(teams.b_shared.id)]

    team_view = client.data(query, {"ids": ids}, token=teams.a.team_token)
    environment_view = client.data(query, {"ids": ids}, token=teams.a.production_token)

    assert team_view["nodes"] == [{"viewerCanEdit": True}, {"viewerCanEdit": False}]
    assert environment_view["nodes"] == [
        {"viewerCanEdit": False},
        {"viewerCanEdit": False},
    ]
