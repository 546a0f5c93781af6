"""The whole integration config, and an environment integration's override."""

from __future__ import annotations

from typing import Any

from config_engine.config.actions import ActionDefinition
from config_engine.config.authorization import Authorization
from config_engine.config.base import ConfigModel, HttpTemplate, Jsonata
from config_engine.config.credentials import Credentials
from config_engine.config.pagination import Pagination
from config_engine.config.rate_limit import RateLimit
from config_engine.config.resources import Headers, QueryArrayFormat, Resources
from config_engine.config.webhook import Webhook


class IntegrationConfig(ConfigModel):
    """An integration config: how the engine talks to one upstream API.

    The integration-level ``base_url``, ``headers``, ``query``,
    ``query_array_format``, ``authorization``, ``pagination`` and
    ``error_expression`` apply to every resource method that does not set
    its own. ``environment_variables`` appears in an effective config, where
    an override's variables were merged in.
    """

    label: str | None = None
    logo: str | None = None
    icon: str | None = None
    base_url: HttpTemplate | None = None
    headers: Headers | None = None
    query: dict[str, Any] | None = None
    query_array_format: QueryArrayFormat | None = None
    credentials: Credentials | None = None
    authorization: Authorization | None = None
    pagination: Pagination | None = None
    rate_limit: RateLimit | None = None
    error_expression: Jsonata | None = None
    resources: Resources | None = None
    actions: dict[str, ActionDefinition] | None = None
    webhook: Webhook | None = None
    tool_tags: dict[str, list[str]] | None = None
    environment_variables: dict[str, Any] | None = None


class IntegrationOverride(IntegrationConfig):
    """An environment integration's override: a partial config.

    It is deep-merged over the integration config, so it is validated in
    partial mode, where no setting is required. Its
    ``environment_variables`` are the values that placeholders find under
    ``environment_variables``.
    """
