"""Several server processes on one Redis (``KEFU_REDIS_URL``): each shop is served by one
process at a time, and every process accepts any agent's websocket.

Ownership. ``kefu:owner:<shop>`` names the node owning a shop, and a shop's owner is valid while
the node's heartbeat ``kefu:alive:<node>`` lives (renewed every ``BEAT_S``, expiring after
``HEARTBEAT_MS``): one key per process keeps every shop it owns, however many. The owner keeps the
shop's clocks, nudges and pushes in memory exactly as a single server does, and is the only process
that fires them, so each fires once cluster-wide. When a process dies its heartbeat expires and
the others, which scan ``kefu:shops`` every ``SCAN_S``, take its shops over (a script that checks
the heartbeat is still gone) and load their state from the Redis store: open rounds resume from
their stored start, nudges whose time passed fire at once, a nudge already delivered is not fired
again (its delivery was committed before it was pushed).

No two owners. An owner acts only while its last confirmed heartbeat is younger than
``HEARTBEAT_MS`` less ``MARGIN_S``: the key it set cannot have expired yet (Redis started its TTL no
earlier than the moment the command was sent), so nobody can have taken a shop over. The heartbeat
is renewed from its own thread, so a busy event loop keeps it alive; past that window (the process
was stopped, or cut off from Redis) a watch task hands every shop back, and the scheduler checks
the same before firing a clock; once its heartbeat is confirmed again the process re-adopts
whatever still names it.

Gateways. A websocket whose shop another process owns is a *gateway* session: its frames go to
the owner through the shop's stream ``kefu:in:<shop>`` (a consumer group, so entries a dead owner
read but did not finish are claimed by the next owner: nothing is lost), and the owner's frames
come back on the gateway process's pub/sub channel ``kefu:gw:<node>``. When a shop changes owner,
its gateway sessions are closed with 1012 and the extension reconnects with ``resume``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import orjson
import redis
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from server.core.nudges import OrderEvent, OrderStatus
from server.errors import ClusterTimeout, KefuError, StoreError
from server.runtime.registry import Peer, Session
from server.settings import Token

log = logging.getLogger("kefu.cluster")

HEARTBEAT_MS = 1500  # a node's heartbeat TTL: a dead node's shops move this long after its death
BEAT_S = 0.25  # heartbeat renewal, which also confirms the shops the node owns
MARGIN_S = 0.4  # an owner stops acting this long before its heartbeat could expire
SCAN_S = 0.25  # survivors look for shops whose owner's heartbeat is gone
READ_BLOCK_MS = 200
REQUEST_TIMEOUT_S = 10.0
STOP_S = 2.0
CLOSE_MOVED = 1012  # "service restart": the shop moved to another process; reconnect

OWNER = "kefu:owner:"  # + shop: the owning node (valid while that node's heartbeat lives)
SHOPS = "kefu:shops"  # every shop ever claimed
INBOX = "kefu:in:"  # + shop: events for the shop's owner (a stream)
GATEWAY = "kefu:gw:"  # + node: frames for that node's websockets (pub/sub)
ALIVE = "kefu:alive:"  # + node: a node's heartbeat
GROUP = "owners"

# Claim a shop: free, already ours (re-adopted after a stale heartbeat), or named after the node
# ARGV[2] whose heartbeat KEYS[2] is gone. The shop joins the scanned set in the same step, so a
# scan never sees a shop between "known" and "claimed" (it would claim it for itself).
# KEYS: owner key, the expected owner's heartbeat, the set of shops. ARGV: us, expected owner, shop.
_TAKE = """
local current = redis.call('get', KEYS[1])
if current and current ~= ARGV[1] then
  if current ~= ARGV[2] or redis.call('exists', KEYS[2]) == 1 then return 0 end
