"""The Redis store beyond the contract: start-up safety, failures, durability, the key layout."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest

from server.core.deadlines import Clock
from server.core.kpi import KpiDay
from server.core.nudgebook import Nudge
from server.core.nudges import NudgePolicy, Order, OrderStatus
from server.core.tracker import Conversation
from server.errors import SettingsError, StoreError
from server.runtime.app import STORE
from server.settings import load_config
from server.storage import AuditRecord, LedgerItem, RedisStore, SQLiteStore, open_store
from server.storage.redis import redact_url
from tests.helpers import FakeClock, client, make_config, running_server
from tests.redis_server import free_port


def order(shop: str, number: str) -> Order:
    return Order(shop, number, "b1", "c1", OrderStatus.CREATED, "99.00", 10.0, 1000.0, 10.0)


def nudge(shop: str, number: str, **changes) -> Nudge:
    return Nudge(f"n-{number}-1", shop, number, 1, "reminder", 910.0, **changes)


def audit(shop: str, ts: float, text: str) -> AuditRecord:
    return AuditRecord(
        ts, shop, "alice", "c1", "check", ("ad_law.best",), ("ad_law",), "warn", text
    )


@pytest.fixture
async def store(redis_server):
    redis_server.command("FLUSHALL")
    store = RedisStore(redis_server.url)
    await store.open()
    yield store
    await store.close()


async def test_refuses_a_server_that_evicts_keys(make_redis):
    server = make_redis("--maxmemory-policy", "allkeys-lru")
    with pytest.raises(StoreError) as caught:
        await RedisStore(server.url).open()
    assert str(caught.value) == (
        f"redis store {server.url!r} may evict keys (maxmemory-policy 'allkeys-lru');"
        " set maxmemory-policy noeviction"
    )


async def test_warns_when_a_crash_could_lose_acknowledged_writes(redis_server, caplog):
    store = RedisStore(redis_server.url)
    with caplog.at_level(logging.WARNING, logger="kefu.store"):
        await store.open()
    await store.close()
    [record] = caplog.records
    assert record.getMessage() == (
        "redis may lose acknowledged writes on a crash: set appendonly yes and appendfsync always"
    )
    assert (record.store, record.appendonly, record.appendfsync) == (
        redis_server.url,
        "no",
        "everysec",
    )


async def test_refuses_a_newer_key_layout(redis_server):
    redis_server.command("FLUSHALL")
    redis_server.command("SET", "kefu:schema", "99")
    with pytest.raises(StoreError) as caught:
        await RedisStore(redis_server.url).open()
    assert str(caught.value) == (
        f"redis store {redis_server.url!r} has schema version 99, newer than this server's 1"
    )


async def test_an_unreachable_server_is_a_store_error_without_the_password():
    port = free_port()  # nothing listens there
    with pytest.raises(StoreError) as caught:
        await RedisStore(f"redis://:hunter2@127.0.0.1:{port}/0").open()
    assert str(caught.value) == f"redis store 'redis://127.0.0.1:{port}/0' is unreachable"


async def test_a_dead_server_fails_writes_and_reads_until_it_is_back(make_redis):
    server = make_redis()
    store = RedisStore(server.url)
    await store.open()
    server.kill()
    unreachable = f"redis store {server.url!r} is unreachable"
    with pytest.raises(StoreError) as caught:
        await store.save_nudges([nudge("s1", "o1")], order("s1", "o1"))
    assert str(caught.value) == unreachable
    with pytest.raises(StoreError) as caught:
        await store.load_open_nudges()
    assert str(caught.value) == unreachable
    server.start()
    await store.save_nudges([nudge("s1", "o2")], order("s1", "o2"))  # the pool reconnects
    assert await store.load_open_nudges() == [nudge("s1", "o2")]
    await store.close()


async def test_a_killed_server_loses_no_awaited_save_nudges(make_redis, caplog):
    server = make_redis("--appendonly", "yes", "--appendfsync", "always")
    store = RedisStore(server.url)
    with caplog.at_level(logging.WARNING, logger="kefu.store"):
        await store.open()
    assert caplog.records == []  # these settings are the durable ones: no warning
    await store.save_nudges([nudge("s1", "o0")], order("s1", "o0"))
    # Concurrent saves go out together in one transaction; each is acknowledged after it.
    await asyncio.gather(
        *(store.save_nudges([nudge("s1", f"o{i}")], order("s1", f"o{i}")) for i in range(1, 50))
    )
    server.restart()  # SIGKILL, then start again on the same data directory
    again = RedisStore(server.url)
    await again.open()
    loaded = sorted(await again.load_open_nudges(), key=lambda n: int(n.order[1:]))
    assert loaded == [nudge("s1", f"o{i}") for i in range(50)]
    assert len(await again.load_orders(500.0)) == 50
    await again.close()
    await store.close()


async def test_a_full_server_fails_the_write_and_the_store_recovers(store, redis_server):
    redis_server.command("CONFIG", "SET", "maxmemory", "1")
    try:
        with pytest.raises(StoreError) as caught:
            await store.save_nudges([nudge("s1", "o1")], order("s1", "o1"))
    finally:
        redis_server.command("CONFIG", "SET", "maxmemory", "0")
    assert str(caught.value) == (
        f"redis store {redis_server.url!r} failed:"
        " command not allowed when used memory > 'maxmemory'."
    )
    assert await store.load_open_nudges() == []  # nothing of the refused transaction applied
    await store.save_nudges([nudge("s1", "o2")], order("s1", "o2"))
    assert await store.load_open_nudges() == [nudge("s1", "o2")]


async def test_a_failing_write_does_not_fail_the_others_sent_with_it(store, redis_server):
    redis_server.command("SET", "kefu:usage", "not a hash")
    day = KpiDay("s1", "alice", "2026-11-20", rounds=1)
    # Queued in the same tick: one transaction.
    kpi, usage, record = (
        store.save_kpi(day),
        store.add_usage("s1", "p1"),
        store.add_audit(audit("s1", 5.0, "最好的")),
    )
    await kpi
    await record
    with pytest.raises(StoreError) as caught:
        await usage
    assert str(caught.value) == (
        f"redis store {redis_server.url!r} failed:"
        " wrongtype operation against a key holding the wrong kind of value"
    )
    assert await store.load_kpis("s1", "2026-11-20") == [day]
    assert await store.list_audit("s1", 0.0, 10.0) == [audit("s1", 5.0, "最好的")]


async def test_audit_records_of_one_instant_list_in_the_order_added(store):
    for text in ("第一", "最低价", "国家级"):
        await store.add_audit(audit("s1", 7.0, text))
    assert [r.text for r in await store.list_audit("s1", 7.0, 7.5)] == ["第一", "最低价", "国家级"]


async def test_key_layout_is_the_documented_one(store, redis_server):
    shop = "shop:a"  # a separator inside an id stays unambiguous
    fired = nudge(shop, "o1", state="delivered", agent="alice", delivered_at=920.0, fired_at=920.0)
    await store.save_nudges([fired], order(shop, "o1"))
    await store.save_kpi(KpiDay(shop, "alice", "2026-11-20"))
    await store.add_audit(audit(shop, 5.0, "第一"))
    await store.add_usage(shop, "p1")
    await store.save_conversation(Conversation(shop, "c1", "b1", "jd", "alice", 100.0))
    await store.save_ledger([LedgerItem(shop, "2026-11", "alice", "terse", 1, 10, 0)])
    await store.save_deadlines(shop, [Clock("refund", "c1", "alice", 100.0, 1900.0)], [])
    keys = sorted(key.decode() for key in redis_server.command("KEYS", "*"))
    assert keys == [
        "kefu:audit:shop:a",
        "kefu:audit_seq",
        "kefu:conversations",
        "kefu:conversations:open",
        "kefu:deadlines",
        "kefu:fired:shop:a",
        "kefu:kpi:2026-11-20",
        "kefu:ledger:2026-11",
        "kefu:nudges",
        "kefu:nudges:open",
        "kefu:orders",
        "kefu:orders:closes_at",
        "kefu:schema",
        "kefu:usage",
    ]
    assert redis_server.command("HKEYS", "kefu:usage") == [b'["shop:a","p1"]']
    assert redis_server.command("HGETALL", "kefu:ledger:2026-11") == {
        b'["shop:a","alice","terse"]': b"[1,10,0]"
    }
    assert redis_server.command("HKEYS", "kefu:deadlines") == [b'["shop:a","refund","c1"]']
    assert redis_server.command("ZRANGE", "kefu:fired:shop:a", 0, -1, "WITHSCORES") == [
        [b'["o1","n-o1-1"]', 920.0]
    ]


def test_open_store_picks_redis_when_a_url_is_set(tmp_path):
    config = load_config({"KEFU_REDIS_URL": "redis://127.0.0.1:6379/2"})
    store = open_store(config.db, config.redis_url)
    assert isinstance(store, RedisStore) and store.url == "redis://127.0.0.1:6379/2"
    assert isinstance(open_store(str(tmp_path / "kefu.db"), ""), SQLiteStore)


def test_a_redis_url_of_another_scheme_is_refused_without_showing_it():
    with pytest.raises(SettingsError) as caught:
        load_config({"KEFU_REDIS_URL": "http://user:pw@host/"})
    assert str(caught.value) == "invalid value for KEFU_REDIS_URL: <hidden>"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://user:pw@cache:6379/1", "redis://user@cache:6379/1"),
        (
            "rediss://:pw@[::1]:6380/0?ssl_cert_reqs=none",
            "rediss://[::1]:6380/0?ssl_cert_reqs=none",
        ),
        ("unix:///run/redis.sock?db=2&password=pw", "unix:///run/redis.sock?db=2"),
        ("redis://cache", "redis://cache"),
    ],
)
def test_urls_are_shown_without_the_password(url, shown):
    assert redact_url(url) == shown


async def test_the_server_keeps_an_acknowledged_order_in_redis_across_a_restart(redis_server):
    redis_server.command("FLUSHALL")
    clock = FakeClock(datetime(2026, 11, 16, 4, 0, tzinfo=UTC).timestamp())  # noon in Shanghai
    nudges = NudgePolicy(delays_s=(900,), final_before_close_s=0, close_after_s=259200)
    config = make_config(redis_url=redis_server.url, nudges=nudges)
    created = {"type": "order", "id": "o1", "order": "3012345678", "buyer": "tom",
               "status": "created"}  # fmt: skip
    async with running_server(config, clock) as server:
        assert isinstance(server.app[STORE], RedisStore)
        async with client(server.ws_url) as alice:
            assert (await alice.request(created))["type"] == "ack"
    async with running_server(config, clock) as server:  # a new process on the same Redis
        clock.jump(900)
        server.service.scheduler.poke()
        async with client(server.ws_url) as alice:
            assert (await alice.recv_type("nudge"))["nudge"] == "n-3012345678-1"
