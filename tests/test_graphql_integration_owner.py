"""The owning team of an integration: `teamId` and `ownedByViewer`."""

from __future__ import annotations

from tests.conftest import GraphQLClient, Seeder, make_tenant

OWNER_FIELDS = (
    "query ($id: ID!) { node(id: $id) { ... on Integration { teamId ownedByViewer } } }"
)


def test_owner_and_other_team_see_owner(client: GraphQLClient, seeder: Seeder) -> None:
    owner = make_tenant(seeder)
    other = make_tenant(seeder)
    integration = seeder.integration(owner.team, sharing="allow")
    variables = {"id": str(integration.id)}

    own_view = client.data(OWNER_FIELDS, variables, token=owner.team_token)["node"]
    other_view = client.data(OWNER_FIELDS, variables, token=other.team_token)["node"]

    # Other tests on the session server count the integrations they can see.
    integration.sharing = "deny"
    seeder.add(integration)
    assert own_view == {"teamId": str(owner.team.id), "ownedByViewer": True}
    assert other_view == {"teamId": str(owner.team.id), "ownedByViewer": False}
