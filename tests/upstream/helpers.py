"""Helpers for engine tests: configs aimed at a test vendor, a fake sleep."""

from __future__ import annotations

import copy
from typing import Any

from tests.upstream.vendor import Vendor

API_KEY = "key-live-1234567890"


class RecordingSleep:
    """An async sleep that records the requested seconds and returns at once."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def api_config(vendor: Vendor, **changes: Any) -> dict[str, Any]:
    """An integration config for the vendor's API with an X-Api-Key header.

    Top-level keys in `changes` replace the config's.
    """
    config: dict[str, Any] = {
        "base_url": vendor.url("/api"),
        "authorization": {
            "format": "header",
            "config": {"header_name": "X-Api-Key", "header_value": "{{api_key}}"},
        },
        "resources": {
            "me": {"get": {"method": "get", "path": "/me"}},
            "account": {
                "get": {"method": "get", "path": "/account", "response_path": "data"}
            },
            "contacts": {
                "create": {
                    "method": "post",
                    "path": "/contacts",
                    "response_path": "data",
                },
            },
        },
    }
    config.update(copy.deepcopy(changes))
    return config


def api_key_context(vendor: Vendor, scopes: set[str] | None = None) -> dict[str, Any]:
    """Register the test API key with the vendor and return a context holding it."""
    vendor.api_keys[API_KEY] = {"read"} if scopes is None else scopes
    return {"api_key": API_KEY}


def echo_config(
    vendor: Vendor, method_config: dict[str, Any], **changes: Any
) -> dict[str, Any]:
    """A config whose one method, `echo.call`, targets the vendor's /echo route."""
    config: dict[str, Any] = {
        "base_url": vendor.base_url,
        "resources": {"echo": {"call": {"path": "/echo", **method_config}}},
    }
    config.update(copy.deepcopy(changes))
    return config
