"""A vendor-like upstream for the demo, served by the API server itself.

With ``serve --demo`` the server mounts these routes under
`UPSTREAM_PREFIX`, and `point_demo_at_upstream` rewrites the overrides of the
demo installs so that their base URLs and token hosts aim at them on
127.0.0.1. The integration configs keep the vendors' real URLs, and no demo
request leaves the machine, so reauthorize and revalidate work from GraphiQL
without internet access.

Each vendor gets a token endpoint at its real token path and the profile
endpoint that the demo validation action reads. Access tokens, refresh
tokens and Jira API tokens are accepted by their ``demo-`` prefixes, as the
demo data writes them. Refresh tokens rotate, and a reused one is rejected
with ``invalid_grant``, as at real vendors.
"""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

import orjson
from sqlalchemy import select
from sqlmodel import col
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from config_engine.merge import deep_merge
from db.models import Environment, EnvironmentIntegration, Integration, Team
from db.session import Database
from db.types import utc_now

logger = logging.getLogger("graphql_api.demo")

UPSTREAM_PREFIX = "/demo-upstream"
ACCESS_PREFIX = "demo-access-"
REFRESH_PREFIX = "demo-refresh-"
JIRA_TOKEN_PREFIX = "demo-api-token-"
TOKEN_LIFETIME_SECONDS = 3600

# Per vendor: the path below the vendor's root that its base URL ends in, its
# token path (None for API-key vendors) and the profile path, relative to the
# base URL, that the validation action reads.
_VENDORS: dict[str, tuple[str, str | None, str]] = {
    "github": ("", "/login/oauth/access_token", "/user"),
    "hubspot": ("", "/oauth/v1/token", "/account-info/v3/details"),
    "salesforce": ("/services/data/v60.0", "/services/oauth2/token", "/limits"),
    "zendesk": ("/api/v2", "/oauth/tokens", "/users/me.json"),
    "jira": ("/rest/api/3", None, "/myself"),
}
_PROFILES: dict[str, Any] = {
    "github": {"login": "acme-demo", "id": 4200001},
    "hubspot": {"portalId": 4200002, "timeZone": "US/Eastern"},
    "salesforce": {"DailyApiRequests": {"Max": 100000, "Remaining": 99000}},
    "zendesk": {"user": {"id": 4200004, "role": "admin"}},
    "jira": {"accountId": "4200005", "displayName": "Acme Demo"},
}


def upstream_root(port: int) -> str:
    """Return the loopback URL of the demo upstream of a server on `port`."""
    return f"http://127.0.0.1:{port}{UPSTREAM_PREFIX}"


def demo_override(name: str, root: str) -> dict[str, Any] | None:
    """Return the override that aims the demo integration `name` at `root`.

    Returns None for an integration that the demo upstream does not play.
    """
    vendor = _VENDORS.get(name)
    if vendor is None:
        return None
    base_path, token_path, profile_path = vendor
    vendor_root = f"{root}/{name}"
    override: dict[str, Any] = {
        "base_url": vendor_root + base_path,
        "actions": {
            "validation": {
                "steps": [
                    {
                        "type": "request",
                        "name": "profile",
                        "config": {"method": "get", "path": profile_path},
                    }
                ]
            }
        },
    }
    if token_path is not None:
        override["credentials"] = {"config": {"auth": {"tokenHost": vendor_root}}}
        override["environment_variables"] = {
            f"{name}_client_id": f"demo-{name}-client",
            f"{name}_client_secret": f"demo-{name}-client-secret",
        }
    return override


