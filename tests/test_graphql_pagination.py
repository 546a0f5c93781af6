"""Keyset pagination: page walks, orders, cursors and argument checks."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from db import models
from db.enums import IntegratedAccountStatus
from db.types import utc_now
from tests.conftest import GraphQLClient, Seeder, Tenant, make_tenant

PAGE_QUERY = """
query Page(
  $filter: IntegratedAccountFilter
  $orderBy: [IntegratedAccountOrder!]
  $first: Int
  $after: String
  $last: Int
  $before: String
) {
  integratedAccounts(
    filter: $filter
    orderBy: $orderBy
    first: $first
    after: $after
    last: $last
    before: $before
  ) {
    totalCount
    edges { cursor node { id } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""

TIED_ROW_COUNT = 50


@dataclass
class PagingWorld:
    tenant: Tenant
    install: models.EnvironmentIntegration
    tied: list[models.IntegratedAccount]
    varied: list[models.IntegratedAccount]
    tied_at: datetime


@pytest.fixture(scope="module")
def paged(seeder: Seeder) -> PagingWorld:
    tenant = make_tenant(seeder)
    integration = seeder.integration(tenant.team, "Paged")
    install = seeder.install(tenant.production, integration)

    # 50 rows with the same timestamps, so only the id orders them.
    tied_at = utc_now() - timedelta(days=2)
    tied = [
        seeder.account_row(
            install, tenant_id="tied", created_at=tied_at, updated_at=tied_at
        )
        for _ in range(TIED_ROW_COUNT)
    ]
    seeder.add(*tied)

    varied = _varied_rows(seeder, install, utc_now() - timedelta(days=20))
    seeder.add(*varied)
    return PagingWorld(tenant, install, tied, varied, tied_at)


def _varied_rows(
    seeder: Seeder, install: models.EnvironmentIntegration, start: datetime
) -> list[models.IntegratedAccount]:
    """Build 30 rows whose sort keys repeat, in mixed case for tenant ids."""
    tenant_ids = itertools.cycle(["alpha", "Bravo", "charlie", "Alpha", "bravo"])
    statuses = itertools.cycle(list(IntegratedAccountStatus))
    rows = []
    for index in range(30):
        created_at = start + timedelta(hours=index // 3)
        row = seeder.account_row(
            install,
            tenant_id=f"varied-{next(tenant_ids)}",
            status=next(statuses).value,
            created_at=created_at,
            updated_at=created_at + timedelta(hours=(index * 7) % 5),
        )
        rows.append(row)
    return rows


TIED_FILTER = {"tenantId": {"eq": "tied"}}
VARIED_FILTER = {"tenantId": {"startsWith": "varied-"}}


def _page(client: GraphQLClient, token: str, **variables: Any) -> dict[str, Any]:
    data = client.data(PAGE_QUERY, variables, token=token)
    connection: dict[str, Any] = data["integratedAccounts"]
    return connection


def _ids(connection: dict[str, Any]) -> list[str]:
    return [edge["node"]["id"] for edge in connection["edges"]]


def _walk_forward(
    client: GraphQLClient,
    token: str,
    page_size: int,
    between_pages: Callable[[int], None] = lambda _number: None,
    **variables: Any,
) -> list[str]:
    """Follow `endCursor` until `hasNextPage` is false and return every id seen."""
    seen: list[str] = []
    after = None
    for number in itertools.count():
        connection = _page(client, token, first=page_size, after=after, **variables)
        seen.extend(_ids(connection))
        if not connection["pageInfo"]["hasNextPage"]:
            return seen
        after = connection["pageInfo"]["endCursor"]
        between_pages(number)
    raise AssertionError("unreachable")


def _walk_backward(
    client: GraphQLClient, token: str, page_size: int, **variables: Any
) -> list[str]:
    """Follow `startCursor` backward until `hasPreviousPage` is false."""
    pages: list[list[str]] = []
    before = None
    while True:
        connection = _page(client, token, last=page_size, before=before, **variables)
        pages.insert(0, _ids(connection))
        if not connection["pageInfo"]["hasPreviousPage"]:
            return [row_id for page in pages for row_id in page]
        before = connection["pageInfo"]["startCursor"]


def _sorted_ids(
    rows: list[models.IntegratedAccount], *keys: tuple[str, bool]
) -> list[str]:
    """Sort rows like the server: by each (attribute, descending), then id."""
    ordered = sorted(rows, key=lambda row: row.id.hex, reverse=keys[-1][1])
    for attribute, descending in reversed(keys):
        ordered.sort(key=lambda row: getattr(row, attribute), reverse=descending)
    return [str(row.id) for row in ordered]


def test_forward_walk_over_tied_rows(client: GraphQLClient, paged: PagingWorld) -> None:
    seen = _walk_forward(
        client, paged.tenant.team_token, page_size=7, filter=TIED_FILTER
    )

    assert len(seen) == TIED_ROW_COUNT
    assert seen == _sorted_ids(paged.tied, ("created_at", True))


def test_backward_walk_over_tied_rows(
    client: GraphQLClient, paged: PagingWorld
) -> None:
    seen = _walk_backward(
        client, paged.tenant.team_token, page_size=7, filter=TIED_FILTER
    )

    assert len(seen) == TIED_ROW_COUNT
    assert seen == _sorted_ids(paged.tied, ("created_at", True))


def test_walk_survives_inserts_between_pages(
    client: GraphQLClient, seeder: Seeder, paged: PagingWorld
) -> None:
    tenant_id = "inserted-walk"
    originals = [
        seeder.account_row(
            paged.install,
            tenant_id=tenant_id,
            created_at=paged.tied_at,
            updated_at=paged.tied_at,
        )
        for _ in range(30)
    ]
    seeder.add(*originals)
    inserted: list[models.IntegratedAccount] = []

    def insert_rows(_page_number: int) -> None:
        # Rows tied with the walked ones land on both sides of the cursor.
        # A newer row lands before the first page.
        newer = paged.tied_at + timedelta(minutes=1)
        rows = [
            seeder.account_row(
                paged.install,
                tenant_id=tenant_id,
                created_at=paged.tied_at,
                updated_at=paged.tied_at,
            )
            for _ in range(4)
        ]
        rows.append(
            seeder.account_row(
                paged.install, tenant_id=tenant_id, created_at=newer, updated_at=newer
            )
        )
        seeder.add(*rows)
        inserted.extend(rows)

    seen = _walk_forward(
        client,
        paged.tenant.team_token,
        page_size=6,
        between_pages=insert_rows,
        filter={"tenantId": {"eq": tenant_id}},
    )

    original_ids = {str(row.id) for row in originals}
    assert len(seen) == len(set(seen))
    assert original_ids <= set(seen)
    assert set(seen) <= original_ids | {str(row.id) for row in inserted}
    # Rows seen keep the server's order, inserted ones included.
    everything = [*originals, *inserted]
    expected_order = [
        row_id
        for row_id in _sorted_ids(everything, ("created_at", True))
        if row_id in seen
    ]
    assert seen == expected_order


ORDER_CASES = [
    pytest.param("CREATED_AT", "created_at", id="created-at"),
    pytest.param("UPDATED_AT", "updated_at", id="updated-at"),
    pytest.param("TENANT_ID", "tenant_id", id="tenant-id"),
    pytest.param("STATUS", "status", id="status"),
]


@pytest.mark.parametrize("direction", ["ASC", "DESC"])
@pytest.mark.parametrize(("field", "attribute"), ORDER_CASES)
def test_order_by_field_and_direction(
    client: GraphQLClient,
    paged: PagingWorld,
    field: str,
    attribute: str,
    direction: str,
) -> None:
    order_by = [{"field": field, "direction": direction}]

    seen = _walk_forward(
        client,
        paged.tenant.team_token,
        page_size=8,
        filter=VARIED_FILTER,
        orderBy=order_by,
    )

    assert seen == _sorted_ids(paged.varied, (attribute, direction == "DESC"))


def test_order_by_two_fields_in_mixed_directions(
    client: GraphQLClient, paged: PagingWorld
) -> None:
    order_by = [
        {"field": "STATUS", "direction": "ASC"},
        {"field": "CREATED_AT", "direction": "DESC"},
    ]

    forward = _walk_forward(
        client,
        paged.tenant.team_token,
        page_size=4,
        filter=VARIED_FILTER,
        orderBy=order_by,
    )
    backward = _walk_backward(
        client,
        paged.tenant.team_token,
        page_size=4,
        filter=VARIED_FILTER,
        orderBy=order_by,
    )

    expected = _sorted_ids(paged.varied, ("status", False), ("created_at", True))
    assert forward == expected
    assert backward == expected


def test_direction_defaults_to_ascending(
    client: GraphQLClient, paged: PagingWorld
) -> None:
    connection = _page(
        client,
        paged.tenant.team_token,
        first=100,
        filter=VARIED_FILTER,
        orderBy=[{"field": "TENANT_ID"}],
    )

    assert _ids(connection) == _sorted_ids(paged.varied, ("tenant_id", False))


def test_default_order_is_newest_first(
    client: GraphQLClient, paged: PagingWorld
) -> None:
    connection = _page(client, paged.tenant.team_token, first=100, filter=VARIED_FILTER)

    assert _ids(connection) == _sorted_ids(paged.varied, ("created_at", True))


def test_default_page_size_is_25(client: GraphQLClient, paged: PagingWorld) -> None:
    connection = _page(client, paged.tenant.team_token, filter=TIED_FILTER)

    assert len(connection["edges"]) == 25
    assert connection["pageInfo"]["hasNextPage"] is True


def test_page_info_of_first_middle_and_last_page(
    client: GraphQLClient, paged: PagingWorld
) -> None:
    token = paged.tenant.team_token

    first_page = _page(client, token, first=20, filter=TIED_FILTER)
    middle = _page(
        client,
        token,
        first=20,
        after=first_page["pageInfo"]["endCursor"],
        filter=TIED_FILTER,
    )
    last_page = _page(
        client,
        token,
        first=20,
        after=middle["pageInfo"]["endCursor"],
        filter=TIED_FILTER,
    )

    assert first_page["pageInfo"]["hasPreviousPage"] is False
    assert first_page["pageInfo"]["hasNextPage"] is True
    assert middle["pageInfo"]["hasPreviousPage"] is True
    assert middle["pageInfo"]["hasNextPage"] is True
    assert last_page["pageInfo"]["hasPreviousPage"] is True
    assert last_page["pageInfo"]["hasNextPage"] is False
    assert len(last_page["edges"]) == TIED_ROW_COUNT - 40


def test_cursors_of_edges_match_page_info(
    client: GraphQLClient, paged: PagingWorld
) -> None:
    connection = _page(client, paged.tenant.team_token, first=5, filter=TIED_FILTER)

    cursors = [edge["cursor"] for edge in connection["edges"]]
    assert connection["pageInfo"]["startCursor"] == cursors[0]
    assert connection["pageInfo"]["endCursor"] == cursors[-1]
    assert len(set(cursors)) == 5


def test_total_count_ignores_cursor(client: GraphQLClient, paged: PagingWorld) -> None:
    token = paged.tenant.team_token
    first_page = _page(client, token, first=10, filter=TIED_FILTER)

    second_page = _page(
        client,
        token,
        first=10,
        after=first_page["pageInfo"]["endCursor"],
        filter=TIED_FILTER,
    )

    assert first_page["totalCount"] == TIED_ROW_COUNT
    assert second_page["totalCount"] == TIED_ROW_COUNT


def test_first_zero_returns_no_edges(client: GraphQLClient, paged: PagingWorld) -> None:
    connection = _page(client, paged.tenant.team_token, first=0, filter=TIED_FILTER)

    assert connection["edges"] == []
    assert connection["pageInfo"]["hasNextPage"] is True
    assert connection["pageInfo"]["startCursor"] is None
    assert connection["pageInfo"]["endCursor"] is None


def test_after_and_before_bound_a_range(
    client: GraphQLClient, paged: PagingWorld
) -> None:
    token = paged.tenant.team_token
    full = _page(client, token, first=20, filter=TIED_FILTER)
    cursors = [edge["cursor"] for edge in full["edges"]]

    between = _page(
        client,
        token,
        first=100,
        after=cursors[4],
        before=cursors[10],
        filter=TIED_FILTER,
    )

    assert _ids(between) == _ids(full)[5:10]


def test_last_without_before_returns_final_rows(
    client: GraphQLClient, paged: PagingWorld
) -> None:
    connection = _page(client, paged.tenant.team_token, last=3, filter=TIED_FILTER)

    expected = _sorted_ids(paged.tied, ("created_at", True))[-3:]
    assert _ids(connection) == expected
    assert connection["pageInfo"]["hasPreviousPage"] is True
    assert connection["pageInfo"]["hasNextPage"] is False


def _cursor_of(payload: list[Any]) -> str:
    """Encode a cursor by hand, to send one with a well-formed shape."""
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


def _first_error(client: GraphQLClient, token: str, **variables: Any) -> dict[str, Any]:
    errors = client.errors(PAGE_QUERY, variables, token=token)
    return errors[0]


@pytest.mark.parametrize(
    ("variables", "message_part"),
    [
        pytest.param({"first": 2, "last": 2}, "not both", id="first-and-last"),
        pytest.param({"first": 101}, "`first` is 101", id="first-over-100"),
        pytest.param({"first": -1}, "`first` is -1", id="first-negative"),
        pytest.param({"last": 101}, "`last` is 101", id="last-over-100"),
        pytest.param({"after": "not-a-cursor"}, "is malformed", id="cursor-garbage"),
        pytest.param({"before": "W10="}, "is malformed", id="cursor-empty-list"),
        pytest.param(
            {
                "after": _cursor_of(
                    ["integratedAccounts", "created_at:desc", ["x"], "z"]
                )
            },
            "is malformed",
            id="cursor-bad-values",
        ),
        pytest.param(
            {
                "orderBy": [
                    {"field": "STATUS"},
                    {"field": "STATUS", "direction": "DESC"},
                ]
            },
            "twice",
            id="order-field-twice",
        ),
    ],
)
def test_invalid_paging_argument_is_rejected(
    client: GraphQLClient,
    paged: PagingWorld,
    variables: dict[str, Any],
    message_part: str,
) -> None:
    error = _first_error(client, paged.tenant.team_token, **variables)

    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert message_part in error["message"]


def test_cursor_of_other_order_is_rejected(
    client: GraphQLClient, paged: PagingWorld
) -> None:
    token = paged.tenant.team_token
    connection = _page(client, token, first=2, orderBy=[{"field": "TENANT_ID"}])

    error = _first_error(
        client, token, first=2, after=connection["pageInfo"]["endCursor"]
    )

    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "'tenant_id:asc'" in error["message"]
    assert "'created_at:desc'" in error["message"]


def test_cursor_of_other_connection_is_rejected(
    client: GraphQLClient, paged: PagingWorld
) -> None:
    token = paged.tenant.team_token
    data = client.data(
        "{ environments(first: 1) { pageInfo { endCursor } } }", token=token
    )
    cursor = data["environments"]["pageInfo"]["endCursor"]

    error = _first_error(client, token, first=2, after=cursor)

    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "'environments'" in error["message"]


def test_root_cursor_is_rejected_by_nested_connection(
    client: GraphQLClient, paged: PagingWorld
) -> None:
    token = paged.tenant.team_token
    cursor = _page(client, token, first=1)["pageInfo"]["endCursor"]
    query = """
    query ($id: ID!, $after: String) {
      node(id: $id) {
        ... on Environment {
          integratedAccounts(first: 1, after: $after) { nodes { id } }
        }
      }
    }
    """

    errors = client.errors(
        query, {"id": str(paged.tenant.production.id), "after": cursor}, token=token
    )

    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "'Environment.integratedAccounts'" in errors[0]["message"]


def test_nested_connection_pages_forward(
    client: GraphQLClient, paged: PagingWorld
) -> None:
    query = """
    query ($id: ID!, $after: String) {
      node(id: $id) {
        ... on EnvironmentIntegration {
          integratedAccounts(
            first: 30, after: $after, filter: {tenantId: {eq: "tied"}}
          ) {
            nodes { id }
            pageInfo { hasNextPage endCursor }
          }
        }
      }
    }
    """
    variables: dict[str, Any] = {"id": str(paged.install.id)}
    token = paged.tenant.team_token

    first_page = client.data(query, variables, token=token)["node"][
        "integratedAccounts"
    ]
    variables["after"] = first_page["pageInfo"]["endCursor"]
    second_page = client.data(query, variables, token=token)["node"][
        "integratedAccounts"
    ]

    seen = [node["id"] for node in first_page["nodes"] + second_page["nodes"]]
    assert seen == _sorted_ids(paged.tied, ("created_at", True))
    assert second_page["pageInfo"]["hasNextPage"] is False


def test_integrations_page_by_name(client: GraphQLClient, seeder: Seeder) -> None:
    tenant = make_tenant(seeder)
    names = ["delta", "Alpha", "charlie", "bravo", "echo"]
    for name in names:
        seeder.integration(tenant.team, name, category="paging")
    query = """
    query ($after: String) {
      integrations(
        first: 2, after: $after, orderBy: [{field: NAME}],
        filter: {category: {eq: "paging"}}
      ) {
        nodes { name }
        pageInfo { hasNextPage endCursor }
      }
    }
    """
    seen: list[str] = []
    after = None

    while True:
        data = client.data(query, {"after": after}, token=tenant.team_token)
        connection = data["integrations"]
        seen.extend(node["name"] for node in connection["nodes"])
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]

    assert seen == sorted(names)


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        pytest.param(
            [{"field": "NAME", "direction": "DESC"}],
            ["staging", "production", "preview"],
            id="name-desc",
        ),
        pytest.param(
            [{"field": "CREATED_AT", "direction": "ASC"}],
            ["production", "staging", "preview"],
            id="created-at-asc",
        ),
        pytest.param(
            [{"field": "CREATED_AT", "direction": "DESC"}],
            ["preview", "staging", "production"],
            id="created-at-desc",
        ),
    ],
)
def test_environments_order(
    client: GraphQLClient,
    seeder: Seeder,
    order_by: list[dict[str, str]],
    expected: list[str],
) -> None:
    tenant = make_tenant(seeder)
    seeder.environment(tenant.team, "preview")
    query = """
    query ($orderBy: [EnvironmentOrder!]) {
      environments(orderBy: $orderBy) { nodes { name } }
    }
    """

    data = client.data(query, {"orderBy": order_by}, token=tenant.team_token)

    assert [node["name"] for node in data["environments"]["nodes"]] == expected


@pytest.mark.parametrize("direction", ["ASC", "DESC"])
def test_installs_order_by_updated_at(
    client: GraphQLClient, seeder: Seeder, direction: str
) -> None:
    tenant = make_tenant(seeder)
    start = utc_now() - timedelta(days=1)
    installs = [
        seeder.install(
            tenant.production,
            seeder.integration(tenant.team),
            updated_at=start + timedelta(minutes=offset),
        )
        for offset in (30, 10, 20)
    ]
    query = """
    query ($orderBy: [EnvironmentIntegrationOrder!]) {
      environmentIntegrations(orderBy: $orderBy) { nodes { id } }
    }
    """

    data = client.data(
        query,
        {"orderBy": [{"field": "UPDATED_AT", "direction": direction}]},
        token=tenant.team_token,
    )

    returned = [node["id"] for node in data["environmentIntegrations"]["nodes"]]
    ordered = sorted(
        installs, key=lambda row: row.updated_at, reverse=direction == "DESC"
    )
    assert returned == [str(row.id) for row in ordered]
