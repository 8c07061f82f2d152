"""The gateway side of the relay between processes (Redis deployments): this process's websockets
whose shop another process owns. Their frames, and order events from this process's HTTP API,
are added to the shop's stream ``kefu:in:<shop>`` for its owner (server/runtime/inbox.py); what
the owner sends back arrives on this node's channel ``kefu:gw:<node>``. When a shop changes
owner, its gateway sessions are closed with 1012 and the extension reconnects with ``resume``.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from server.core.nudges import OrderEvent
from server.errors import ClusterTimeout, StoreError
from server.protocol import CloseCode
from server.runtime.inbox import GATEWAY, INBOX
from server.runtime.registry import Session

REQUEST_TIMEOUT_S = 10.0


class Gateway:
    """This node's gateway sessions (sid -> the session and the owner it is relayed to), and
    its order requests awaiting the owner's answer."""

    def __init__(self, redis: aioredis.Redis, node: str) -> None:
        self.redis = redis
        self.node = node
        self.sessions: dict[str, tuple[Session, str]] = {}
        self.requests: dict[str, asyncio.Future[Any]] = {}

    async def subscribe(self) -> None:
        """Listen on this node's channel (read by :meth:`receive`)."""
        self._pubsub = self.redis.pubsub()
        await self._pubsub.subscribe(GATEWAY + self.node)

    async def close(self) -> None:
        await self._pubsub.aclose()

    async def attach(self, session: Session, owner: str, resume: int | None) -> None:
        self.sessions[session.id] = (session, owner)
        hello = {"token": session.token.token, "platform": session.platform, "resume": resume}
        await self._forward(session.shop, "attach", session.id, orjson.dumps(hello))

    async def forward(self, session: Session, frame: str | bytes) -> None:
        data = frame.encode() if isinstance(frame, str) else frame
        await self._forward(session.shop, "frame", session.id, data)

    async def leave(self, session: Session) -> None:
        if self.sessions.pop(session.id, None) is not None:
            with contextlib.suppress(RedisError):
                await self._forward(session.shop, "detach", session.id, b"")

    async def request_order(self, event: OrderEvent) -> bool:
        """Hand an order event (from the HTTP API) to the shop's owner, another node; True if
        it changed anything."""
        request = secrets.token_hex(8)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.requests[request] = future
        payload = {
            "order": event.order, "buyer": event.buyer, "status": str(event.status),
            "conversation": event.conversation, "amount": event.amount, "ts": event.ts,
        }  # fmt: skip
        try:
            await self._forward(event.shop, "order", request, orjson.dumps(payload))
            answer = await asyncio.wait_for(future, REQUEST_TIMEOUT_S)
        except TimeoutError:
            raise ClusterTimeout(event.shop) from None
        finally:
            self.requests.pop(request, None)
        if "error" in answer:
            raise StoreError(answer["error"])
        return bool(answer["changed"])

    async def _forward(self, shop: str, kind: str, sid: str, data: bytes) -> None:
        fields = {"gw": self.node, "sid": sid, "kind": kind, "data": data}
        await self.redis.xadd(INBOX + shop, fields)  # type: ignore[arg-type]

    async def receive(self) -> None:
        """Frames from owners for this node's gateway sessions, and answers to requests."""
        async for message in self._pubsub.listen():
            if message["type"] != "message":
                continue
            sid, kind, data = bytes(message["data"]).split(b"\n", 2)
            key = sid.decode()
            if kind == b"reply":
                future = self.requests.get(key)
                if future is not None and not future.done():
                    future.set_result(orjson.loads(data))
                continue
            entry = self.sessions.get(key)
            if entry is None:
                continue
            session = entry[0]
            if kind == b"close":
                code, _, reason = data.decode().partition(" ")
                self.sessions.pop(key, None)
                session.drop(int(code), reason)
            else:
                session.enqueue(data, kind.decode())

    def close_sessions(self, moved: Callable[[Session, str], bool]) -> None:
        """Close (1012) the gateway sessions for which ``moved(session, owner)``: they reconnect."""
        for sid, (session, owner) in list(self.sessions.items()):
            if moved(session, owner):
                self.sessions.pop(sid, None)
                session.drop(CloseCode.MOVED, "shop moved to another process; reconnect")
