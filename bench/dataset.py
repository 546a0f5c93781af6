"""The benchmark dataset: one team, 2 environments, 20 integrations, many accounts.

Everything is generated from fixed seeds, so two builds of the same
`DATASET_VERSION` and size hold the same rows, ids and token. Raise
`DATASET_VERSION` whenever the generated rows change, so that cached builds
are rebuilt.

The 20 integrations are installed in both environments (40 installs). Four
installs in Staging, `REVALIDATION_INSTALLS`, get exactly
`REVALIDATION_ACCOUNTS_PER_INSTALL` accounts each, all ACTIVE, for the bulk
revalidation workload. The other accounts are spread over the other 36
installs with a long tail, as a few popular integrations hold most
connections in practice.
"""

from __future__ import annotations

import base64
import hashlib
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from graphql_api.tokens import TOKEN_PREFIX, hash_token

DATASET_VERSION = 2
TENANTS = 20_000
# The GRAPHQL_API_SECRET_KEY that seals the dataset's credentials. It is fixed
# so that cached builds stay readable; the credentials it protects are
# generated, and the database lives only on this machine.
SECRET_KEY = (
    base64.urlsafe_b64encode(hashlib.sha256(b"graphql-api bench key").digest())
    .decode("ascii")
    .rstrip("=")
)
REVALIDATION_ACCOUNTS_PER_INSTALL = 500
# Accounts are created over the two years before this instant.
DATASET_END = datetime(2026, 1, 1, tzinfo=UTC)
CREATION_SPAN = timedelta(days=730)
# Workload 2 filters on accounts created in the last 180 days of the dataset.
RECENT_SINCE = DATASET_END - timedelta(days=180)
# Base URL stored at build time. `point_at_upstream` replaces it with the
# loopback upstream's address before a server starts. Nothing listens on
# port 1, so a request sent before that fails at once and stays on this host.
UNSET_BASE_URL = "http://127.0.0.1:1"

INTEGRATIONS = (
    ("hubspot", "crm"),
    ("salesforce", "crm"),
    ("pipedrive", "crm"),
    ("zendesk", "ticketing"),
    ("freshdesk", "ticketing"),
    ("jira", "ticketing"),
    ("github", "engineering"),
    ("gitlab", "engineering"),
    ("bamboohr", "hris"),
    ("workday", "hris"),
    ("gusto", "hris"),
    ("quickbooks", "accounting"),
    ("xero", "accounting"),
    ("netsuite", "accounting"),
    ("greenhouse", "ats"),
    ("lever", "ats"),
    ("slack", "messaging"),
    ("intercom", "messaging"),
    ("asana", "project_management"),
    ("notion", "knowledge_base"),
)
# Staging installs of these integrations take part in bulk revalidation.
REVALIDATION_INTEGRATIONS = ("gusto", "xero", "lever", "notion")
STATUS_WEIGHTS = (
    ("active", 80),
    ("needs_reauth", 8),
    ("validation_error", 5),
    ("connecting", 4),
    ("post_install_error", 3),
)
_LAST_ERRORS = {
    "needs_reauth": "The validation action failed: the upstream returned 401.",
    "validation_error": "The validation action failed: the upstream returned 500.",
    "post_install_error": "The post-install action failed: the upstream returned 404.",
}
REGION_WEIGHTS = (("wnam", 60), ("enam", 20), ("eu", 15), ("apac", 5))


@dataclass(frozen=True, slots=True)
class Install:
    """One environment integration of the dataset."""

    id: uuid.UUID
    integration_id: uuid.UUID
    integration_name: str
    environment_id: uuid.UUID
    environment_name: str


@dataclass(frozen=True, slots=True)
class Catalog:
    """The rows other than accounts, and the facts that workloads need."""

    team_id: uuid.UUID
    environments: dict[str, uuid.UUID]
    integrations: dict[str, uuid.UUID]
    installs: tuple[Install, ...]
    token: str
    token_id: uuid.UUID

    @property
    def revalidation_installs(self) -> tuple[Install, ...]:
        """The Staging installs whose accounts bulk revalidation runs on."""
        return tuple(
            install
            for install in self.installs
            if install.environment_name == "Staging"
            and install.integration_name in REVALIDATION_INTEGRATIONS
        )


def cache_key(accounts: int, head_revision: str) -> str:
    """Name a build: dataset version, size and migration head."""
    return f"v{DATASET_VERSION}-{accounts}-{head_revision}"


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def make_catalog() -> Catalog:
    """Build the team, environments, integrations, installs and API token."""
    rng = random.Random(f"catalog-{DATASET_VERSION}")
    environments = {name: _uuid(rng) for name in ("Production", "Staging")}
    integrations = {name: _uuid(rng) for name, _category in INTEGRATIONS}
    installs = tuple(
        Install(_uuid(rng), integration_id, name, environment_id, environment)
        for environment, environment_id in environments.items()
        for name, integration_id in integrations.items()
    )
    # A fixed token: the database it opens lives only on this machine.
    digest = hashlib.sha256(f"bench-token-{DATASET_VERSION}".encode()).hexdigest()
    return Catalog(
        team_id=_uuid(rng),
        environments=environments,
        integrations=integrations,
        installs=installs,
        token=f"{TOKEN_PREFIX}bench_{digest[:40]}",
        token_id=_uuid(rng),
    )


