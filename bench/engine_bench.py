"""Microbenchmark of the engine's per-call work: render and two expressions.

Measures, in microseconds per call (best of several rounds):

- rendering a realistic request with `Engine.prepare_request`: a base URL
  with a placeholder host, twelve templated headers, a templated query, a
  cursor-paginated method and header authorization. It is measured with one
  config object, whose compiled parts the engine caches, and with a new copy
  of the config on every call, as a server that merges the config per
  request passes it;
- rendering it as a lifecycle call does after loading an account: each
  load reads new but equal integration config and override objects, which
  the lifecycle's effective-config cache turns into one reused config, and
  which a merge per load turns into a new config every time;
- one rate-limit expression and one error expression over a response, with
  the expressions compiled once, passed as source text (the adapter's own
  cache decides), and parsed afresh on every call;
- the sum for one call, compiled, against the 50 µs target.

Run: ``.venv/bin/python bench/engine_bench.py [--rounds N] [--calls N]``.
No request is sent; nothing leaves the process.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import platform
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson

from config_engine import jsonata
from config_engine.engine import Engine
from config_engine.merge import effective_config
from graphql_api.lifecycle.store import EffectiveConfigCache

RATE_LIMIT_EXPRESSION = "status = 429 or headers.`x-rate-limit-remaining` = '0'"
ERROR_EXPRESSION = "status >= 400 or $exists(data.error)"
TARGET_MICROSECONDS = 50.0

CONFIG: dict[str, Any] = {
    "base_url": "https://{{subdomain}}.crm.vendor.test/api/v2",
    "headers": {
        "Accept": "application/json",
        "User-Agent": "graphql-api/0.1",
        "X-Org-Id": "{{org_id}}",
        "X-Region": "{{region}}",
        "X-Account": "{{context.account_id}}",
        "X-Env": "{{environment_variables.stage}}",
        "X-Request-Source": "sync",
        "X-Feature": "{{features.beta:str}}",
        "X-Tenant": "{{tenant_id}}",
        "X-Locale": "{{locale|language?:en}}",
        "X-Version": "2024-06-01",
        "X-Trace": "{{trace_id?:none}}",
    },
    "authorization": {
        "format": "header",
        "config": {
            "header_name": "Authorization",
            "header_value": "Bearer {{api_key}}",
        },
    },
    "error_expression": ERROR_EXPRESSION,
    "rate_limit": {"is_rate_limited": RATE_LIMIT_EXPRESSION},
    "environment_variables": {"stage": "prod"},
    "resources": {
        "contacts": {
            "list": {
                "method": "get",
                "path": "/orgs/{{org_id}}/contacts",
                "query": {
                    "updated_since": "{{query.updated_since}}",
                    "owner": "{{query.owner}}",
                    "fields": "{{query.fields:any}}",
                },
                "query_array_format": "comma",
                "response_path": "data",
                "pagination": {
                    "format": "cursor",
                    "config": {
                        "cursor_path": "meta.next",
                        "limit_param": "limit",
                        "limit": 100,
                    },
                },
            }
        }
    },
}
CONTEXT: dict[str, Any] = {
    "subdomain": "acme",
    "org_id": "org_12345",
    "region": "eu-west-1",
    "account_id": "acc_987",
    "features": {"beta": True},
    "tenant_id": "tenant-42",
    "language": "de",
    "api_key": "key-live-abcdefghijklmnop",
}
QUERY = {
    "updated_since": "2026-01-01T00:00:00Z",
    "owner": "u_1",
    "fields": ["id", "name"],
}
RESPONSE_BINDINGS = {
    "status": 200,
    "headers": {"content-type": "application/json", "x-rate-limit-remaining": "97"},
    "data": {"data": [{"id": 1}, {"id": 2}], "meta": {"next": "abc"}},
}


def best_microseconds(function: Callable[[], Any], calls: int, rounds: int) -> float:
    """Time `function` `calls` times per round; return the best round's mean in µs."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter_ns()
        for _ in range(calls):
            function()
        best = min(best, (time.perf_counter_ns() - started) / calls / 1000)
    return best


