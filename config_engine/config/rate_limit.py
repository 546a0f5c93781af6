"""The `rate_limit` section: JSONata expressions over an upstream response.

Each expression reads ``status``, ``headers`` (lower-case names), ``data`` and
``response``. ``is_rate_limited`` is truthy for a rate-limited response,
``retry_after_header_expression`` returns the seconds to wait, and
``rate_limit_header_expression`` returns when the limit resets, in epoch
seconds or milliseconds.
"""

from __future__ import annotations

from config_engine.config.base import ConfigModel, Jsonata


class RateLimit(ConfigModel):
    """How to recognise a rate-limited response and how long to wait."""

    is_rate_limited: Jsonata | None = None
    retry_after_header_expression: Jsonata | None = None
    rate_limit_header_expression: Jsonata | None = None
