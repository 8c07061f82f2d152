"""The HTTP port: aiohttp's request handlers behind a connection cap and a timeout.

aiohttp closes a connection that has not sent a complete request within its keep-alive timeout,
counted from the connection's start and from each response: that is the header and idle timeout
(``KEFU_HTTP_TIMEOUT_S``). It has no cap on connections, and 600 idle sockets at a
512-descriptor limit left the process unable to accept anything (agent handshakes and /healthz
failed with it). This listener accepts for aiohttp and caps what it holds: past the cap, the
oldest connection with no request in progress is closed to make room, so a new request is always
served; only when every held connection is busy is the new one refused (503) instead.

The caps of both sides come from the descriptors the process may open (:func:`connection_caps`).
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
from collections.abc import Awaitable, Callable

from aiohttp import web

from server.settings import Config

BUSY = web.AppKey("busy", set)  # the RequestHandlers with a request in progress

# Descriptors kept for everything but client sockets: the store (SQLite and its -wal and -shm, or
# Redis connections), the library files while reloading, the listening sockets, the event loop.
FD_RESERVE = 64
BACKLOG = 2048  # like the websocket side: a reconnect storm must not reset connections


def raise_descriptor_limit() -> None:
    """Lift the soft RLIMIT_NOFILE to the hard one: the soft default (often 1024) is a
    compatibility default for select(), which asyncio does not use."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        # An unlimited hard limit is refused above the kernel's nr_open: keep the soft one then.
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def connection_caps(config: Config) -> tuple[int, int]:
    """``(websocket, http)`` connection caps: the settings, lowered to fit the descriptors the
    process may open (less :data:`FD_RESERVE`), of which HTTP may take a quarter."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    budget = 1 << 30 if soft == resource.RLIM_INFINITY else max(soft - FD_RESERVE, 8)
    http = max(1, min(config.http_max_connections, budget // 4))
    return max(1, min(config.ws_max_connections, budget - http)), http


@web.middleware
async def mark_busy(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Keep the connection of a request in progress out of the listener's reach."""
    busy = request.app[BUSY]
    busy.add(request.protocol)
    try:
        return await handler(request)
    finally:
        busy.discard(request.protocol)


class HttpListener:
    def __init__(self, app: web.Application, cap: int, timeout_s: float) -> None:
        self.runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log=None,
            keepalive_timeout=timeout_s,
            lingering_time=timeout_s,  # how long the unread rest of a refused body is drained
        )
        self.app = app
        self.cap = cap
        self.server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        """Start the application (its ``cleanup_ctx``) and listen; returns the port."""
        await self.runner.setup()
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(self._connection, host, port, backlog=BACKLOG)
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        await self.runner.cleanup()

    def _connection(self) -> asyncio.BaseProtocol:
        manager = self.runner.server
        assert manager is not None
        held = [h for h in manager.connections if h.transport is not None]
        if len(held) >= self.cap:
            busy = self.app[BUSY]
            idle = next((h for h in held if h not in busy), None)
            if idle is None:
                return _Refused()
            idle.force_close()
        return manager()


class _Refused(asyncio.Protocol):
    """A connection past the cap while every held one is busy: 503, closed at once."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        transport.close()
