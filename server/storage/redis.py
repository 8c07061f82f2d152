"""The shared store: Redis, so several server processes can serve one shop.

Writes are turned into Redis commands when called (that is the copy) and queued; one task sends
whatever is waiting as a single MULTI/EXEC, in call order: a burst of clock updates costs one round
trip and, with ``appendfsync always``, one fsync, and a write's awaitable completes only after the
EXEC that holds it. Reads first wait until every write queued before them is done, then read on a
pooled connection of their own. docs/deploy.md describes the key layout and the server settings.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import fields, replace
from itertools import islice
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit

import orjson
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError, RedisError, TimeoutError

from server.core.deadlines import Clock
from server.core.kpi import KpiDay
from server.core.nudgebook import Nudge, NudgeState
from server.core.nudges import FiredNudge, Order, OrderStatus
from server.core.tracker import Conversation
from server.errors import StoreError
from server.storage.base import AuditRecord, LedgerItem, Store
from server.storage.futures import log_unawaited_failure, settle

log = logging.getLogger("kefu.store")

SCHEMA_VERSION = 1

# Every key starts with "kefu:". A key has at most one variable part, always last, so a shop or a
# date may hold any character; records named by several ids are hash fields (or set members)
# named by the JSON array of those ids, e.g. ["shop-a","c1"].
SCHEMA = "kefu:schema"
CONVERSATIONS = "kefu:conversations"  # id -> record, every conversation
OPEN_CONVERSATIONS = "kefu:conversations:open"  # ids with an open round or a pending follow-up
KPI = "kefu:kpi:"  # + date: [shop, agent] -> record
AUDIT = "kefu:audit:"  # + shop: sorted by ts; members are "<seq> <record>"
AUDIT_SEQ = "kefu:audit_seq"  # orders audit records of one ts by insertion
USAGE = "kefu:usage"  # [shop, phrase] -> count
ORDERS = "kefu:orders"  # [shop, order] -> record
ORDERS_BY_CLOSE = "kefu:orders:closes_at"  # [shop, order] scored by closes_at
NUDGES = "kefu:nudges"  # [shop, nudge] -> record
OPEN_NUDGES = "kefu:nudges:open"  # [shop, nudge] of nudges not done
FIRED = "kefu:fired:"  # + shop: [order, nudge] scored by fired_at
LEDGER = "kefu:ledger:"  # + month: [shop, agent, rule] -> [count, yuan, points]
DEADLINES = "kefu:deadlines"  # [shop, kind, key] -> open deadline clock

# Numbers the audit record inside the transaction, so records of one shop and one ts list in the
# order they were added, by whichever server process added them. Zero-padded: equal scores sort
# by member.
_ADD_AUDIT = """
local seq = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[2], ARGV[1], string.format('%016d ', seq) .. ARGV[2])
"""

# A hung server must not hold the writer forever; a slow fsync under `appendfsync always` is
# milliseconds, far below these.
_CONNECT_TIMEOUT_S = 5.0
_COMMAND_TIMEOUT_S = 10.0

Command = tuple[Any, ...]


class RedisStore(Store):
    def __init__(self, url: str) -> None:
        self.url = url
        self.shown_url = redact_url(url)
        self._client: Redis | None = None
        self._queue: asyncio.Queue[tuple[tuple[Command, ...], asyncio.Future[None]] | None] = (
            asyncio.Queue()
        )
        self._writer: asyncio.Task[None] | None = None
        self._last_write: asyncio.Future[None] | None = None

    # --- lifecycle --------------------------------------------------------------------------

    async def open(self) -> None:
        # No client-side retries: a write whose reply was lost may have been applied, and
        # sending it again would count a phrase use twice. A failed write is reported instead;
        # the pool reconnects on the next one.
        client = Redis.from_url(
            self.url,
            retry=Retry(NoBackoff(), 0),
            socket_connect_timeout=_CONNECT_TIMEOUT_S,
            socket_timeout=_COMMAND_TIMEOUT_S,
        )
        try:
            await self._check_server(client)
            await self._check_schema(client)
        except RedisError as exc:
            await client.aclose()
            raise self._error(exc) from exc
        except StoreError:
            await client.aclose()
            raise
        self._client = client
        self._writer = asyncio.create_task(self._write_batches(), name="kefu-redis-writer")

    async def close(self) -> None:
        if self._writer is None or self._client is None:
            return
        self._queue.put_nowait(None)
        await self._writer
        self._writer = None
        await self._client.aclose()
        self._client = None

    async def _check_server(self, client: Redis) -> None:
        settings = await client.config_get("maxmemory-policy", "appendonly", "appendfsync")
        policy = settings.get("maxmemory-policy")
        if policy != "noeviction":
            raise StoreError(
                f"redis store {self.shown_url!r} may evict keys (maxmemory-policy {policy!r});"
                " set maxmemory-policy noeviction"
            )
        if settings.get("appendonly") != "yes" or settings.get("appendfsync") != "always":
            log.warning(
                "redis may lose acknowledged writes on a crash: set appendonly yes and"
                " appendfsync always",
                extra={
                    "store": self.shown_url,
                    "appendonly": settings.get("appendonly"),
                    "appendfsync": settings.get("appendfsync"),
                },
            )

    async def _check_schema(self, client: Redis) -> None:
        await client.set(SCHEMA, SCHEMA_VERSION, nx=True)
        version = int(await client.get(SCHEMA) or 0)
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"redis store {self.shown_url!r} has schema version {version}, newer than this"
                f" server's {SCHEMA_VERSION}"
            )

    # --- the writer task --------------------------------------------------------------------

    async def _write_batches(self) -> None:
        stopping = False
        while not stopping:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            stopping = None in batch
            await self._send([item for item in batch if item is not None])

    async def _send(self, batch: list[tuple[tuple[Command, ...], asyncio.Future[None]]]) -> None:
        assert self._client is not None
        pipe = self._client.pipeline(transaction=True)
        for commands, _ in batch:
            for command in commands:
                pipe.execute_command(*command)
        try:
            replies = iter(await pipe.execute(raise_on_error=False))
        except RedisError as exc:
            failure = self._error(exc)
            for _, future in batch:
                settle(future, None, failure)
            return
        # Redis applies the rest of a transaction when one command fails (a key of the wrong
        # type): only the write that queued it fails.
        for commands, future in batch:
            answers = list(islice(replies, len(commands)))
            errors = [r for r in answers if isinstance(r, RedisError)]
            settle(future, answers, self._error(errors[0]) if errors else None)

    def _write(self, *commands: Command) -> asyncio.Future[Any]:
        """Queue commands for the writer; the future's result is their replies."""
        if self._writer is None:
            raise StoreError(f"store {self.shown_url!r} is not open")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.add_done_callback(log_unawaited_failure)
        self._queue.put_nowait((commands, future))
        self._last_write = future
        return future

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[Redis]:
        """The client, once every write queued so far is done; redis errors become StoreError."""
        if self._client is None:
            raise StoreError(f"store {self.shown_url!r} is not open")
        if self._last_write is not None:
            await asyncio.wait([self._last_write])  # done or failed: either way it is behind us
        try:
            yield self._client
        except RedisError as exc:
            raise self._error(exc) from exc

    def _error(self, exc: RedisError) -> StoreError:
        if isinstance(exc, ConnectionError | TimeoutError):
            return StoreError(f"redis store {self.shown_url!r} is unreachable")
        # A pipeline prefixes a queued command's error with the command, which may hold chat
        # text: keep only what the server said.
        said = str(exc).rpartition("caused error: ")[2].strip("(),'\"")
        return StoreError(f"redis store {self.shown_url!r} failed: {said.lower()}")

    # --- conversations ----------------------------------------------------------------------

    def save_conversations(self, convs: Sequence[Conversation]) -> Awaitable[None]:
        commands: list[Command] = []
        for conv in convs:
            key = _id(conv.shop, conv.conversation)
            is_open = conv.round_started_at is not None or conv.asked_at is not None
            commands.append(("HSET", CONVERSATIONS, key, _conversation_record(conv)))
            commands.append(("SADD" if is_open else "SREM", OPEN_CONVERSATIONS, key))
        return self._write(*commands)

    async def load_conversations(self, shop: str | None = None) -> list[Conversation]:
        async with self._reading() as redis:
            records = await _records(redis, CONVERSATIONS, await redis.smembers(OPEN_CONVERSATIONS))
        conversations = [Conversation(**orjson.loads(raw)) for raw in records]
        return [c for c in conversations if shop in (None, c.shop)]

    async def load_conversation(self, shop: str, conversation: str) -> Conversation | None:
        async with self._reading() as redis:
            raw = cast(bytes | None, await redis.hget(CONVERSATIONS, _id(shop, conversation)))
        return Conversation(**orjson.loads(raw)) if raw is not None else None

    # --- KPIs -------------------------------------------------------------------------------

    def save_kpis(self, kpis: Sequence[KpiDay]) -> Awaitable[None]:
        return self._write(
            *(("HSET", KPI + kpi.date, _id(kpi.shop, kpi.agent), orjson.dumps(kpi)) for kpi in kpis)
        )

    async def load_kpis(self, shop: str | None, date: str) -> list[KpiDay]:
        async with self._reading() as redis:
            records = await redis.hvals(KPI + date)
        days = [KpiDay(**orjson.loads(raw)) for raw in records]
        return sorted(
            (day for day in days if shop in (None, day.shop)), key=lambda d: (d.shop, d.agent)
        )

    # --- audit ------------------------------------------------------------------------------

    def add_audit(self, record: AuditRecord) -> Awaitable[None]:
        return self._write(
            ("EVAL", _ADD_AUDIT, 2, AUDIT_SEQ, AUDIT + record.shop, record.ts, orjson.dumps(record))
        )

    async def list_audit(self, shop: str, since: float, until: float) -> list[AuditRecord]:
        async with self._reading() as redis:
            members = cast(
                list[bytes], await redis.zrangebyscore(AUDIT + shop, since, f"({until!r}")
            )
        return [_audit(member.partition(b" ")[2]) for member in members]

    # --- usage ------------------------------------------------------------------------------

    def add_usage(self, shop: str, phrase: str) -> Awaitable[None]:
        return self._write(("HINCRBY", USAGE, _id(shop, phrase), 1))

    async def load_usage(self) -> dict[str, dict[str, int]]:
        async with self._reading() as redis:
            counts = cast(dict[bytes, bytes], await redis.hgetall(USAGE))
        usage: dict[str, dict[str, int]] = {}
        for key, count in counts.items():
            shop, phrase = orjson.loads(key)
            usage.setdefault(shop, {})[phrase] = int(count)
        return usage

    # --- penalties ---------------------------------------------------------------------------

    def save_ledger(self, items: Sequence[LedgerItem]) -> Awaitable[None]:
        return self._write(
            *(
                (
                    "HSET",
                    LEDGER + i.month,
                    _id(i.shop, i.agent, i.rule),
                    orjson.dumps((i.count, i.yuan, i.points)),
                )
                for i in items
            )
        )

    async def load_ledger(self, shop: str | None, month: str) -> list[LedgerItem]:
        async with self._reading() as redis:
            records = cast(dict[bytes, bytes], await redis.hgetall(LEDGER + month))
        items = []
        for field, raw in records.items():
            item_shop, agent, rule = orjson.loads(field)
            if shop in (None, item_shop):
                items.append(LedgerItem(item_shop, month, agent, rule, *orjson.loads(raw)))
        return sorted(items, key=lambda i: (i.shop, i.agent, i.rule))

    def save_deadlines(
        self, shop: str, opened: Sequence[Clock], closed: Sequence[tuple[str, str]]
    ) -> Awaitable[None]:
        commands: list[Command] = [("HDEL", DEADLINES, _id(shop, *gone)) for gone in closed]
        commands += [("HSET", DEADLINES, _id(shop, c.kind, c.key), orjson.dumps(c)) for c in opened]
        return self._write(*commands)

    async def load_deadlines(self, shop: str | None = None) -> list[tuple[str, Clock]]:
        async with self._reading() as redis:
            records = cast(dict[bytes, bytes], await redis.hgetall(DEADLINES))
        clocks = []
        for field, raw in records.items():
            clock_shop = orjson.loads(field)[0]
            if shop in (None, clock_shop):
                clocks.append((clock_shop, Clock(**orjson.loads(raw))))
        return clocks

    # --- orders and nudges ------------------------------------------------------------------

    def save_nudges(self, nudges: Sequence[Nudge], order: Order | None) -> Awaitable[None]:
        commands: list[Command] = []
        if order is not None:
            key = _id(order.shop, order.order)
            commands += [
                ("HSET", ORDERS, key, orjson.dumps(order)),
                ("ZADD", ORDERS_BY_CLOSE, order.closes_at, key),
            ]
        for nudge in nudges:
            key = _id(nudge.shop, nudge.id)
            fired = _id(nudge.order, nudge.id)
            commands += [
                ("HSET", NUDGES, key, orjson.dumps(replace(nudge, wake=None))),
                ("SREM" if nudge.state == NudgeState.DONE else "SADD", OPEN_NUDGES, key),
                ("ZREM", FIRED + nudge.shop, fired)
                if nudge.fired_at is None
                else ("ZADD", FIRED + nudge.shop, nudge.fired_at, fired),
            ]
        return self._write(*commands)

    def claim_delivery(self, nudge: Nudge) -> Awaitable[bool]:
        key = _id(nudge.shop, nudge.id)
        assert nudge.fired_at is not None, "a delivery has fired"
        written = self._write(
            (
                "EVAL", _CLAIM_DELIVERY, 3, NUDGES, OPEN_NUDGES, FIRED + nudge.shop,
                key, orjson.dumps(replace(nudge, wake=None)), repr(nudge.fired_at),
                _id(nudge.order, nudge.id), int(nudge.state == NudgeState.DONE),
            ),
        )  # fmt: skip
        return _first_is_one(written)

    async def load_orders(self, open_at: float, shop: str | None = None) -> list[Order]:
        async with self._reading() as redis:
            keys = cast(
                list[bytes], await redis.zrangebyscore(ORDERS_BY_CLOSE, f"({open_at!r}", "+inf")
            )
            records = await _records(redis, ORDERS, keys)
        orders = [_order(raw) for raw in records]
        return [o for o in orders if shop in (None, o.shop)]

    async def load_order(self, shop: str, order: str) -> Order | None:
        async with self._reading() as redis:
            records = await _records(redis, ORDERS, [_id(shop, order)])
        return _order(records[0]) if records else None

    async def load_open_nudges(self, shop: str | None = None) -> list[Nudge]:
        async with self._reading() as redis:
            records = await _records(redis, NUDGES, await redis.smembers(OPEN_NUDGES))
        nudges = [Nudge(**orjson.loads(raw)) for raw in records]
        return [n for n in nudges if shop in (None, n.shop)]

    async def load_nudge_history(
        self, shop: str, since: float
    ) -> tuple[list[Order], list[FiredNudge]]:
        async with self._reading() as redis:
            members = cast(
                list[tuple[bytes, float]],
                await redis.zrangebyscore(FIRED + shop, since, "+inf", withscores=True),
            )
            fired = [
                FiredNudge(shop, orjson.loads(member)[0], fired_at) for member, fired_at in members
            ]
            wanted = {_id(shop, order) for order in {f.order for f in fired}}
            records = await _records(redis, ORDERS, wanted)
        return [_order(raw) for raw in records], fired


