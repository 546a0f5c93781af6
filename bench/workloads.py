"""The list workloads: GraphQL documents and the equivalent baseline requests.

Each workload is one HTTP request body, sent over and over by wrk: a GraphQL
document with variables for ``/graphql``, and a small JSON object for the
baseline's ``/accounts`` that requests the same page. Both respond with the
same JSON document, which `check_same_page` verifies before any timing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bench import dataset

CONNECTION = "integratedAccounts"
# The order of every workload: newest first, ties by id.
ORDER_BY = "[{field: CREATED_AT, direction: DESC}]"
# Depth of workload 3 when the dataset is large enough.
DEEP_PAGE_DEPTH = 150_000

PAGE_FIELDS = """
      id tenantId status region isSandbox createdAt updatedAt
      integration { name category }
"""
WIDE_FIELDS = """
      id tenantId status region isSandbox authenticationMethod lastError
      createdAt updatedAt lastValidatedAt
      integration { id name category }
      environment { id name }
"""


def accounts_document(fields: str, *, total_count: bool = False) -> str:
    """Return a query of one page of accounts, newest first, with `fields`."""
    count = "totalCount" if total_count else ""
    return f"""
query Accounts($first: Int!, $after: String, $filter: IntegratedAccountFilter) {{
  integratedAccounts(
    first: $first, after: $after, filter: $filter, orderBy: {ORDER_BY}
  ) {{
    {count}
    nodes {{{fields}    }}
    pageInfo {{ endCursor hasNextPage }}
  }}
}}
"""


@dataclass(frozen=True, slots=True)
class Workload:
    """One list request, as GraphQL and as the baseline's parameters."""

    key: str
    title: str
    first: int
    wide: bool = False
    after: str | None = None
    status: str | None = None
    created_at_gte: datetime | None = None

    @property
    def graphql_filter(self) -> dict[str, Any] | None:
        """The `filter` variable, or None without conditions."""
        conditions: dict[str, Any] = {}
        if self.status is not None:
            conditions["status"] = {"eq": self.status}
        if self.created_at_gte is not None:
            conditions["createdAt"] = {"gte": self.created_at_gte.isoformat()}
        return conditions or None

    def graphql_body(self, *, total_count: bool = False) -> dict[str, Any]:
        """Return the JSON body of the GraphQL request."""
        fields = WIDE_FIELDS if self.wide else PAGE_FIELDS
        return {
            "query": accounts_document(fields, total_count=total_count),
            "variables": {
                "first": self.first,
                "after": self.after,
                "filter": self.graphql_filter,
            },
        }

    def baseline_body(self) -> dict[str, Any]:
        """Return the JSON body of the equivalent baseline request."""
        return {
            "first": self.first,
            "after": self.after,
            "wide": self.wide,
            "status": self.status,
            "createdAtGte": (
                None if self.created_at_gte is None else self.created_at_gte.isoformat()
            ),
        }


def list_workloads(deep_cursor: str) -> tuple[Workload, ...]:
    """Return workloads 1 to 4; `deep_cursor` points at the deep page's start."""
    return (
        Workload("w1", "First page of 25, newest first", first=25),
        Workload(
            "w2",
            "Page of 25 with status NEEDS_REAUTH, created in the last 180 days",
            first=25,
            status="NEEDS_REAUTH",
            created_at_gte=dataset.RECENT_SINCE,
        ),
        Workload("w3", "Page of 25 after a deep cursor", first=25, after=deep_cursor),
        Workload("w4", "Page of 100 with integration and environment", 100, True),
    )


def deep_page_depth(accounts: int) -> int:
    """Return the depth of workload 3: 150,000, or 3/4 of a smaller dataset."""
    return min(DEEP_PAGE_DEPTH, accounts * 3 // 4)


class UnexpectedResponseError(AssertionError):
    """Raised when a server's response to a workload is not the expected one."""


def page_of(document: Any, workload: Workload, server: str) -> dict[str, Any]:
    """Return the connection object of a response, checking its shape and size."""
    if not isinstance(document, dict) or document.get("errors"):
        raise UnexpectedResponseError(
            f"{server} returned errors for {workload.key}: {str(document)[:500]}"
        )
    page: dict[str, Any] = document["data"][CONNECTION]
    if len(page["nodes"]) != workload.first:
        raise UnexpectedResponseError(
            f"{server} returned {len(page['nodes'])} nodes for {workload.key}, "
            f"expected {workload.first}: the dataset is too small for it"
        )
    return page


def check_same_page(graphql: Any, baseline: Any, workload: Workload) -> None:
    """Raise UnexpectedResponseError unless both servers returned the same page."""
    graphql_page = page_of(graphql, workload, "the GraphQL server")
    baseline_page = page_of(baseline, workload, "the baseline")
    if graphql_page != baseline_page:
        for index, (left, right) in enumerate(
            zip(graphql_page["nodes"], baseline_page["nodes"], strict=True)
        ):
            if left != right:
                raise UnexpectedResponseError(
                    f"{workload.key} node {index} differs: GraphQL {left!r}, "
                    f"baseline {right!r}"
                )
        raise UnexpectedResponseError(
            f"{workload.key} pageInfo differs: GraphQL "
            f"{graphql_page['pageInfo']!r}, baseline {baseline_page['pageInfo']!r}"
        )
