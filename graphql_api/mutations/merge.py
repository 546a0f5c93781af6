"""Merges of JSON documents that mutations apply to stored configs and contexts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql_api.secrets import carry_over_secrets, mark_context_secrets


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply a JSON merge patch (RFC 7396) to `target` and return the result.

    Objects merge key by key and recursively. A null value removes its key.
    Any other value, lists included, replaces the target value. Neither
    argument is modified.
    """
    if not isinstance(patch, Mapping):
        return patch
    merged = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def merge_context(
    current: Mapping[str, Any],
    patch: Mapping[str, Any],
    integration_config: Mapping[str, Any] | None,
    override: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Merge an account context patch shallowly: top-level keys are replaced.

    A null value removes its key. A replaced object keeps the credentials of
    the stored object that it leaves out, because a client only ever reads
    the context with credentials removed (see `graphql_api.secrets`). The
    result marks the declared password fields for encryption at rest.
    """
    merged = dict(current)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = carry_over_secrets(
                current.get(key), value, integration_config, override
            )
    return mark_context_secrets(merged, integration_config, override)
