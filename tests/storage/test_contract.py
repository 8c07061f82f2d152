"""One contract, every backend: what is written can be read back, exactly, after a reopen."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from server.core.deadlines import Clock
from server.core.kpi import KpiDay
from server.core.nudgebook import Nudge
from server.core.nudges import FiredNudge, Order, OrderStatus
from server.core.tracker import Conversation
from server.errors import StoreError
from server.storage import (
    AuditRecord,
    LedgerItem,
    MemoryStore,
    RedisStore,
    SQLiteStore,
    Store,
)


@pytest.fixture(params=["memory", "sqlite", "redis"])
def make_store(request, tmp_path: Path) -> Callable[[], Store]:
    """A factory: calling it twice gives the same data (a reopen), as each backend allows."""
    memory = MemoryStore()
    if request.param == "memory":
        return lambda: memory
    if request.param == "redis":
        server = request.getfixturevalue("redis_server")
        server.command("FLUSHALL")
        return lambda: RedisStore(server.url)
    return lambda: SQLiteStore(str(tmp_path / "kefu.db"))


@pytest.fixture
async def store(make_store) -> AsyncIterator[Store]:
    store = make_store()
    await store.open()
    yield store
    await store.close()


async def reopen(store: Store, make_store: Callable[[], Store]) -> Store:
    await store.close()
    again = make_store()
    await again.open()
    return again


async def test_conversations_round_trip_and_only_open_ones_load(store, make_store):
    waiting = Conversation("s1", "c1", "b1", "jd", "alice", 100.5, 2, True, False, None)
    asked = Conversation("s1", "c2", "b2", "taobao", "amy", None, 0, False, False, 300.0)
    idle = Conversation("s2", "c3", "b3", "pdd", "bob")
    for conv in (waiting, asked, idle):
        await store.save_conversation(conv)
    waiting.stage = 3  # saved records are copies: later changes are not written
    store = await reopen(store, make_store)
    loaded = sorted(await store.load_conversations(), key=lambda c: c.conversation)
    waiting.stage = 2
    assert loaded == [waiting, asked]
    await store.close()


async def test_many_conversations_and_days_are_one_write_each(store, make_store):
    # The write-behind flushes everything changed since the last flush in one call per table.
    convs = [Conversation("s1", f"c{n}", f"b{n}", "jd", "alice", 10.0 + n) for n in range(3)]
    days = [KpiDay("s1", agent, "2026-11-20", rounds=n) for n, agent in enumerate("ab")]
    await store.save_conversations(convs)
    await store.save_kpis(days)
    convs[0].stage = 3  # copied at call time
    store = await reopen(store, make_store)
    convs[0].stage = 0
    loaded = sorted(await store.load_conversations("s1"), key=lambda c: c.conversation)
    assert loaded == convs
    assert await store.load_kpis("s1", "2026-11-20") == days
    assert await store.load_conversation("s1", "c2") == convs[2]
    await store.close()


async def test_kpi_upsert_and_load_by_shop_and_date(store, make_store):
    day = KpiDay("s1", "alice", "2026-11-20", rounds=3, answered=2, decided=2, within_target=1)
    await store.save_kpi(day)
    day.rounds = 4
    await store.save_kpi(day)
    await store.save_kpi(KpiDay("s2", "bob", "2026-11-20", rounds=1))
    await store.save_kpi(KpiDay("s1", "alice", "2026-11-21", rounds=9))
    store = await reopen(store, make_store)
    assert await store.load_kpis("s1", "2026-11-20") == [day]
    assert [k.shop for k in await store.load_kpis(None, "2026-11-20")] == ["s1", "s2"]
    await store.close()


async def test_writes_apply_in_call_order_and_reads_see_them_unawaited(store):
    day = KpiDay("s1", "alice", "2026-11-20", rounds=1)
    first = store.save_kpi(day)
    day.rounds = 2  # the first write copied the record when it was called
    second = store.save_kpi(day)
    day.rounds = 3
    assert await store.load_kpis("s1", "2026-11-20") == [
        KpiDay("s1", "alice", "2026-11-20", rounds=2)
    ]
    await first
    await second


async def test_audit_range_is_half_open_and_per_shop(store):
    def record(ts: float, shop: str = "s1") -> AuditRecord:
        return AuditRecord(ts, shop, "alice", "c1", "check", ("offsite.wechat",), ("offsite",),
                           "block", "加我[已隐藏]")  # fmt: skip

    for ts in (10.0, 20.0, 30.0):
        await store.add_audit(record(ts))
    await store.add_audit(record(15.0, "s2"))
    assert [r.ts for r in await store.list_audit("s1", 10.0, 30.0)] == [10.0, 20.0]
    assert await store.list_audit("s1", 20.0, 21.0) == [record(20.0)]


async def test_usage_counts_add_up(store, make_store):
    for phrase in ("p1", "p1", "p2"):
        await store.add_usage("s1", phrase)
    await store.add_usage("s2", "p1")
    store = await reopen(store, make_store)
    assert await store.load_usage() == {"s1": {"p1": 2, "p2": 1}, "s2": {"p1": 1}}
    await store.close()


async def test_sqlite_refuses_a_newer_schema(tmp_path):
    import sqlite3

    path = str(tmp_path / "future.db")
    sqlite3.connect(path).execute("PRAGMA user_version = 99").connection.close()
    with pytest.raises(StoreError) as caught:
        await SQLiteStore(path).open()
    assert str(caught.value) == (
        f"database {path!r} has schema version 99, newer than this server's 3"
    )


async def test_sqlite_looks_a_conversation_up_before_and_after_its_save_commits(tmp_path):
    # A lookup queued behind a save reads what was saved, not the record changed since.
    store = SQLiteStore(str(tmp_path / "kefu.db"))
    await store.open()
    conv = Conversation("s1", "c1", "b1", "jd", "alice", 100.5, 2, True, False, None)
    saving = store.save_conversation(conv)
    conv.stage = 3  # changed after the save: not what was saved
    assert await store.load_conversation("s1", "c1") == Conversation(
        "s1", "c1", "b1", "jd", "alice", 100.5, 2, True, False, None
    )
    await saving
    assert (await store.load_conversation("s1", "c1")).stage == 2
    assert await store.load_conversation("s1", "nope") is None
    await store.close()
    with pytest.raises(StoreError) as caught:
        await store.load_conversation("s1", "c1")
    assert str(caught.value) == f"store {str(tmp_path / 'kefu.db')!r} is not open"


async def test_sqlite_unwritable_path_is_a_store_error(tmp_path):
    path = str(tmp_path / "missing-dir" / "kefu.db")
    with pytest.raises(StoreError) as caught:
        await SQLiteStore(path).open()
    assert str(caught.value) == (
        f"sqlite store {path!r}: directory {str(tmp_path / 'missing-dir')!r} does not exist"
    )


def order(
    number: str, status: OrderStatus = OrderStatus.CREATED, closes_at: float = 1000.0
) -> Order:
    return Order("s1", number, "b1", "c1", status, "99.00", 10.0, closes_at, 10.0,
                 None if status is OrderStatus.CREATED else 50.0)  # fmt: skip


async def test_orders_and_nudges_commit_together_and_reload(store, make_store):
    pending = Nudge("n-o1-1", "s1", "o1", 1, "reminder", 910.0)
    delivered = Nudge("n-o1-2", "s1", "o1", 2, "follow_up", 920.0, "delivered", "alice", 925.0,
                      925.0)  # fmt: skip
    done = Nudge("n-o2-1", "s1", "o2", 1, "reminder", 930.0, "done", "amy", 931.0, 931.0,
                 "sent", 940.0)  # fmt: skip
    await store.save_nudges([pending, delivered], order("o1"))
    await store.save_nudges([done], order("o2", OrderStatus.PAID))
    await store.save_nudges([], order("o3", closes_at=100.0))
    store = await reopen(store, make_store)
    assert sorted(o.order for o in await store.load_orders(500.0)) == ["o1", "o2"]
    assert await store.load_order("s1", "o3") == order("o3", closes_at=100.0)  # closed: kept
    assert await store.load_order("s1", "o4") is None
    assert sorted(await store.load_open_nudges(), key=lambda n: n.id) == [pending, delivered]
    orders, fired = await store.load_nudge_history("s1", 926.0)
    assert ([o.order for o in orders], fired) == (["o2"], [FiredNudge("s1", "o2", 931.0)])
    await store.close()


async def test_one_conversation_or_order_loads_whatever_its_state(store, make_store):
    """What left memory comes back as stored (issue 14): closed ones too, absent ones as None."""
    idle = Conversation("s1", "c3", "b3", "pdd", "bob", None, 0, False, False, None)
    await store.save_conversation(idle)
    await store.save_nudges([], order("o2", OrderStatus.PAID))
    await store.save_nudges([], order("o3", closes_at=100.0))
    store = await reopen(store, make_store)
    assert await store.load_conversation("s1", "c3") == idle
    assert await store.load_conversation("s2", "c3") is None
    assert await store.load_order("s1", "o2") == order("o2", OrderStatus.PAID)
    assert await store.load_order("s1", "o3") == order("o3", closes_at=100.0)
    assert await store.load_order("s1", "o9") is None
    await store.close()


async def test_loads_can_be_limited_to_one_shop(store):
    mine = Conversation("s1", "c1", "b1", "jd", "alice", 100.0)
    theirs = Conversation("s2", "c1", "b1", "jd", "bob", 100.0)
    await store.save_conversation(mine)
    await store.save_conversation(theirs)
    other = Order("s2", "o9", "b9", "c9", OrderStatus.CREATED, None, 10.0, 1000.0, 10.0)
    await store.save_nudges([Nudge("n-o1-1", "s1", "o1", 1, "reminder", 910.0)], order("o1"))
    await store.save_nudges([Nudge("n-o9-1", "s2", "o9", 1, "reminder", 910.0)], other)
    assert [c.shop for c in await store.load_conversations("s1")] == ["s1"]
    assert [o.order for o in await store.load_orders(500.0, "s2")] == ["o9"]
    assert [n.id for n in await store.load_open_nudges("s1")] == ["n-o1-1"]
    assert len(await store.load_conversations()) == 2


async def test_a_delivery_is_claimed_by_one_firing_only(store, make_store):
    pending = Nudge("n-o1-1", "s1", "o1", 1, "reminder", 910.0)
    await store.save_nudges([pending], order("o1"))
    first = Nudge("n-o1-1", "s1", "o1", 1, "reminder", 910.0, "delivered", "alice", 920.5, 920.5)
    assert await store.claim_delivery(first) is True
    moved = Nudge("n-o1-1", "s1", "o1", 1, "reminder", 910.0, "delivered", "amy", 990.0, 920.5)
    assert await store.claim_delivery(moved) is True  # the same firing, reassigned
    other = Nudge("n-o1-1", "s1", "o1", 1, "reminder", 910.0, "delivered", "bob", 921.0, 921.0)
    assert await store.claim_delivery(other) is False  # a second owner firing it again
    store = await reopen(store, make_store)
    assert await store.load_open_nudges() == [moved]
    await store.close()


async def test_ledger_items_upsert_and_load_by_shop_and_month(store, make_store):
    late = LedgerItem("s1", "2026-04", "bob", "reply_over_2min", 3, 0, 0)
    await store.save_ledger(
        [
            late,
            LedgerItem("s1", "2026-04", "alice", "terse", 1, 10, 0),
            LedgerItem("s1", "2026-05", "alice", "terse", 2, 20, 0),
            LedgerItem("s2", "2026-04", "bob", "privacy", 1, 0, 6),
        ]
    )
    await store.save_ledger([LedgerItem("s1", "2026-04", "bob", "reply_over_2min", 4, 50, 0)])
    store = await reopen(store, make_store)
    assert await store.load_ledger("s1", "2026-04") == [
        LedgerItem("s1", "2026-04", "alice", "terse", 1, 10, 0),
        LedgerItem("s1", "2026-04", "bob", "reply_over_2min", 4, 50, 0),
    ]
    assert await store.load_ledger("s2", "2026-04") == [
        LedgerItem("s2", "2026-04", "bob", "privacy", 1, 0, 6)
    ]
    assert await store.load_ledger("s1", "2026-03") == []
    assert [(i.shop, i.agent) for i in await store.load_ledger(None, "2026-04")] == [
        ("s1", "alice"),
        ("s1", "bob"),
        ("s2", "bob"),
    ]
    await store.close()


async def test_open_deadlines_are_upserted_deleted_and_reload_per_shop(store, make_store):
    refund = Clock("refund", "c1", "alice", 100.0, 1900.0)
    order = Clock("order_confirm", "c2", "amy", 200.0, 800.0)
    other = Clock("refund", "c1", "bob", 300.0, 2100.0)  # same kind and key, another shop
    await store.save_deadlines("s1", [refund, order], [])
    await store.save_deadlines("s2", [other], [])
    await store.save_deadlines("s1", [], [("order_confirm", "c2"), ("refund", "gone")])
    store = await reopen(store, make_store)
    assert await store.load_deadlines("s1") == [("s1", refund)]
    assert sorted(await store.load_deadlines(), key=lambda pair: pair[0]) == [
        ("s1", refund),
        ("s2", other),
    ]
    await store.close()
