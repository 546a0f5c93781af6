"""Vendor-like HTTP servers on 127.0.0.1 for tests of upstream calls.

Use the fixtures by naming the plugin in a test module (or in the root
conftest)::

    pytest_plugins = ["tests.upstream.plugin"]

The `upstream` fixture gives each test a fresh `Vendor` (see
`tests.upstream.vendor`) on a server shared by the whole session.
"""
