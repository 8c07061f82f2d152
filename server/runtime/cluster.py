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

Gateways. The sessions relayed between a websocket's process and its shop's owner, and the order
events handed to the owner, are server/runtime/gateway.py's (that side) and inbox.py's (the
owner's); a :class:`Cluster` holds one of each and tells them when shops come and go.
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

import redis
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from server.core.nudges import OrderEvent
from server.runtime.gateway import Gateway
from server.runtime.inbox import Inbox, Owner, text
from server.runtime.registry import Session
from server.settings import Token

log = logging.getLogger("kefu.cluster")

HEARTBEAT_MS = 1500  # a node's heartbeat TTL: a dead node's shops move this long after its death
BEAT_S = 0.25  # heartbeat renewal, which also confirms the shops the node owns
MARGIN_S = 0.4  # an owner stops acting this long before its heartbeat could expire
SCAN_S = 0.25  # survivors look for shops whose owner's heartbeat is gone
STOP_S = 2.0

OWNER = "kefu:owner:"  # + shop: the owning node (valid while that node's heartbeat lives)
SHOPS = "kefu:shops"  # every shop ever claimed
ALIVE = "kefu:alive:"  # + node: a node's heartbeat

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


class Cluster:
    """This process as a node: the shops it owns, its heartbeat, and its two sides of the relay."""

    def __init__(
        self, url: str, tokens: dict[str, Token], owner: Owner, node: str | None = None
    ) -> None:
        self.url = url
        self.owner = owner
        self.node = node or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.redis: aioredis.Redis = aioredis.from_url(url)
        self.owned: set[str] = set()
        self._adopting: dict[str, asyncio.Future[None]] = {}  # shops leased, still loading
        self.gateway = Gateway(self.redis, self.node)
        self.inbox = Inbox(self.redis, self.node, tokens, owner, self.owns, lambda: self.owned)
        self._tasks: list[asyncio.Task[None]] = []
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
        await self.gateway.subscribe()
        loops = (
            self.gateway.receive,
            self.inbox.publish,
            self._watch,
            self._scan_loop,
            self.inbox.read,
        )
        for loop in loops:
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
                await self.gateway.close()
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
        node = text(owner) if owner is not None else None
        if node is not None and node != self.node and await self.redis.exists(ALIVE + node):
            return node
        if node != self.node or not (shop in self.owned or shop in self._adopting):
            if await self._claim(shop, node):
                return self.node
            owner = await self.redis.get(OWNER + shop)  # lost the race: ask again
            node = text(owner) if owner is not None else self.node
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
            await self.inbox.open_inbox(shop)
            await self.owner.adopt(shop)
            self.owned.add(shop)
            await self.inbox.take_inbox(shop)
        finally:
            del self._adopting[shop]
            adopted.set_result(None)
        log.info("shop adopted", extra={"shop": shop, "node": self.node})
        # Our agents relayed to the previous owner reconnect now, to us, instead of at a scan.
        self.gateway.close_sessions(lambda session, owner: session.shop == shop)
        return True

    def _lose(self, shop: str) -> None:
        self.owned.discard(shop)
        self.inbox.drop_remote(shop)
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
            s for s, owner in zip(shops, owners, strict=True) if text(owner or b"") != self.node
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
        shops = sorted(text(raw) for raw in await self.redis.smembers(SHOPS))
        owners = dict(zip(shops, await _mget(self.redis, OWNER, shops), strict=True))
        nodes = {text(o) for o in owners.values() if o is not None} | self.inbox.gateways()
        nodes.discard(self.node)
        alive = dict(zip(nodes, await _mget(self.redis, ALIVE, list(nodes)), strict=True))
        for shop, raw in owners.items():
            owner = text(raw) if raw is not None else None
            if owner is None or owner == self.node or alive.get(owner) is None:
                await self._claim(shop, owner)
        current = {shop: text(raw) if raw else None for shop, raw in owners.items()}
        self.gateway.close_sessions(lambda session, owner: current.get(session.shop) != owner)
        for gateway in [gateway for gateway in nodes if alive[gateway] is None]:
            self.inbox.detach_gateway(gateway)

    # --- the gateway, for the websocket server and the service ------------------------------

    async def attach(self, session: Session, owner: str, resume: int | None) -> None:
        await self.gateway.attach(session, owner, resume)

    async def forward(self, session: Session, frame: str | bytes) -> None:
        await self.gateway.forward(session, frame)

    async def leave(self, session: Session) -> None:
        await self.gateway.leave(session)

    async def request_order(self, event: OrderEvent) -> bool:
        """Apply an order event (from the HTTP API) at the shop's owner; True if it changed."""
        if await self.owner_of(event.shop) == self.node:
            return await self.owner.apply_order(event)
        return await self.gateway.request_order(event)


async def _mget(redis: aioredis.Redis, prefix: str, names: list[str]) -> list[bytes | str | None]:
    return list(await redis.mget([prefix + name for name in names])) if names else []