def loaded_configs(count: int) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Cycle through `count` equal (integration config, override) pairs.

    Each pair is decoded separately, as each database load decodes its own.
    """
    integration = {
        key: value for key, value in CONFIG.items() if key != "environment_variables"
    }
    override = {"environment_variables": CONFIG["environment_variables"]}
    encoded = orjson.dumps([integration, override])

    def decode() -> tuple[dict[str, Any], dict[str, Any]]:
        decoded_integration, decoded_override = orjson.loads(encoded)
        return decoded_integration, decoded_override

    return itertools.cycle([decode() for _ in range(count)])


def measure(calls: int, rounds: int) -> dict[str, float]:
    """Run every measurement and return µs per call by name."""
    engine = Engine(httpx.AsyncClient())
    bindings = RESPONSE_BINDINGS
    compiled_rate_limit = jsonata.compile(RATE_LIMIT_EXPRESSION)
    compiled_error = jsonata.compile(ERROR_EXPRESSION)
    counter = itertools.count()
    cache = EffectiveConfigCache()
    key = (uuid.uuid4(), uuid.uuid4())
    loads = loaded_configs(calls)

    def lifecycle_load() -> Any:
        integration, override = next(loads)
        config = cache.get(key, integration, override)
        return engine.prepare_request(config, CONTEXT, "contacts", "list", query=QUERY)

    def merged_load() -> Any:
        integration, override = next(loads)
        config = effective_config(integration, override)
        return engine.prepare_request(config, CONTEXT, "contacts", "list", query=QUERY)

    def fresh(source: str) -> Any:
        # A unique comment defeats any cache keyed by the source text.
        return jsonata.compile(f"{source} /* {next(counter)} */")

    results = {
        "render request": best_microseconds(
            lambda: engine.prepare_request(
                CONFIG, CONTEXT, "contacts", "list", query=QUERY
            ),
            calls,
            rounds,
        ),
        "render request, new config": best_microseconds(
            lambda: engine.prepare_request(
                dict(CONFIG), CONTEXT, "contacts", "list", query=QUERY
            ),
            calls,
            rounds,
        ),
        "render request, lifecycle load": best_microseconds(
            lifecycle_load, calls, rounds
        ),
        "render request, merged per load": best_microseconds(
            merged_load, calls, rounds
        ),
        "rate-limit, compiled": best_microseconds(
            lambda: jsonata.evaluate(compiled_rate_limit, bindings, bindings),
            calls,
            rounds,
        ),
        "error, compiled": best_microseconds(
            lambda: jsonata.evaluate(compiled_error, bindings, bindings), calls, rounds
        ),
        "rate-limit, source text": best_microseconds(
            lambda: jsonata.evaluate(RATE_LIMIT_EXPRESSION, bindings, bindings),
            calls,
            rounds,
        ),
        "error, source text": best_microseconds(
            lambda: jsonata.evaluate(ERROR_EXPRESSION, bindings, bindings),
            calls,
            rounds,
        ),
        "rate-limit, parsed each call": best_microseconds(
            lambda: jsonata.evaluate(fresh(RATE_LIMIT_EXPRESSION), bindings, bindings),
            calls,
            rounds,
        ),
        "error, parsed each call": best_microseconds(
            lambda: jsonata.evaluate(fresh(ERROR_EXPRESSION), bindings, bindings),
            calls,
            rounds,
        ),
    }
    asyncio.run(engine.client.aclose())
    return results


def report(results: dict[str, float]) -> None:
    """Print the table, the per-call totals and the parsed/compiled ratio."""
    print(f"python {platform.python_version()}, JSONata engine {jsonata.engine_name()}")
    for name, value in results.items():
        print(f"{name:32} {value:9.2f} µs")
    compiled = (
        results["render request"]
        + results["rate-limit, compiled"]
        + results["error, compiled"]
    )
    parsed = (
        results["render request"]
        + results["rate-limit, parsed each call"]
        + results["error, parsed each call"]
    )
    new_config = (
        compiled - results["render request"] + results["render request, new config"]
    )
    verdict = "within" if compiled < TARGET_MICROSECONDS else "over"
    target = f"{verdict} the {TARGET_MICROSECONDS:g} µs target"
    print(f"{'one call, compiled':32} {compiled:9.2f} µs ({target})")
    print(f"{'one call, new config':32} {new_config:9.2f} µs")
    print(f"{'one call, parsed each time':32} {parsed:9.2f} µs")
    print(f"{'ratio parsed / compiled':32} {parsed / compiled:9.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the best counts")
    arguments = parser.parse_args()
    report(measure(arguments.calls, arguments.rounds))


if __name__ == "__main__":
    main()
