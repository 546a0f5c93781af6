"""Account events: one per real transition, none on reads, readable after delete."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import GraphQLClient, Seeder, make_tenant
from tests.upstream.accounts import (
    Installed,
    api_key_config,
    create_account,
    event_types,
    install,
)
from tests.upstream.helpers import API_KEY
from tests.upstream.vendor import Vendor

pytest_plugins = ["tests.upstream.plugin"]

EVENTS = """
query Events($filter: IntegratedAccountEventFilter, $first: Int, $after: String,
             $orderBy: [IntegratedAccountEventOrder!]) {
  events(filter: $filter, first: $first, after: $after, orderBy: $orderBy) {
    nodes { id type name createdAt integratedAccountId environmentId account
            integratedAccount { id } }
    pageInfo { hasNextPage endCursor }
    totalCount
  }
}
"""
UPDATE = """
mutation Update($input: UpdateIntegratedAccountInput!) {
  updateIntegratedAccount(input: $input) { userErrors { code } }
}
"""
DELETE = """
mutation Delete($input: DeleteIntegratedAccountInput!) {
  deleteIntegratedAccount(input: $input) { userErrors { code } }
}
"""
UNINSTALL = """
mutation Uninstall($input: UninstallIntegrationInput!) {
  uninstallIntegration(input: $input) { userErrors { code } }
}
"""
ACCOUNT = """
query Account($id: ID!) { node(id: $id) { ... on IntegratedAccount { status } } }
"""


def connected(
    client: GraphQLClient, seeder: Seeder, vendor: Vendor
) -> tuple[Installed, str]:
    """Install an API-key integration and connect one active account."""
    installed = install(seeder, api_key_config(vendor))
    vendor.api_keys[API_KEY] = {"read"}
    payload = create_account(client, installed, {"api_key": API_KEY})
    return installed, payload["integratedAccount"]["id"]


def events(client: GraphQLClient, token: str, **variables: Any) -> list[dict[str, Any]]:
    data = client.data(EVENTS, variables, token=token)
    nodes: list[dict[str, Any]] = data["events"]["nodes"]
    return nodes


def test_update_emits_one_updated_event(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed, account_id = connected(client, seeder, upstream)

    client.data(
        UPDATE,
        {"input": {"id": account_id, "tenantId": "renamed"}},
        token=installed.token,
    )

    assert event_types(client, account_id, installed.token) == [
        "integrated_account:created",
        "integrated_account:active",
        "integrated_account:updated",
    ]


def test_update_without_change_emits_nothing(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed, account_id = connected(client, seeder, upstream)

    client.data(
        UPDATE,
        {"input": {"id": account_id, "tenantId": "acme-1", "context": {}}},
        token=installed.token,
    )

    assert len(event_types(client, account_id, installed.token)) == 2


def test_reads_emit_nothing(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed, account_id = connected(client, seeder, upstream)

    client.data(ACCOUNT, {"id": account_id}, token=installed.token)
    events(client, installed.token)

    assert len(event_types(client, account_id, installed.token)) == 2


def test_deleted_account_events_stay_readable(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed, account_id = connected(client, seeder, upstream)

    client.data(DELETE, {"input": {"id": account_id}}, token=installed.token)

    found = events(
        client,
        installed.token,
        filter={"integratedAccountId": {"eq": account_id}},
        orderBy=[{"field": "CREATED_AT", "direction": "ASC"}],
    )
    assert [event["name"] for event in found] == [
        "integrated_account:created",
        "integrated_account:active",
        "integrated_account:deleted",
    ]
    assert found[-1]["integratedAccount"] is None
    assert found[-1]["account"]["id"] == account_id
    assert found[-1]["account"]["status"] == "active"


def test_uninstall_emits_deleted_for_each_account(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed, first_id = connected(client, seeder, upstream)
    second = create_account(client, installed, {"api_key": API_KEY}, tenantId="b")
    second_id = second["integratedAccount"]["id"]

    client.data(
        UNINSTALL, {"input": {"id": str(installed.install.id)}}, token=installed.token
    )

    deleted = events(
        client, installed.token, filter={"type": {"eq": "DELETED"}}, first=10
    )
    assert sorted(event["integratedAccountId"] for event in deleted) == sorted(
        [first_id, second_id]
    )


def test_events_are_scoped_to_environments(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed, _ = connected(client, seeder, upstream)
    staging = install(seeder, api_key_config(upstream), tenant=installed.tenant)
    staging.install.environment_id = installed.tenant.staging.id
    seeder.add(staging.install)
    create_account(client, staging, {"api_key": API_KEY})
    stranger = make_tenant(seeder)

    team_events = events(client, installed.tenant.team_token)
    production_events = events(client, installed.tenant.production_token)

    assert len(team_events) == 4
    assert {event["environmentId"] for event in production_events} == {
        str(installed.tenant.production.id)
    }
    assert events(client, stranger.team_token) == []


@pytest.mark.parametrize(
    ("event_filter", "expected"),
    [
        pytest.param(
            {"type": {"eq": "ACTIVE"}}, ["integrated_account:active"], id="eq"
        ),
        pytest.param(
            {"type": {"in": ["CREATED", "ACTIVE"]}},
            ["integrated_account:created", "integrated_account:active"],
            id="in",
        ),
        pytest.param({"type": {"eq": "DELETED"}}, [], id="none"),
    ],
)
def test_events_filter_by_type(
    client: GraphQLClient,
    seeder: Seeder,
    upstream: Vendor,
    event_filter: dict[str, Any],
    expected: list[str],
) -> None:
    installed, _ = connected(client, seeder, upstream)

    found = events(
        client,
        installed.token,
        filter=event_filter,
        orderBy=[{"field": "CREATED_AT", "direction": "ASC"}],
    )

    assert [event["name"] for event in found] == expected


def test_events_filter_by_time(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed, _ = connected(client, seeder, upstream)
    ascending = [{"field": "CREATED_AT", "direction": "ASC"}]
    created, active = events(client, installed.token, orderBy=ascending)

    later = events(
        client, installed.token, filter={"createdAt": {"gt": created["createdAt"]}}
    )
    earlier = events(
        client, installed.token, filter={"createdAt": {"lt": active["createdAt"]}}
    )

    assert [event["id"] for event in later] == [active["id"]]
    assert [event["id"] for event in earlier] == [created["id"]]


def test_events_page_with_cursors(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed, _ = connected(client, seeder, upstream)
    order = [{"field": "CREATED_AT", "direction": "DESC"}]

    first_page = client.data(
        EVENTS, {"first": 1, "orderBy": order}, token=installed.token
    )["events"]
    second_page = client.data(
        EVENTS,
        {"first": 1, "after": first_page["pageInfo"]["endCursor"], "orderBy": order},
        token=installed.token,
    )["events"]

    assert first_page["totalCount"] == 2
    assert first_page["pageInfo"]["hasNextPage"] is True
    assert first_page["nodes"][0]["name"] == "integrated_account:active"
    assert second_page["nodes"][0]["name"] == "integrated_account:created"
    assert second_page["pageInfo"]["hasNextPage"] is False


def test_event_payload_has_no_secrets(
    client: GraphQLClient, seeder: Seeder, upstream: Vendor
) -> None:
    installed, _ = connected(client, seeder, upstream)

    found = events(client, installed.token)

    for event in found:
        assert API_KEY not in str(event)
        assert "api_key" not in event["account"]["context"]
