"""Protections of the server against hostile requests and leaked secrets.

- `settings`: the limits and switches, read into `Settings.security`.
- `keys`: the secret key that encrypts credentials at rest (`db.crypto`).
- `limits`: the schema extension that checks depth, aliases, tokens and
  cost before execution, and hides schema details when asked.
- `cost`: the GitHub-style count of the nodes that a query may return.
- `middleware`: per-token rate limits, request time limits, and the bounds on
  variables and JSON nesting.
- `logs`: the logging filter that removes credentials from log records.

The package imports nothing at this level, so that `graphql_api.settings`
can import `settings` without a cycle.
"""
