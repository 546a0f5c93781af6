"""A uvicorn server on 127.0.0.1 that plays vendor APIs for the tests.

One server listens on two ephemeral ports, so that a redirect or a next-page
link from one port to the other crosses origins. Each test gets its own
`Vendor` under a random path prefix, so tests sharing the session's server
never see each other's state.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import threading
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.upstream.vendor import Vendor


class UpstreamServer:
    """The test server: start it once, then open one `Vendor` per test."""

    def __init__(self) -> None:
        self._vendors: dict[str, Vendor] = {}
        self._sockets = [_listen(), _listen()]
        self.ports = [sock.getsockname()[1] for sock in self._sockets]
        app = Starlette(
            routes=[Route("/{namespace}/{rest:path}", self._dispatch, methods=_METHODS)]
        )
        config = uvicorn.Config(
            app, log_level="warning", lifespan="off", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": self._sockets},
            name="upstream-server",
            daemon=True,
        )

    def start(self) -> None:
        """Start serving and wait until the server accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the upstream test server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop serving and wait for the thread to end."""
        self._server.should_exit = True
        self._thread.join(timeout=10)
        for sock in self._sockets:
            sock.close()

    def open_vendor(self) -> Vendor:
        """Return a fresh vendor with its own state under a new path prefix."""
        namespace = secrets.token_hex(6)
        vendor = Vendor(
            base_url=f"http://127.0.0.1:{self.ports[0]}/{namespace}",
            other_origin=f"http://127.0.0.1:{self.ports[1]}/{namespace}",
        )
        self._vendors[namespace] = vendor
        return vendor

    def close_vendor(self, vendor: Vendor) -> None:
        """Forget a vendor's state."""
        self._vendors.pop(vendor.namespace, None)

    async def _dispatch(self, request: Request) -> Response:
        vendor = self._vendors.get(request.path_params["namespace"])
        if vendor is None:
            return JSONResponse({"error": "unknown test namespace"}, status_code=404)
        vendor.in_flight += 1
        vendor.max_in_flight = max(vendor.max_in_flight, vendor.in_flight)
        try:
            reply = await vendor.handle(request, "/" + request.path_params["rest"])
            if reply.delay:
                await asyncio.sleep(reply.delay)
        finally:
            vendor.in_flight -= 1
        return reply.to_response()


_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def _listen() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock
