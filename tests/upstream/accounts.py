"""Integration configs and GraphQL documents for the account lifecycle tests.

Each config aims at one test `Vendor` on 127.0.0.1. API-key accounts
validate with ``GET /api/me``, which returns 401 for an unknown key and 403
without the ``read`` scope. Post-install reads ``GET /api/account`` and stores
the organisation id. OAuth accounts use the vendor's token endpoint, which
rotates refresh tokens and rejects a reused one.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from db import models
from tests.conftest import GraphQLClient, Seeder, Tenant, make_tenant
from tests.upstream.vendor import Vendor

POST_INSTALL = {
    "steps": [
        {
            "type": "request",
            "name": "account",
            "config": {"method": "get", "path": "/account", "response_path": "data"},
        },
        {
            "type": "update_context",
            "config": {"expression": "{ 'org_id': $previous.id }"},
        },
    ]
}
VALIDATION = {
    "steps": [
        {"type": "request", "name": "me", "config": {"method": "get", "path": "/me"}}
    ]
}


def api_key_config(vendor: Vendor, **changes: Any) -> dict[str, Any]:
    """An API-key integration with post-install and validation actions.

    Top-level keys in `changes` replace the config's, and a None value removes
    the key.
    """
    config: dict[str, Any] = {
        "base_url": vendor.url("/api"),
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
                        "pattern": "key-[a-z0-9-]+",
                    },
                    {
                        "name": "admin_email",
                        "label": "Admin e-mail",
                        "type": "text",
                        "format": "email",
                    },
                ]
            },
        },
        "resources": {
            "me": {"get": {"method": "get", "path": "/me"}},
            "contacts": {"create": {"method": "post", "path": "/contacts"}},
        },
        "actions": {"post_install": POST_INSTALL, "validation": VALIDATION},
    }
    return _changed(config, changes)


def oauth_config(vendor: Vendor, **changes: Any) -> dict[str, Any]:
    """An OAuth 2.0 integration whose tokens come from the vendor."""
    config: dict[str, Any] = {
        "base_url": vendor.url("/api"),
        "authorization": {"format": "bearer"},
        "credentials": {
            "format": "oauth2",
            "config": {
                "client": {
                    "id": vendor.oauth.client_id,
                    "secret": vendor.oauth.client_secret,
                },
                "auth": {"tokenHost": vendor.base_url, "tokenPath": "/oauth/token"},
            },
        },
        "resources": {"me": {"get": {"method": "get", "path": "/me"}}},
        "actions": {"validation": VALIDATION},
    }
    return _changed(config, changes)


def client_credentials_config(vendor: Vendor, **changes: Any) -> dict[str, Any]:
    """An integration whose accounts fetch tokens with client credentials."""
    config: dict[str, Any] = {
        "base_url": vendor.url("/api"),
        "authorization": {"format": "bearer"},
        "credentials": {
            "format": "oauth2_client_credentials",
            "config": {
                "auth": {"tokenHost": vendor.base_url, "tokenPath": "/oauth/token"},
                "fields": [
                    {"name": "client_id", "type": "text", "required": True},
                    {"name": "client_secret", "type": "password", "required": True},
                ],
            },
        },
        "actions": {"validation": VALIDATION},
    }
    return _changed(config, changes)


def _changed(config: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    for key, value in copy.deepcopy(changes).items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    return config


def oauth_context(vendor: Vendor, **token: Any) -> dict[str, Any]:
    """A context with a fresh token pair that the vendor issued."""
    access, refresh = vendor.oauth.grant()
    fields = {"access_token": access, "refresh_token": refresh, "expires_in": 3600}
    fields.update(token)
    return {"oauth": {"token": {k: v for k, v in fields.items() if v is not None}}}


@dataclass
class Installed:
    """A tenant with one installed integration."""

    tenant: Tenant
    integration: models.Integration
    install: models.EnvironmentIntegration

    @property
    def token(self) -> str:
        """The team token of the tenant."""
        return self.tenant.team_token


def install(
    seeder: Seeder,
    config: dict[str, Any],
    *,
    tenant: Tenant | None = None,
    override: dict[str, Any] | None = None,
) -> Installed:
    """Create a tenant (unless given) and install an integration with `config`."""
    tenant = tenant or make_tenant(seeder)
    integration = seeder.integration(tenant.team, config=config)
    row = seeder.install(tenant.production, integration, override=override or {})
    return Installed(tenant, integration, row)


ACCOUNT_FIELDS = """
    id status lastError lastActionResult context isSandbox authenticationMethod
    credentialsExpireAt lastRefreshedAt lastValidatedAt
"""
PAYLOAD_FIELDS = f"""
    integratedAccount {{ {ACCOUNT_FIELDS} }}
    userErrors {{ field message code }}
"""
CREATE = f"""
mutation Create($input: CreateIntegratedAccountInput!) {{
  createIntegratedAccount(input: $input) {{ {PAYLOAD_FIELDS} }}
}}
"""
REAUTHORIZE = f"""
mutation Reauthorize($input: ReauthorizeIntegratedAccountInput!) {{
  reauthorizeIntegratedAccount(input: $input) {{ {PAYLOAD_FIELDS} }}
}}
"""
REVALIDATE = f"""
mutation Revalidate($input: RevalidateIntegratedAccountInput!) {{
  revalidateIntegratedAccount(input: $input) {{ {PAYLOAD_FIELDS} }}
}}
"""
UPDATE_CREDENTIALS = f"""
mutation UpdateCredentials($input: UpdateIntegratedAccountCredentialsInput!) {{
  updateIntegratedAccountCredentials(input: $input) {{ {PAYLOAD_FIELDS} }}
}}
"""
REVALIDATE_MANY = """
mutation RevalidateMany($input: RevalidateIntegratedAccountsInput!) {
  revalidateIntegratedAccounts(input: $input) {
    matchedCount revalidatedCount skippedCount
    statusCounts { status count }
    errorCounts { code count }
    userErrors { field message code }
  }
}
"""
ACCOUNT_EVENTS = """
query AccountEvents($id: ID!) {
  node(id: $id) {
    ... on IntegratedAccount {
      events(orderBy: [{field: CREATED_AT, direction: ASC}], first: 100) {
        nodes { type name account }
      }
    }
  }
}
"""


def create_account(
    client: GraphQLClient,
    installed: Installed,
    context: dict[str, Any],
    *,
    token: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Run createIntegratedAccount and return its payload.

    `token` defaults to the team token of the install's tenant.
    """
    variables = {
        "input": {
            "environmentIntegrationId": str(installed.install.id),
            "tenantId": fields.pop("tenantId", "acme-1"),
            "context": context,
            **fields,
        }
    }
    data = client.data(CREATE, variables, token=token or installed.token)
    payload: dict[str, Any] = data["createIntegratedAccount"]
    return payload


def run_mutation(
    client: GraphQLClient,
    document: str,
    token: str,
    **input_fields: Any,
) -> dict[str, Any]:
    """Run a one-field mutation with `input_fields` and return its payload."""
    data = client.data(document, {"input": input_fields}, token=token)
    payload: dict[str, Any] = next(iter(data.values()))
    return payload


def event_types(client: GraphQLClient, account_id: str, token: str) -> list[str]:
    """Return the Truto names of an account's events, oldest first."""
    data = client.data(ACCOUNT_EVENTS, {"id": account_id}, token=token)
    return [event["name"] for event in data["node"]["events"]["nodes"]]
