"""The websocket side: handshake policy, ``hello``, and the per-connection loop.

The loop stays short: receive → rate limit → decode → service → flush. Every bad frame gets an
``error`` frame and the connection stays usable; only authentication (4401), flooding (1008) and
oversized frames (1009, enforced by websockets' ``max_size``) close it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Origin

from server import protocol
from server.errors import KefuError, NotAuthenticated
from server.runtime.gate import Gate
from server.runtime.registry import Session
from server.runtime.service import Service
from server.settings import Config, Token

log = logging.getLogger("kefu.ws")


class RateLimit:
    """Token bucket: ``rate`` frames per second on average, bursts up to ``burst``."""

    __slots__ = ("rate", "burst", "tokens", "last")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, float(burst)
        self.tokens = float(burst)
        self.last = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


class WebsocketServer:
    def __init__(
        self, config: Config, service: Service, tokens: dict[str, Token], max_connections: int
    ) -> None:
        self.config = config
        self.service = service
        self.tokens = tokens
        self.server: Server | None = None
        self.gate = Gate(max_connections)

    def _admit(self, conn: ServerConnection, request: Request) -> Response | None:
        """Refuse a handshake past the cap (HTTP 503): a descriptor is kept for everyone else."""
        if not self.gate.full:
            return None
        return conn.respond(HTTPStatus.SERVICE_UNAVAILABLE, "too many connections\n")

    async def start(self) -> int:
        self.server = await serve(
            self.handle,
            self.config.host,
            self.config.ws_port,
            # None admits clients that send no Origin (non-browser agents, tests); browsers
            # must come from an allowed Origin or get HTTP 403 at the handshake.
            origins=[None, *(Origin(origin) for origin in self.config.origins)],
            compression=None,
            max_size=self.config.max_frame,
            ping_interval=self.config.ping_interval_s,
            ping_timeout=self.config.ping_interval_s,
            close_timeout=2,
            # A handshake left half-open gets no longer than a silent client gets for hello.
            open_timeout=self.config.hello_timeout_s,
            process_request=self._admit,
            create_connection=self.gate.connection_class(),
            # Pushes are queued in our own bounded outbox; the transport may buffer up to the
            # same limit before send() would wait.
            write_limit=self.config.send_queue_bytes,
            # asyncio's default backlog (100) resets connections when every extension of a
            # large shop reconnects at once after a restart (measured at 10,000 connections).
            backlog=2048,
        )
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Close every connection with 1001 (going away) and stop listening."""
        if self.server is not None:
            self.server.close(close_connections=True)
            await self.server.wait_closed()

    async def handle(self, conn: ServerConnection) -> None:
        authenticated = await self._authenticate(conn)
        if authenticated is None:
            return
        self.gate.authenticated(conn)
        session, resume = authenticated
        metrics = self.service.metrics
        metrics.connections.inc()
        metrics.handled("hello", 0.0)
        log.info("connected", extra={**session.labels(), "platform": session.platform})
        cluster = self.service.cluster
        try:
            owner = await cluster.owner_of(session.shop) if cluster else None
            if cluster is not None and owner != cluster.node:
                assert owner is not None
                await cluster.attach(session, owner, resume)
                await self._serve(conn, session, cluster.forward)
            else:
                async with session.handling():
                    self.service.welcome(session, resume)
                await self._serve(conn, session, self._handle)
        except ConnectionClosed:
            pass
        finally:
            session.closed = True
            self.service.detach(session)
            if cluster is not None:
                await cluster.leave(session)
            metrics.connections.dec()
            log.info("disconnected", extra={**session.labels(), "code": conn.close_code})

    async def _serve(
        self,
        conn: ServerConnection,
        session: Session,
        on_frame: Callable[[Session, str | bytes], Awaitable[None]],
    ) -> None:
        """Every frame of the connection, rate limited, to ``on_frame``: this process's
        handlers (``_handle``), or for a gateway session the shop's owner elsewhere."""
        limit = RateLimit(self.config.rate, self.config.burst)
        async for frame in conn:
            if not limit.allow():
                await session.close(protocol.CloseCode.POLICY, "rate limit exceeded")
                return
            await on_frame(session, frame)

    async def _handle(self, session: Session, frame: str | bytes) -> None:
        started = time.perf_counter()
        async with session.handling():
            kind = await self.service.receive(session, frame)
        self.service.metrics.handled(kind, time.perf_counter() - started)
        # Frames already received come out of the connection without waiting: yield, so a
        # client sending a burst takes turns with every other connection, frame by frame.
        # With none waiting the next receive yields anyway (a loop turn less per frame).
        if _frames_waiting(session.conn):
            await asyncio.sleep(0)

    async def _authenticate(self, conn: ServerConnection) -> tuple[Session, int | None] | None:
        try:
            frame = await asyncio.wait_for(conn.recv(), self.config.hello_timeout_s)
        except TimeoutError:
            await conn.close(
                protocol.CloseCode.NOT_AUTHENTICATED,
                f"no hello within {self.config.hello_timeout_s:g} s",
            )
            return None
        except ConnectionClosed:
            return None
        try:
            hello = self._check_hello(frame)
        except KefuError as exc:
            self.service.metrics.errors.labels(NotAuthenticated.code).inc()
            log.info("authentication failed", extra={"reason": exc.code})
            await conn.close(protocol.CloseCode.NOT_AUTHENTICATED, str(exc)[:120])
            return None
        token = self.tokens[hello["token"]]
        session = Session(
            conn, token, hello["platform"], self.config.send_queue_bytes, self.service.metrics
        )
        return session, hello.get("resume")

    def _check_hello(self, frame: str | bytes) -> dict[str, Any]:
        message = protocol.decode(frame)
        if message["type"] != "hello":
            raise NotAuthenticated(f"expected 'hello' first, got {protocol.quote(message['type'])}")
        token = self.tokens.get(message["token"])
        if token is None:
            raise NotAuthenticated("unknown token")
        for name in ("agent", "shop"):
            claimed = message.get(name)
            if claimed is not None and claimed != getattr(token, name):
                raise NotAuthenticated(f"token is not valid for {name} {protocol.quote(claimed)}")
        return message


def _frames_waiting(conn: ServerConnection) -> bool:
    """Whether the connection holds a received frame not yet taken (websockets' assembler
    queue; if its shape ever changes, every frame yields as before)."""
    try:
        return bool(conn.recv_messages.frames.queue)
    except AttributeError:
        return True
