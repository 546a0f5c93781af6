"""A loopback upstream API that responds after a fixed delay and counts concurrency.

The benchmark's integrations validate accounts with ``GET /<integration>/api/me``.
This server responds with 200 after `--delay-ms` and records, per
integration, the requests served and the maximum number in flight at once,
which shows whether the server honours its per-integration cap.

- ``GET /<integration>/api/me``: 200 with a small JSON body after the delay,
  or 401 without an ``X-Api-Key`` header.
- ``GET /_stats``: the counters as JSON.
- ``POST /_stats/reset``: zero the counters.

Run: ``python -m bench.upstream --port 9100 [--delay-ms 20]``. It listens on
127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass(slots=True)
class Concurrency:
    """Requests served and in flight, per integration and in total."""

    served: Counter[str] = field(default_factory=Counter)
    in_flight: Counter[str] = field(default_factory=Counter)
    max_in_flight: Counter[str] = field(default_factory=Counter)
    max_total_in_flight: int = 0

    def enter(self, integration: str) -> None:
        """Count a request that starts."""
        self.in_flight[integration] += 1
        self.max_in_flight[integration] = max(
            self.max_in_flight[integration], self.in_flight[integration]
        )
        self.max_total_in_flight = max(
            self.max_total_in_flight, sum(self.in_flight.values())
        )

    def leave(self, integration: str) -> None:
        """Count a request that ends."""
        self.in_flight[integration] -= 1
        self.served[integration] += 1

    def snapshot(self) -> dict[str, object]:
        """Return the counters as a JSON object."""
        return {
            "served": dict(self.served),
            "max_in_flight": dict(self.max_in_flight),
            "max_total_in_flight": self.max_total_in_flight,
        }


def create_upstream(delay_seconds: float) -> Starlette:
    """Build the upstream application."""
    counters = Concurrency()

    async def me(request: Request) -> Response:
        integration = request.path_params["integration"]
        if not request.headers.get("x-api-key"):
            return JSONResponse({"error": "missing X-Api-Key"}, status_code=401)
        counters.enter(integration)
        try:
            await asyncio.sleep(delay_seconds)
        finally:
            counters.leave(integration)
        return JSONResponse({"id": "user-1", "integration": integration})

    async def stats(_request: Request) -> Response:
        return JSONResponse(counters.snapshot())

    async def reset(_request: Request) -> Response:
        nonlocal counters
        counters = Concurrency()
        return JSONResponse(counters.snapshot())

    return Starlette(
        routes=[
            Route("/_stats", stats, methods=["GET"]),
            Route("/_stats/reset", reset, methods=["POST"]),
            Route("/{integration}/api/me", me, methods=["GET"]),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="TCP port")
    parser.add_argument(
        "--delay-ms", type=float, default=20.0, help="response delay in ms"
    )
    arguments = parser.parse_args()
    app = create_upstream(arguments.delay_ms / 1000)
    uvicorn.run(app, host="127.0.0.1", port=arguments.port, log_level="warning")


if __name__ == "__main__":
    main()
