"""ShopBook: chat lines, orders and presence in, deadlines and fines out (fake times)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from server.core.deadlines import parse_deadlines
from server.core.penalties import DEFAULT_RULES, ShopBook

T0 = datetime(2026, 5, 6, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()  # 2026-05


def book() -> ShopBook:
    return ShopBook(DEFAULT_RULES, parse_deadlines(None), "Asia/Shanghai", idle_after_s=600)


def items(shop: ShopBook, agent: str = "alice") -> dict[str, tuple[int, int]]:
    rows = shop.ledger.report("2026-05")["agents"]
    row = next((r for r in rows if r["agent"] == agent), {"items": []})
    return {i["rule"]: (i["count"], i["yuan"]) for i in row["items"]}


def line(shop: ShopBook, text: str, ts: float, started: float | None = None, agent="alice"):
    shop.agent_line(
        "c1", agent, text, ts, platform="taobao", round_started_at=started, violations=()
    )


def test_an_order_confirmed_in_time_costs_nothing_and_a_late_one_ten_yuan():
    shop = book()
    shop.order_created("c1", "alice", T0)
    assert shop.next_wake() == T0 + 600
    line(shop, "亲，跟您核对一下收货地址：", T0 + 600)  # at the due time: met
    assert shop.advance(T0 + 3600) == ([], []) and items(shop) == {}

    shop.order_created("c1", "alice", T0 + 4000)
    line(shop, "好的亲", T0 + 4100)  # a reply, but not a confirmation
    missed, _ = shop.advance(T0 + 4601)
    assert [(o.clock.kind, o.at) for o in missed] == [("order_confirm", T0 + 4600)]
    assert items(shop) == {"order_confirm_missed": (1, 10)}


def test_a_refund_request_must_be_answered_within_30_minutes():
    shop = book()
    shop.buyer_line("c1", "alice", "我拍错了想退款", T0)
    shop.buyer_line("c1", "alice", "在吗", T0 + 60)  # not a second clock
    missed, _ = shop.advance(T0 + 1801)
    assert [o.at for o in missed] == [T0 + 1800]
    # Fined to the holder at the miss when the runtime says who that is.
    shop.buyer_line("c1", "alice", "不想买了", T0 + 2000)
    shop.advance(T0 + 4000, holder=lambda kind, key: "bob")
    assert items(shop) == {"refund_missed": (1, 30)}
    assert items(shop, "bob") == {"refund_missed": (1, 30)}


def test_please_wait_and_unshipped_are_clocks_without_default_fines():
    shop = book()
    line(shop, "好的，请您稍等", T0)
    shop.order_paid("o1", "alice", T0)
    missed, _ = shop.advance(T0 + 121)
    assert [o.clock.kind for o in missed] == ["wait_promise"]
    shop.order_shipped("o1", T0 + 47 * 3600)
    assert shop.advance(T0 + 49 * 3600) == ([], []) and items(shop) == {}
    shop.order_paid("o2", "alice", T0)
    missed, _ = shop.advance(T0 + 48 * 3600 + 1)
    assert [(o.clock.kind, o.clock.key) for o in missed] == [("unshipped", "o2")]
    assert items(shop) == {}


def test_waits_and_idle_spans_reach_the_ledger():
    shop = book()
    line(shop, "您好亲", T0 + 400, started=T0)
    shop.unanswered("alice", T0 + 1000, T0 + 1000 + 2000)
    assert items(shop) == {
        "reply_over_2min": (2, 0),
        "reply_over_30min": (1, 100),
        "answer_over_5min": (2, 40),
    }
    shop.idle.online("bob", T0)
    shop.idle.waiting("bob", 3, T0)
    _, alerts = shop.advance(T0 + 600)
    assert [(a.agent, a.at, a.waiting) for a in alerts] == [("bob", T0 + 600, 3)]
    shop.agent_active("bob", T0 + 7200)  # idle exactly 2 hours: fined (2小时以上包括2小时)
    assert items(shop, "bob") == {"idle": (1, 200)}
    shop.idle.waiting("bob", 1, T0 + 7200)
    shop.advance(T0 + 7800)
    shop.agent_offline("bob", T0 + 9000)  # 30 minutes: alerted, not fined
    assert items(shop, "bob") == {"idle": (1, 200)}


def test_only_a_lines_start_is_read_for_what_it_asks():
    shop = book()
    shop.buyer_line("c1", "alice", "在" * 500 + "我要退款", T0)  # past the first 500 characters
    shop.buyer_line("c2", "alice", "在" * 496 + "我要退款", T0)
    assert sorted(key for _, key in shop.clocks.open) == ["c2"]
