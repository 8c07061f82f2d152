"""The websocket side's connection cap, counted from the TCP accept, not from the handshake.

Every accepted socket holds a descriptor, whether or not it ever finishes its handshake or says
``hello``. Past the cap (``KEFU_WS_MAX_CONNECTIONS``, lowered to fit the descriptors), the oldest
connection that has not authenticated yet is dropped to make room, so idle or half-open sockets
can never lock agents out; when every held connection is authenticated, the new handshake gets
HTTP 503 instead.
"""

from __future__ import annotations

import asyncio

from websockets.asyncio.server import ServerConnection


class Gate:
    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.held: set[ServerConnection] = set()
        self.unauthenticated: dict[ServerConnection, None] = {}  # oldest first

    def connection_class(self) -> type[ServerConnection]:
        """A :class:`ServerConnection` that reports its accept and its end to this gate."""
        gate = self

        class GatedConnection(ServerConnection):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                super().connection_made(transport)
                gate.opened(self)

            def connection_lost(self, exc: Exception | None) -> None:
                super().connection_lost(exc)
                gate.closed(self)

        return GatedConnection

    def opened(self, conn: ServerConnection) -> None:
        self.held.add(conn)
        self.unauthenticated[conn] = None
        if len(self.held) > self.cap:
            oldest = next(iter(self.unauthenticated))
            if oldest is not conn:  # else every other one is an agent: the handshake gets 503
                self.closed(oldest)
                oldest.transport.abort()

    def authenticated(self, conn: ServerConnection) -> None:
        self.unauthenticated.pop(conn, None)

    def closed(self, conn: ServerConnection) -> None:
        self.held.discard(conn)
        self.unauthenticated.pop(conn, None)

    @property
    def full(self) -> bool:
        return len(self.held) > self.cap
