"""Pytest fixtures for the vendor-like upstream servers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.upstream.server import UpstreamServer
from tests.upstream.vendor import Vendor


@pytest.fixture(scope="session")
def upstream_server() -> Iterator[UpstreamServer]:
    """One server on two ephemeral 127.0.0.1 ports for the whole session."""
    server = UpstreamServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def upstream(upstream_server: UpstreamServer) -> Iterator[Vendor]:
    """A fresh vendor with its own state, under its own path prefix."""
    vendor = upstream_server.open_vendor()
    yield vendor
    upstream_server.close_vendor(vendor)