async def point_demo_at_upstream(database: Database, team_name: str, root: str) -> int:
    """Merge the loopback overrides into the team's demo installs; return their count.

    Runs at every demo start, because the server's port can change between
    starts. Merging keeps the rest of each override.
    """
    query = (
        select(EnvironmentIntegration, col(Integration.name))
        .join(
            Integration,
            col(Integration.id) == col(EnvironmentIntegration.integration_id),
        )
        .join(
            Environment,
            col(Environment.id) == col(EnvironmentIntegration.environment_id),
        )
        .join(Team, col(Team.id) == col(Environment.team_id))
        .where(col(Team.name) == team_name)
    )
    changed = 0
    async with database.write_session() as session:
        for install, name in (await session.execute(query)).all():
            override = demo_override(name, root)
            if override is None:
                continue
            install.override = deep_merge(install.override or {}, override)
            install.updated_at = utc_now()
            changed += 1
    return changed


async def prepare_demo_upstream(database: Database, port: int) -> None:
    """Aim the demo team's installs at the demo upstream of a server on `port`."""
    from graphql_api.demo import DEMO_TEAM_NAME

    root = upstream_root(port)
    changed = await point_demo_at_upstream(database, DEMO_TEAM_NAME, root)
    logger.info("demo_upstream_ready url=%s installs=%d", root, changed)


class DemoUpstream:
    """The demo vendors' state: the refresh tokens already used."""

    def __init__(self) -> None:
        self.used_refresh_tokens: set[str] = set()

    def app(self) -> Starlette:
        """Build the Starlette app to mount under `UPSTREAM_PREFIX`."""
        return Starlette(
            routes=[
                Route("/{vendor}/{path:path}", self._dispatch, methods=["GET", "POST"])
            ]
        )

    async def _dispatch(self, request: Request) -> Response:
        name = request.path_params["vendor"]
        vendor = _VENDORS.get(name)
        if vendor is None:
            return _error(404, "not_found", f"no demo vendor {name!r}")
        base_path, token_path, profile_path = vendor
        path = "/" + request.path_params["path"]
        if request.method == "POST" and path == token_path:
            return await self._token(request)
        if request.method == "GET" and path == base_path + profile_path:
            return _profile(name, request)
        return _error(404, "not_found", f"no demo route {request.method} {path}")

    async def _token(self, request: Request) -> Response:
        params = await _token_params(request)
        if params.get("grant_type") != "refresh_token":
            return _error(400, "unsupported_grant_type", "only refresh_token works")
        if not str(params.get("client_id", "")).startswith("demo-"):
            return _error(401, "invalid_client", "unknown client")
        refresh_token = str(params.get("refresh_token", ""))
        if (
            not refresh_token.startswith(REFRESH_PREFIX)
            or refresh_token in self.used_refresh_tokens
        ):
            return _error(400, "invalid_grant", "the refresh token was already used")
        self.used_refresh_tokens.add(refresh_token)
        return JSONResponse(
            {
                "access_token": ACCESS_PREFIX + secrets.token_hex(12),
                "refresh_token": REFRESH_PREFIX + secrets.token_hex(12),
                "token_type": "bearer",
                "expires_in": TOKEN_LIFETIME_SECONDS,
            }
        )


async def _token_params(request: Request) -> Mapping[str, Any]:
    body = await request.body()
    if "json" in request.headers.get("content-type", ""):
        parsed = orjson.loads(body or b"{}")
        return parsed if isinstance(parsed, Mapping) else {}
    return dict(parse_qsl(body.decode(errors="replace")))


def _profile(name: str, request: Request) -> Response:
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credential.startswith(ACCESS_PREFIX):
        return JSONResponse(_PROFILES[name])
    if scheme.lower() == "basic" and _basic_password(credential).startswith(
        JIRA_TOKEN_PREFIX
    ):
        return JSONResponse(_PROFILES[name])
    return _error(401, "invalid_token", "the credentials are not valid")


def _basic_password(credential: str) -> str:
    try:
        decoded = base64.b64decode(credential, validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return ""
    return decoded.partition(":")[2]


def _error(status: int, code: str, description: str) -> Response:
    return JSONResponse(
        {"error": code, "error_description": description, "message": description},
        status_code=status,
    )
