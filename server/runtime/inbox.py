"""The owner's side of the relay between processes (Redis deployments; which process owns which
shop is server/runtime/cluster.py's job): the owned shops' streams ``kefu:in:<shop>`` and the
sessions of other processes' websockets attached through them.

The gateway processes (server/runtime/gateway.py) add their sessions' frames and the HTTP API's
order events to the shop's stream, read here in a consumer group: entries a dead owner read but
did not finish are claimed by the next owner, so nothing is lost. What goes back (pushes, answers,
closes) is published on the gateway's channel ``kefu:gw:<node>``, in order, batched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from server.core.nudges import OrderEvent, OrderStatus
from server.errors import KefuError
from server.protocol import CloseCode
from server.runtime.registry import Peer
from server.settings import Token

log = logging.getLogger("kefu.cluster")

READ_BLOCK_MS = 200

INBOX = "kefu:in:"  # + shop: events for the shop's owner (a stream)
GATEWAY = "kefu:gw:"  # + node: frames for that node's websockets (pub/sub)
GROUP = "owners"


class Owner(Protocol):
    """What a node needs from the service of its process (server.runtime.service.Service)."""

    async def adopt(self, shop: str) -> None: ...
    def forget(self, shop: str) -> None: ...
    async def receive(self, session: Peer, frame: str | bytes) -> str: ...
    def welcome(self, session: Peer, resume: int | None) -> None: ...
    def detach(self, session: Peer) -> None: ...
    async def apply_order(self, event: OrderEvent) -> bool: ...


class RemoteSession(Peer):
    """A websocket on another process (a gateway), attached to this owner through Redis."""

    __slots__ = ("gateway", "sid", "inbox")

    def __init__(self, token: Token, platform: str, gateway: str, sid: str, inbox: Inbox) -> None:
        super().__init__(token, platform)
        self.gateway, self.sid, self.inbox = gateway, sid, inbox

    @property
    def id(self) -> str:
        return self.sid

    def enqueue(self, data: bytes, kind: str) -> None:
        if not self.closed:
            self.inbox.send_to_gateway(self.gateway, self.sid, kind, data)

    def drop(self, code: int, reason: str) -> None:
        if not self.closed:
            self.closed = True
            close = f"{code} {reason}".encode()
            self.inbox.send_to_gateway(self.gateway, self.sid, "close", close)


class Inbox:
    """The remote sessions of the shops this node owns, and what it publishes to gateways.
    ``owns`` and ``shops`` are the node's ownership (server.runtime.cluster.Cluster)."""

    def __init__(
        self,
        redis: aioredis.Redis,
        node: str,
        tokens: dict[str, Token],
        owner: Owner,
        owns: Callable[[str], bool],
        shops: Callable[[], Iterable[str]],
    ) -> None:
        self.redis = redis
        self.node = node
        self.tokens = tokens
        self.owner = owner
        self.owns = owns
        self.shops = shops
        self.remote: dict[tuple[str, str], RemoteSession] = {}  # (gateway, sid) -> session
        self._outgoing: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self._new_shop = asyncio.Event()

    # --- ownership changes ------------------------------------------------------------------

    async def open_inbox(self, shop: str) -> None:
        """Before adopting ``shop``: its stream and consumer group exist."""
        with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists already
            await self.redis.xgroup_create(INBOX + shop, GROUP, id="0", mkstream=True)

    async def take_inbox(self, shop: str) -> None:
        """``shop`` was adopted: what the previous owner read but never finished comes first,
        then its new entries are read with the other owned shops'."""
        await self._claim_pending(shop)
        self._new_shop.set()

    def drop_remote(self, shop: str) -> None:
        """``shop`` was lost: its remote sessions are the next owner's."""
        for key in [key for key, session in self.remote.items() if session.shop == shop]:
            del self.remote[key]

    def gateways(self) -> set[str]:
        """The nodes relaying sessions to this one."""
        return {gateway for gateway, _ in self.remote}

    def detach_gateway(self, gateway: str) -> None:
        """``gateway`` died: detach the sessions it relayed."""
        for key in [key for key in self.remote if key[0] == gateway]:
            self.owner.detach(self.remote.pop(key))

    # --- the streams and the channels -------------------------------------------------------

    def send_to_gateway(self, gateway: str, sid: str, kind: str, data: bytes) -> None:
        self._outgoing.put_nowait((gateway, sid.encode() + b"\n" + kind.encode() + b"\n" + data))

    async def publish(self) -> None:
        """One task publishes, in order, batching whatever is waiting into one round trip."""
        while True:
            batch = [await self._outgoing.get()]
            while not self._outgoing.empty():
                batch.append(self._outgoing.get_nowait())
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for gateway, payload in batch:
                        pipe.publish(GATEWAY + gateway, payload)
                    await pipe.execute()
            except RedisError as exc:
                # A lost frame is recovered by resume (pushes) or shows as a timeout (answers).
                log.error("publishing to gateways failed", extra={"error": str(exc)})

    async def read(self) -> None:
        """Read the owned shops' streams; entries a dead owner left unfinished come first."""
        while True:
            shops = sorted(self.shops())
            if not shops:
                self._new_shop.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._new_shop.wait(), READ_BLOCK_MS / 1000)
                continue
            try:
                streams = {INBOX + shop: ">" for shop in shops}
                answer: Any = await self.redis.xreadgroup(
                    GROUP,
                    self.node,
                    streams,  # type: ignore[arg-type]
                    count=200,
                    block=READ_BLOCK_MS,
                )
            except RedisError as exc:
                log.error("reading the shop streams failed", extra={"error": str(exc)})
                await asyncio.sleep(READ_BLOCK_MS / 1000)
                continue
            for stream, entries in answer or ():
                await self._process(text(stream).removeprefix(INBOX), entries)

    async def _claim_pending(self, shop: str) -> None:
        """Take over entries another consumer read but never acknowledged (it died)."""
        start = "0-0"
        while True:
            result = await self.redis.xautoclaim(
                INBOX + shop, GROUP, self.node, min_idle_time=0, start_id=start, count=200
            )
            start, entries = result[0], [e for e in result[1] if e[1]]
            if entries:
                await self._process(shop, entries)
            if start in (b"0-0", "0-0"):
                return

    async def _process(self, shop: str, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        unhandled = []  # read just as the shop moved away (a paused owner): the next owner's
        for _, fields in entries:
            if not self.owns(shop):
                unhandled.append(fields)
                continue
            try:
                await self._entry(shop, fields)
            except Exception:
                log.exception("handling a forwarded event failed", extra={"shop": shop})
        # One acknowledgement per batch: a crash before it makes the next owner redo the batch
        # (order events are idempotent), never skip it. Done entries are deleted, so a shop's
        # stream holds only what is in flight instead of growing forever; unhandled ones go back
        # to the end of the stream, where the shop's owner reads them.
        done = [entry_id for entry_id, _ in entries]
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(INBOX + shop, GROUP, *done)
            pipe.xdel(INBOX + shop, *done)
            for fields in unhandled:
                pipe.xadd(INBOX + shop, fields)  # type: ignore[arg-type]
            await pipe.execute()

    async def _entry(self, shop: str, fields: dict[bytes, bytes]) -> None:
        gateway, sid = fields[b"gw"].decode(), fields[b"sid"].decode()
        kind, data = fields[b"kind"], fields[b"data"]
        key = (gateway, sid)
        if kind == b"attach":
            hello = orjson.loads(data)
            token = self.tokens.get(hello["token"])
            if token is None or token.shop != shop:
                return
            session = self.remote[key] = RemoteSession(token, hello["platform"], gateway, sid, self)
            self.owner.welcome(session, hello.get("resume"))
        elif kind == b"frame":
            remote = self.remote.get(key)
            if remote is None:  # attached to an earlier owner: reconnect to this one
                self.send_to_gateway(gateway, sid, "close", f"{CloseCode.MOVED} reconnect".encode())
                return
            await self.owner.receive(remote, data)
        elif kind == b"detach":
            gone = self.remote.pop(key, None)
            if gone is not None:
                gone.closed = True
                self.owner.detach(gone)
        elif kind == b"order":
            await self._order(shop, gateway, sid, orjson.loads(data))

    async def _order(self, shop: str, gateway: str, request: str, body: dict[str, Any]) -> None:
        event = OrderEvent(
            shop, body["order"], body["buyer"], OrderStatus(body["status"]),
            body.get("conversation"), body.get("amount"), body.get("ts"),
        )  # fmt: skip
        try:
            answer: dict[str, Any] = {"changed": await self.owner.apply_order(event)}
        except KefuError as exc:
            answer = {"error": str(exc)}
        self.send_to_gateway(gateway, request, "reply", orjson.dumps(answer))


async def _mget(redis: aioredis.Redis, prefix: str, names: list[str]) -> list[bytes | str | None]:
    return list(await redis.mget([prefix + name for name in names])) if names else []


def text(value: bytes | str) -> str:
    """A Redis answer as text (the client returns bytes)."""
    return value.decode() if isinstance(value, bytes) else value