def integration_config(name: str, base_url: str) -> dict[str, Any]:
    """Return a typical API-key integration config that validates with GET /me."""
    return {
        "base_url": f"{base_url}/{name}/api",
        "headers": {"Accept": "application/json", "X-Client": "graphql-api"},
        "authorization": {
            "format": "header",
            "config": {"header_name": "X-Api-Key", "header_value": "{{api_key}}"},
        },
        "credentials": {
            "format": "api_key",
            "config": {
                "fields": [
                    {
                        "name": "api_key",
                        "label": "API key",
                        "type": "password",
                        "required": True,
                    },
                    {"name": "subdomain", "label": "Subdomain", "type": "text"},
                ]
            },
        },
        "rate_limit": {"is_rate_limited": "status = 429"},
        "error_expression": "status >= 400 or $exists(data.error)",
        "pagination": {
            "format": "cursor",
            "config": {"cursor_path": "meta.next", "limit_param": "limit"},
        },
        "resources": {
            "me": {"get": {"method": "get", "path": "/me"}},
            "contacts": {
                "list": {
                    "method": "get",
                    "path": "/contacts",
                    "query": {"updated_since": "{{query.updated_since}}"},
                    "response_path": "data",
                },
                "get": {"method": "get", "path": "/contacts/{{id}}"},
            },
        },
        "actions": {
            "validation": {
                "steps": [
                    {
                        "type": "request",
                        "name": "me",
                        "config": {"method": "get", "path": "/me"},
                    }
                ]
            }
        },
    }


def catalog_rows(catalog: Catalog) -> dict[str, list[dict[str, Any]]]:
    """Return the rows of every table but `integrated_account`, by table name."""
    created = DATASET_END - CREATION_SPAN - timedelta(days=30)
    categories = dict(INTEGRATIONS)
    return {
        "team": [_timestamped(id=catalog.team_id, name="Bench Team", at=created)],
        "environment": [
            _timestamped(id=env_id, team_id=catalog.team_id, name=name, at=created)
            for name, env_id in catalog.environments.items()
        ],
        "api_token": [
            {
                "id": catalog.token_id,
                "team_id": catalog.team_id,
                "environment_id": None,
                "token_hash": hash_token(catalog.token),
                "name": "bench",
                "created_at": created,
                "expires_at": None,
                "revoked_at": None,
                "last_used_at": None,
            }
        ],
        "integration": [
            _timestamped(
                id=integration_id,
                team_id=catalog.team_id,
                name=name,
                category=categories[name],
                is_beta=False,
                sharing="deny",
                config=integration_config(name, UNSET_BASE_URL),
                version=1,
                at=created + timedelta(minutes=index),
            )
            for index, (name, integration_id) in enumerate(catalog.integrations.items())
        ],
        "environment_integration": [
            _timestamped(
                id=install.id,
                integration_id=install.integration_id,
                environment_id=install.environment_id,
                show_in_catalog=True,
                is_enabled=True,
                override={},
                at=created + timedelta(hours=1, minutes=index),
            )
            for index, install in enumerate(catalog.installs)
        ],
    }


def _timestamped(*, at: datetime, **values: Any) -> dict[str, Any]:
    return {**values, "created_at": at, "updated_at": at}


def account_counts(catalog: Catalog, accounts: int) -> dict[uuid.UUID, int]:
    """Return how many accounts each install gets; the sum is `accounts`."""
    fixed = {
        install.id: REVALIDATION_ACCOUNTS_PER_INSTALL
        for install in catalog.revalidation_installs
    }
    others = [install for install in catalog.installs if install.id not in fixed]
    remaining = accounts - sum(fixed.values())
    if remaining < len(others):
        raise ValueError(
            f"{accounts} accounts cannot fill {len(catalog.installs)} installs: "
            f"ask for at least {sum(fixed.values()) + len(others)}"
        )
    # A long tail: the k-th install weighs 1/(k+1), Production twice Staging.
    ordered = sorted(others, key=lambda install: install.id.int)
    weights = [
        (2.0 if install.environment_name == "Production" else 1.0) / (rank + 1)
        for rank, install in enumerate(ordered)
    ]
    total = sum(weights)
    counts = [max(1, int(remaining * weight / total)) for weight in weights]
    counts[0] += remaining - sum(counts)
    spread = {install.id: count for install, count in zip(ordered, counts, strict=True)}
    return {**fixed, **spread}


def account_rows(catalog: Catalog, accounts: int) -> Iterator[dict[str, Any]]:
    """Yield the integrated accounts' rows, install by install."""
    rng = random.Random(f"accounts-{DATASET_VERSION}-{accounts}")
    revalidated = {install.id for install in catalog.revalidation_installs}
    counts = account_counts(catalog, accounts)
    for install in catalog.installs:
        for _ in range(counts[install.id]):
            yield _account(rng, install, install.id in revalidated)


def _account(rng: random.Random, install: Install, revalidated: bool) -> dict[str, Any]:
    created = DATASET_END - CREATION_SPAN * rng.random()
    updated = created + (DATASET_END - created) * rng.random()
    status = "active" if revalidated else _weighted(rng, STATUS_WEIGHTS)
    tenant = f"tenant-{rng.randrange(TENANTS):05d}"
    validated = updated if status in ("active", "needs_reauth") else None
    return {
        "id": _uuid(rng),
        "tenant_id": tenant,
        "environment_id": install.environment_id,
        "environment_integration_id": install.id,
        "integration_id": install.integration_id,
        "context": {
            "api_key": f"key-{rng.getrandbits(64):016x}",
            "subdomain": tenant,
        },
        "status": status,
        "last_error": _LAST_ERRORS.get(status),
        "last_action_result": None,
        "is_sandbox": rng.random() < 0.05,
        "authentication_method": "api_key",
        "region": _weighted(rng, REGION_WEIGHTS),
        "super_query": None,
        "credentials_expire_at": None,
        "last_refreshed_at": None,
        "last_validated_at": validated,
        "created_at": created,
        "updated_at": updated,
        "lease_id": None,
        "lease_operation": None,
        "lease_expires_at": None,
    }


def _weighted(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([value for value, _ in table], [w for _, w in table])[0]
