"""A small graphql-transport-ws client on the `websockets` package.

It speaks the protocol message by message, so that tests can check each
step, including the ones a full client library hides (pings, close codes).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin, Subprotocol

PROTOCOL = "graphql-transport-ws"
# Seconds a test waits for one message before it fails.
MESSAGE_TIMEOUT = 10.0


class GraphQLWebSocket:
    """One graphql-transport-ws connection."""

    def __init__(self, connection: ClientConnection, *, answer_pings: bool) -> None:
        self.connection = connection
        self.answer_pings = answer_pings
        self.pings = 0

    async def send(self, message: dict[str, Any]) -> None:
        await self.connection.send(json.dumps(message))

    async def init(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Send ``connection_init`` and return the server's first reply."""
        await self.send({"type": "connection_init", "payload": payload})
        return await self.receive()

    async def subscribe(
        self,
        operation_id: str,
        query: str,
        variables: dict[str, Any] | None = None,
    ) -> None:
        payload: dict[str, Any] = {"query": query}
        if variables is not None:
            payload["variables"] = variables
        await self.send({"id": operation_id, "type": "subscribe", "payload": payload})

    async def receive(self, timeout: float = MESSAGE_TIMEOUT) -> dict[str, Any]:
        """Return the next message.

        A server ping first gets a pong when `answer_pings` is set.
        """
        while True:
            frame = await asyncio.wait_for(self.connection.recv(), timeout)
            assert isinstance(frame, str), f"expected a text frame, got {frame!r}"
            message: dict[str, Any] = json.loads(frame)
            if message["type"] == "ping":
                self.pings += 1
                if self.answer_pings:
                    await self.send({"type": "pong"})
                    continue
            return message

    async def wait_closed(self, timeout: float = MESSAGE_TIMEOUT) -> tuple[int, str]:
        """Wait until the server closes the connection and return code and reason."""
        async with asyncio.timeout(timeout):
            try:
                while True:
                    await self.connection.recv()
            except ConnectionClosed:
                pass
        assert self.connection.close_code is not None
        return self.connection.close_code, self.connection.close_reason or ""


@asynccontextmanager
async def open_socket(
    url: str,
    *,
    subprotocol: str = PROTOCOL,
    answer_pings: bool = True,
    origin: str | None = None,
) -> AsyncIterator[GraphQLWebSocket]:
    """Open a WebSocket with `subprotocol` and close it on exit.

    `origin` sets the ``Origin`` header, as a browser page on that origin would.
    """
    async with connect(
        url,
        subprotocols=[Subprotocol(subprotocol)],
        open_timeout=10,
        proxy=None,
        origin=None if origin is None else Origin(origin),
    ) as socket:
        yield GraphQLWebSocket(socket, answer_pings=answer_pings)


@asynccontextmanager
async def authenticated_socket(
    url: str, token: str, *, answer_pings: bool = True
) -> AsyncIterator[GraphQLWebSocket]:
    """Open a connection and complete ``connection_init`` with `token`."""
    async with open_socket(url, answer_pings=answer_pings) as socket:
        reply = await socket.init({"Authorization": f"Bearer {token}"})
        assert reply == {"type": "connection_ack"}, reply
        yield socket
