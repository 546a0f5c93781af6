"""Demo data: one team, two environments, real-world configs, many accounts.

The integration configs in ``configs/`` follow the vendors' public API
documentation. Their base URLs are the vendors' real ones, but nothing in the
demo sends a request. The accounts are generated from a fixed seed, so every
load writes the same ids and values, and they carry obviously fake
credentials. The records go through the importer, which validates every
config as an import from Truto would.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Team
from db.session import Database
from graphql_api.importer import import_documents

DEMO_TEAM_NAME = "Acme Demo"
CONFIGS_DIR = Path(__file__).resolve().parent / "configs"
DEMO_SEED = 20240901
# The generated timestamps fall in the year before this date.
DEMO_EPOCH = datetime(2026, 11, 1, tzinfo=UTC)

ACCOUNTS_PER_ENVIRONMENT = {"Production": 240, "Staging": 80}
# Integrations left out of an environment, to show a partial catalog.
_NOT_INSTALLED = {"Staging": {"salesforce"}}
# Environment overrides, deep-merged over the integration's config.
_OVERRIDES: dict[tuple[str, str], dict[str, Any]] = {
    ("Staging", "zendesk"): {"pagination": {"config": {"limit": 25}}},
    ("Staging", "github"): {"headers": {"X-Demo-Environment": "staging"}},
}

_STATUS_WEIGHTS = {
    "active": 70,
    "connecting": 5,
    "needs_reauth": 10,
    "validation_error": 8,
    "post_install_error": 7,
}
_REGION_WEIGHTS = {"wnam": 50, "enam": 20, "eu": 20, "apac": 10}
_SANDBOX_SHARE = {"Production": 0.1, "Staging": 0.6}
_LAST_ERRORS = {
    "needs_reauth": "invalid_grant: the refresh token was revoked or expired",
    "validation_error": "GET /users/me answered 403: the token lacks a scope",
    "post_install_error": "post_install step 1 failed: upstream answered 500",
}
_TENANTS = (
    "acme-corp",
    "globex",
    "initech",
    "umbrella",
    "hooli",
    "stark-industries",
    "wayne-enterprises",
    "wonka",
    "tyrell",
    "cyberdyne",
    "soylent",
    "vandelay",
    "pied-piper",
    "aperture",
    "massive-dynamic",
    "oscorp",
    "monarch",
    "dunder-mifflin",
    "prestige-worldwide",
    "gringotts",
)


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """Counts of what `load_demo_data` wrote."""

    team: str
    environments: int
    integrations: int
    installs: int
    accounts: int

    def describe(self) -> str:
        """Describe the loaded data in one sentence."""
        return (
            f"Loaded the demo data: team {self.team!r}, {self.environments} "
            f"environments, {self.integrations} integrations, {self.installs} "
            f"installs and {self.accounts} integrated accounts."
        )


def demo_integrations() -> list[dict[str, Any]]:
    """Return the demo integration records, sorted by name."""
    records = [orjson.loads(path.read_bytes()) for path in CONFIGS_DIR.glob("*.json")]
    return sorted(records, key=lambda record: record["name"])


async def load_demo_data(database: Database) -> DemoSummary | None:
    """Load the demo data if the database has no team yet.

    Returns None, and writes nothing, when the database already has a team.
    The check and the writes share one write transaction, so two processes
    starting at once cannot both load the data.
    """
    async with database.write_session() as session:
        if await _has_teams(session):
            return None
        return await _write_demo_data(session)


async def _has_teams(session: AsyncSession) -> bool:
    count = (await session.execute(select(func.count()).select_from(Team))).scalar_one()
    return bool(count)


async def _write_demo_data(session: AsyncSession) -> DemoSummary:
    documents = build_demo_documents(DEMO_SEED)
    installs = accounts = 0
    for environment, document in documents.items():
        summary = await import_documents(
            session, DEMO_TEAM_NAME, environment, [(f"demo {environment}", document)]
        )
        installs += summary.created["environment integrations"]
        accounts += summary.created["integrated accounts"]
    return DemoSummary(
        team=DEMO_TEAM_NAME,
        environments=len(documents),
        integrations=len(demo_integrations()),
        installs=installs,
        accounts=accounts,
    )


def build_demo_documents(seed: int) -> dict[str, dict[str, Any]]:
    """Build one import document per environment, the same for the same seed."""
    rng = random.Random(seed)  # noqa: S311  (reproducible fake data, not secrets)
    integrations = demo_integrations()
    for integration in integrations:
        integration["id"] = str(_uuid(rng))
    documents = {}
    for environment, count in ACCOUNTS_PER_ENVIRONMENT.items():
        excluded = _NOT_INSTALLED.get(environment, set())
        installed = [i for i in integrations if i["name"] not in excluded]
        installs = [
            _install(rng, environment, integration) for integration in installed
        ]
        accounts = [
            _account(rng, environment, installed, installs) for _ in range(count)
        ]
        documents[environment] = {
            "integrations": integrations,
            "environment_integrations": installs,
            "integrated_accounts": accounts,
        }
    return documents


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _install(
    rng: random.Random, environment: str, integration: dict[str, Any]
) -> dict[str, Any]:
    created_at = _timestamp(rng, max_days_ago=365)
    return {
        "id": str(_uuid(rng)),
        "integration_id": integration["id"],
        "show_in_catalog": True,
        "is_enabled": True,
        "override": _OVERRIDES.get((environment, integration["name"]), {}),
        "created_at": created_at.isoformat(),
        "updated_at": created_at.isoformat(),
    }


def _account(
    rng: random.Random,
    environment: str,
    integrations: list[dict[str, Any]],
    installs: list[dict[str, Any]],
) -> dict[str, Any]:
    index = rng.randrange(len(integrations))
    integration, install = integrations[index], installs[index]
    tenant = f"{rng.choice(_TENANTS)}-{rng.randrange(1, 40)}"
    status = _weighted(rng, _STATUS_WEIGHTS)
    created_at = _timestamp(rng, max_days_ago=360)
    updated_at = min(created_at + timedelta(hours=rng.randrange(1, 2000)), DEMO_EPOCH)
    uses_oauth = integration["config"]["credentials"]["format"] == "oauth2"
    record: dict[str, Any] = {
        "id": str(_uuid(rng)),
        "tenant_id": tenant,
        "environment_integration_id": install["id"],
        "integration": {"id": integration["id"], "name": integration["name"]},
        "context": _context(rng, integration["name"], tenant, uses_oauth, updated_at),
        "status": status,
        "last_error": _LAST_ERRORS.get(status),
        "last_action_result": _action_result(status, updated_at),
        "is_sandbox": rng.random() < _SANDBOX_SHARE[environment],
        "authentication_method": "oauth2" if uses_oauth else "api_key",
        "region": _weighted(rng, _REGION_WEIGHTS),
        "features": {"super_query": rng.choice(["apac", "wnam"])}
        if rng.random() < 0.1
        else {},
        "created_at": created_at.isoformat(),
        "updated_at": updated_at.isoformat(),
    }
    if uses_oauth:
        record["last_refreshed_at"] = updated_at.isoformat()
        record["credentials_expire_at"] = (updated_at + timedelta(hours=1)).isoformat()
    if status == "active":
        record["last_validated_at"] = updated_at.isoformat()
    return record


def _context(
    rng: random.Random,
    integration: str,
    tenant: str,
    uses_oauth: bool,
    refreshed_at: datetime,
) -> dict[str, Any]:
    """Build an account context with fake credentials that no vendor accepts."""
    context: dict[str, Any] = {}
    if integration in ("zendesk", "jira"):
        context["subdomain"] = tenant
    if integration == "salesforce":
        context["instance_url"] = f"https://{tenant}.my.salesforce.com"
    if integration == "jira":
        context["email"] = f"it-admin@{tenant}.example"
        context["api_token"] = f"demo-api-token-{rng.getrandbits(64):016x}"
    if uses_oauth:
        context["oauth"] = {
            "token": {
                "access_token": f"demo-access-{rng.getrandbits(96):024x}",
                "refresh_token": f"demo-refresh-{rng.getrandbits(96):024x}",
                "token_type": "bearer",
                "expires_at": (refreshed_at + timedelta(hours=1)).isoformat(),
            }
        }
    return context


def _action_result(status: str, ran_at: datetime) -> dict[str, Any] | None:
    if status == "connecting":
        return None
    succeeded = status in ("active", "needs_reauth")
    return {
        "post_install": {
            "status": "success" if succeeded else "error",
            "ran_at": ran_at.isoformat(),
        }
    }


def _timestamp(rng: random.Random, *, max_days_ago: int) -> datetime:
    seconds = rng.randrange(max_days_ago * 86_400)
    return (DEMO_EPOCH - timedelta(seconds=seconds)).replace(microsecond=0)


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]
