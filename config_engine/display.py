"""Show input values in error messages without echoing them whole."""

from __future__ import annotations

from typing import Any

# Characters of a value's repr that a message shows, the ellipsis included.
MAX_SHOWN_LENGTH = 80


def short_repr(value: Any, limit: int = MAX_SHOWN_LENGTH) -> str:
    """Return ``repr(value)``, cut to `limit` characters ending in ``…``."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return text[: limit - 1] + "…"
