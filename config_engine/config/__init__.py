"""Typed models of the integration config, and their validation.

One module per config section: `credentials`, `authorization`, `pagination`,
`rate_limit`, `resources`, `actions` and `webhook`. `integration` defines the
whole config and the override, and `validation` turns model errors into
problems with JSON paths.
"""

from config_engine.config.integration import IntegrationConfig, IntegrationOverride
from config_engine.config.validation import (
    ConfigProblem,
    parse_config,
    validate_config,
    validate_override,
)

__all__ = [
    "ConfigProblem",
    "IntegrationConfig",
    "IntegrationOverride",
    "parse_config",
    "validate_config",
    "validate_override",
]