end
redis.call('set', KEYS[1], ARGV[1])
redis.call('sadd', KEYS[3], ARGV[3])
return 1
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


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

    __slots__ = ("gateway", "sid", "cluster")

    def __init__(
        self, token: Token, platform: str, gateway: str, sid: str, cluster: Cluster
    ) -> None:
        super().__init__(token, platform)
        self.gateway, self.sid, self.cluster = gateway, sid, cluster

    @property
    def id(self) -> str:
        return self.sid

    def enqueue(self, data: bytes, kind: str) -> None:
        if not self.closed:
            self.cluster.send_to_gateway(self.gateway, self.sid, kind, data)

    def drop(self, code: int, reason: str) -> None:
        if not self.closed:
            self.closed = True
            close = f"{code} {reason}".encode()
            self.cluster.send_to_gateway(self.gateway, self.sid, "close", close)


class Cluster:
    def __init__(
        self, url: str, tokens: dict[str, Token], owner: Owner, node: str | None = None
    ) -> None:
        self.url = url
        self.tokens = tokens
        self.owner = owner
        self.node = node or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.redis: aioredis.Redis = aioredis.from_url(url)
        self.owned: set[str] = set()
        self.gateway_sessions: dict[str, tuple[Session, str]] = {}  # sid -> (session, owner)
        self.remote: dict[tuple[str, str], RemoteSession] = {}  # (gateway, sid) -> session
        self.requests: dict[str, asyncio.Future[Any]] = {}
        self._adopting: dict[str, asyncio.Future[None]] = {}  # shops leased, still loading
        self._outgoing: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._new_shop = asyncio.Event()
        self._stopping = False
        self._acting_until = 0.0  # time.monotonic() past which this node must not act as owner
        # The heartbeat has its own thread and connection: a busy or stalled event loop (a long
        # burst of work, a slow disk) must not make a live process look dead. Only a stopped
        # process or a lost Redis lets it lapse.
        self._beats = redis.Redis.from_url(url, socket_timeout=HEARTBEAT_MS / 1000)
        self._beating = threading.Thread(
            target=self._beat_thread,
            name="kefu-heartbeat",
            daemon=True,  # never holds up exit
        )
        self._stop_beats = threading.Event()
        self._take = self.redis.register_script(_TAKE)
        self._release = self.redis.register_script(_RELEASE)

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        # Alive before any session attaches anywhere: owners detach sessions of silent nodes.
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self._beat)
        self._beating.start()
        self._pubsub = self.redis.pubsub()
        await self._pubsub.subscribe(GATEWAY + self.node)
        for loop in (self._receive, self._send, self._watch, self._scan_loop, self._inbox):
            self._tasks.append(self._loop.create_task(loop()))
        log.info("cluster node started", extra={"node": self.node})

    async def stop(self) -> None:
        """Hand the shops back at once (the others adopt them at their next scan), then close.

        Bounded in time: a connection cancelled in the middle of a command must not hold up
        the process's exit; the heartbeat then simply expires."""
        self._stopping = True  # no more adoptions, even by a claim already under way
        self._stop_beats.set()
        if self._beating.is_alive():  # before the heartbeat is deleted: it must not come back
            await asyncio.to_thread(self._beating.join, STOP_S)
        self._beats.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.wait(self._tasks, timeout=STOP_S)
        with contextlib.suppress(RedisError, TimeoutError):
            async with asyncio.timeout(STOP_S):
                for shop in list(self.owned):
                    await self._release(keys=[OWNER + shop], args=[self.node])
                await self.redis.delete(ALIVE + self.node)
        with contextlib.suppress(RedisError, TimeoutError):
            async with asyncio.timeout(STOP_S):
                await self._pubsub.aclose()
                await self.redis.aclose()

    # --- ownership --------------------------------------------------------------------------

    def owns(self, shop: str) -> bool:
        self.check_acting()
        return shop in self.owned

    def check_acting(self) -> None:
        """Hand every shop back if the heartbeat may have expired: another node may own them.
        Called before anything acts as owner (the scheduler, forwarded events, the watch task)."""
        if self.owned and time.monotonic() >= self._acting_until:
            log.warning("heartbeat not confirmed in time: handing shops back")
            for shop in list(self.owned):
                self._lose(shop)

    async def owner_of(self, shop: str) -> str:
        """The node serving ``shop``, claiming it for this node if nobody (alive) does."""
        owner = await self.redis.get(OWNER + shop)
        node = _text(owner) if owner is not None else None
        if node is not None and node != self.node and await self.redis.exists(ALIVE + node):
            return node
        if node != self.node or not (shop in self.owned or shop in self._adopting):
            if await self._claim(shop, node):
                return self.node
            owner = await self.redis.get(OWNER + shop)  # lost the race: ask again
            node = _text(owner) if owner is not None else self.node
        adopting = self._adopting.get(shop)
        if node == self.node and adopting is not None:
            await adopting  # our lease, still loading the shop: serve it once it is loaded
        return node

    async def _claim(self, shop: str, expected: str | None) -> bool:
        """Take ``shop`` if it is free, ours, or still named after the dead node ``expected``."""
        if self._stopping or shop in self.owned or shop in self._adopting:
            return False
        if time.monotonic() >= self._acting_until:
            return False  # our own heartbeat is not confirmed: we may not own anything
        dead = expected or self.node
        taken = await self._take(
            keys=[OWNER + shop, ALIVE + dead, SHOPS], args=[self.node, dead, shop]
        )
        if not taken or shop in self.owned or shop in self._adopting:
            return False  # another task of ours claimed it meanwhile
        adopted = self._adopting[shop] = asyncio.get_running_loop().create_future()
        try:
            with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists already
                await self.redis.xgroup_create(INBOX + shop, GROUP, id="0", mkstream=True)
            await self.owner.adopt(shop)
            self.owned.add(shop)
            # What the previous owner read but never finished comes first, before new entries.
            await self._claim_pending(shop)
            self._new_shop.set()
        finally:
            del self._adopting[shop]
            adopted.set_result(None)
        log.info("shop adopted", extra={"shop": shop, "node": self.node})
        # Our agents relayed to the previous owner reconnect now, to us, instead of at a scan.
        self._close_gateway_sessions(lambda session, owner: session.shop == shop)
        return True

    def _lose(self, shop: str) -> None:
        self.owned.discard(shop)
        for key in [key for key, session in self.remote.items() if session.shop == shop]:
            del self.remote[key]
        self.owner.forget(shop)
        log.warning("shop lost", extra={"shop": shop, "node": self.node})

    def _beat(self) -> None:
        """Renew the heartbeat and, in the same transaction, read who owns our shops (in the
        heartbeat thread). Acting is extended only when every shop is still ours: a shop gone
        means our heartbeat lapsed (the process was stopped), so nothing acts until it is lost."""
        sent = time.monotonic()
        shops = tuple(self.owned)
        with self._beats.pipeline(transaction=True) as pipe:
            pipe.set(ALIVE + self.node, 1, px=HEARTBEAT_MS)
            if shops:
                pipe.mget([OWNER + shop for shop in shops])
            answer = pipe.execute()
        owners = answer[1] if shops else []
        moved = [
            s for s, owner in zip(shops, owners, strict=True) if _text(owner or b"") != self.node
        ]
        if moved:
            self._loop.call_soon_threadsafe(self._lose_moved, moved)
        elif not self._stopping:
            self._acting_until = sent + HEARTBEAT_MS / 1000 - MARGIN_S

    def _beat_thread(self) -> None:
        while not self._stop_beats.wait(BEAT_S):
            try:
                self._beat()
            except RedisError as exc:
                log.error("heartbeat failed", extra={"error": str(exc)})

    def _lose_moved(self, shops: list[str]) -> None:
        for shop in shops:
            if shop in self.owned:
                self._lose(shop)

    async def _watch(self) -> None:
        """Hand the shops back as soon as the heartbeat may have lapsed, even with no clock due."""
        while True:
            await asyncio.sleep(BEAT_S)
            self.check_acting()

    async def _scan_loop(self) -> None:
        """Take over shops whose owner's heartbeat is gone; close gateway sessions whose shop
        moved; detach sessions relayed by dead nodes. Three reads a scan, however many shops."""
        while True:
            await asyncio.sleep(SCAN_S)
            with contextlib.suppress(RedisError):
                await self._scan()

    async def _scan(self) -> None:
        shops = sorted(_text(raw) for raw in await self.redis.smembers(SHOPS))
        owners = dict(zip(shops, await _mget(self.redis, OWNER, shops), strict=True))
        nodes = {_text(o) for o in owners.values() if o is not None} | {g for g, _ in self.remote}
        nodes.discard(self.node)
        alive = dict(zip(nodes, await _mget(self.redis, ALIVE, list(nodes)), strict=True))
        for shop, raw in owners.items():
            owner = _text(raw) if raw is not None else None
            if owner is None or owner == self.node or alive.get(owner) is None:
                await self._claim(shop, owner)
        current = {shop: _text(raw) if raw else None for shop, raw in owners.items()}
        self._close_gateway_sessions(lambda session, owner: current.get(session.shop) != owner)
        for gateway in [gateway for gateway in nodes if alive[gateway] is None]:
            for key in [key for key in self.remote if key[0] == gateway]:
                self.owner.detach(self.remote.pop(key))

    def _close_gateway_sessions(self, moved: Callable[[Session, str], bool]) -> None:
        for sid, (session, owner) in list(self.gateway_sessions.items()):
            if moved(session, owner):
                self.gateway_sessions.pop(sid, None)
                session.drop(CLOSE_MOVED, "shop moved to another process; reconnect")

    # --- gateway side -----------------------------------------------------------------------

    async def attach(self, session: Session, owner: str, resume: int | None) -> None:
        self.gateway_sessions[session.id] = (session, owner)
        hello = {"token": session.token.token, "platform": session.platform, "resume": resume}
        await self._forward(session.shop, "attach", session.id, orjson.dumps(hello))

    async def forward(self, session: Session, frame: str | bytes) -> None:
        data = frame.encode() if isinstance(frame, str) else frame
        await self._forward(session.shop, "frame", session.id, data)

    async def leave(self, session: Session) -> None:
        if self.gateway_sessions.pop(session.id, None) is not None:
            with contextlib.suppress(RedisError):
                await self._forward(session.shop, "detach", session.id, b"")

    async def request_order(self, event: OrderEvent) -> bool:
        """Hand an order event (from the HTTP API) to the shop's owner; True if it changed."""
        owner = await self.owner_of(event.shop)
        if owner == self.node:
            return await self.owner.apply_order(event)
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

    async def _receive(self) -> None:
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
            entry = self.gateway_sessions.get(key)
            if entry is None:
                continue
            session = entry[0]
            if kind == b"close":
                code, _, reason = data.decode().partition(" ")
                self.gateway_sessions.pop(key, None)
                session.drop(int(code), reason)
            else:
                session.enqueue(data, kind.decode())

    # --- owner side -------------------------------------------------------------------------

    def send_to_gateway(self, gateway: str, sid: str, kind: str, data: bytes) -> None:
        self._outgoing.put_nowait((gateway, sid.encode() + b"\n" + kind.encode() + b"\n" + data))

    async def _send(self) -> None:
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

    async def _inbox(self) -> None:
        """Read the owned shops' streams; entries a dead owner left unfinished come first."""
        while True:
            shops = sorted(self.owned)
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
                await self._process(_text(stream).removeprefix(INBOX), entries)

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
                self.send_to_gateway(gateway, sid, "close", f"{CLOSE_MOVED} reconnect".encode())
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


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