def redact_url(url: str) -> str:
    """``url`` without its password, fit for messages and logs."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    netloc = f"{user}@{hostport}" if at and user else hostport
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "password"])
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")


# Write a nudge's delivery unless another process fired it first (fencing two owners of a shop
# for the moment a lease changes hands). KEYS: nudges, open nudges, fired-by-shop. ARGV: the
# nudge's field, its record, fired_at, its member in the fired set, 1 if it is done.
_CLAIM_DELIVERY = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
  local fired = cjson.decode(current)['fired_at']
  if fired ~= cjson.null and fired ~= tonumber(ARGV[3]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[5] == '1' then
  redis.call('SREM', KEYS[2], ARGV[1])
else
  redis.call('SADD', KEYS[2], ARGV[1])
end
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
return 1
"""


# What a conversation record holds: its fields, less the tracker's in-memory links.
_CONVERSATION_FIELDS = tuple(f.name for f in fields(Conversation) if f.init)


def _conversation_record(conv: Conversation) -> bytes:
    record = {name: getattr(conv, name) for name in _CONVERSATION_FIELDS}
    record["deadline"] = None  # the heap entry is memory's; a loaded clock schedules anew
    return orjson.dumps(record)


async def _first_is_one(written: Awaitable[list[Any]]) -> bool:
    return (await written)[0] == 1


def _id(*parts: str) -> bytes:
    return orjson.dumps(parts)


async def _records(redis: Redis, hash_key: str, fields: Iterable[bytes | str]) -> list[bytes]:
    """The values of ``fields`` in a hash, skipping absent ones (one round trip, none if empty)."""
    wanted = list(fields)
    if not wanted:
        return []
    values = cast(list[bytes | None], await redis.hmget(hash_key, wanted))
    return [raw for raw in values if raw is not None]


def _order(raw: bytes) -> Order:
    fields = orjson.loads(raw)
    fields["status"] = OrderStatus(fields["status"])
    return Order(**fields)


def _audit(raw: bytes) -> AuditRecord:
    fields = orjson.loads(raw)
    fields["rules"], fields["categories"] = tuple(fields["rules"]), tuple(fields["categories"])
    return AuditRecord(**fields)
