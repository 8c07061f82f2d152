"""The shop's ledger on the live server: the same lines as `kefu qa` give the same fines, process
deadlines are pushed and fined, the month survives a restart, /api/penalties answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import orjson

from server.core.deadlines import Clock
from server.core.penalties import DEFAULT_RULES, ShopBook
from server.core.penalties.desk import previous_month
from server.qa.lines import read_jsonl, zone
from server.runtime.penaltysaves import PenaltySaves
from server.settings import Token
from server.storage import LedgerItem
from tests.helpers import (
    Client,
    FakeClock,
    RunningServer,
    assert_error,
    client,
    make_config,
    running_server,
)
from tests.qa.test_qa_penalties import APRIL_BOB, EXPORT, MARCH_ALICE, kefu_qa

ROOT = Path(__file__).parents[2]
TOKENS = (
    Token("tok-alice", "alice", "shop-a"),
    Token("tok-bob", "bob", "shop-a"),
    Token("tok-lead", "lead", "shop-a", supervisor=True),
)
LEAD = {"Authorization": "Bearer tok-lead"}


@asynccontextmanager
async def two_agents(clock: FakeClock) -> AsyncIterator[tuple[RunningServer, Client, Client]]:
    """A live server on ``clock`` with alice and bob of shop-a connected from Tmall consoles."""
    async with (
        running_server(make_config(tokens=TOKENS), clock) as server,
        client(server.ws_url, "tok-alice", "tmall") as alice,
        client(server.ws_url, "tok-bob", "tmall") as bob,
    ):
        yield server, alice, bob


async def api(server, path: str, headers: dict[str, str] = LEAD) -> tuple[int, dict]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{server.http_url}{path}", headers=headers) as response,
    ):
        return response.status, await response.json()


async def at(server, clock: FakeClock, ts: float, *clients) -> None:
    """Move the injected clock to ``ts`` and let every wake-up due by then fire: the scheduler
    is re-armed for now, and a ping round trip on each connection comes back after it ran."""
    clock.now = ts
    server.service.scheduler.poke()
    for c in clients:
        await c.request({"type": "ping", "id": "p"})


async def test_the_live_ledger_equals_kefu_qa_for_the_same_lines():
    qa = kefu_qa(EXPORT, "--platform", "tmall", "--json")
    assert qa.returncode == 0, qa.stderr
    expected = orjson.loads(qa.stdout)["penalties"]
    lines = list(read_jsonl(ROOT / EXPORT, zone("Asia/Shanghai")))
    clock = FakeClock(lines[0].ts - 60)
    async with two_agents(clock) as (server, alice, bob):
        agents = {"alice": alice, "bob": bob}
        for n, line in enumerate(lines):
            await at(server, clock, line.ts, alice, bob)
            frame = {
                "type": "message",
                "id": f"m{n}",
                "conversation": line.conversation,
                "buyer": line.buyer or line.conversation,
                "from": line.sender,
                "text": line.text,
                "ts": line.ts,
            }
            assert (await agents[line.agent].request(frame))["type"] in ("ack", "suggestions")
        # kefu qa counts c5's round, open at the export's end, as waited until then; live it is
        # counted when it is abandoned (KEFU_ROUND_EXPIRE_S): both waits are over 2 hours.
        c5 = next(line.ts for line in lines if line.conversation == "c5")
        await at(server, clock, c5 + server.service.config.round_expire_s + 1, alice, bob)
        for month in expected:
            status, body = await api(server, f"/api/penalties?month={month['month']}")
            assert (status, body) == (200, month)
    assert (expected[0]["agents"], expected[1]["agents"][1]) == ([MARCH_ALICE], APRIL_BOB)


async def test_an_agent_reads_only_its_own_row_and_a_bad_month_is_a_typed_error():
    clock = FakeClock()
    async with running_server(make_config(tokens=TOKENS), clock) as server:
        month = server.service.floor.desk.month_of(clock.now)
        status, body = await api(server, "/api/penalties", {"Authorization": "Bearer tok-bob"})
        assert status == 200
        assert body["month"] == month and body["agents"] == []
        status, body = await api(
            server, "/api/penalties?agent=alice", {"Authorization": "Bearer tok-bob"}
        )
        assert status == 403
        assert_error(
            body, "forbidden", "only a supervisor may read another agent's penalties: 'alice'"
        )
        for bad in ("2026-13", "2026-4", "april"):
            status, body = await api(server, f"/api/penalties?month={bad}")
            assert status == 400
            assert_error(body, "bad_value", f"query 'month' must be YYYY-MM, got '{bad}'")


T0 = 1_775_000_000.0  # 2026-04-01 07:33:20 in Shanghai


def without_seq(frame: dict) -> dict:
    return {k: v for k, v in frame.items() if k != "seq"}


async def test_a_deadline_is_pushed_and_a_missed_one_fined_to_whoever_holds_the_conversation():
    clock = FakeClock(T0)
    async with two_agents(clock) as (server, alice, bob):
        line = {"type": "message", "conversation": "c1", "buyer": "tom", "from": "buyer"}
        await alice.request({**line, "id": "m1", "text": "我拍错了，想退款"})
        opened = without_seq(await alice.recv_type("deadline"))
        assert opened == {
            "type": "deadline", "kind": "refund", "key": "c1", "state": "open",
            "started_at": T0, "due_at": T0 + 1800, "at": T0, "yuan": 30,
            "text": "30 分钟内处理退款或售后",
        }  # fmt: skip
        await at(server, clock, T0 + 60, alice, bob)
        await bob.request({**line, "id": "m2", "text": "人呢"})  # bob's console has it now
        await at(server, clock, T0 + 1800, alice, bob)  # due at 1800 s: not missed yet
        await at(server, clock, T0 + 1801, alice, bob)
        missed = without_seq(await bob.recv_type("deadline"))
        assert (missed["state"], missed["at"]) == ("missed", T0 + 1800)
        frame = without_seq(await bob.recv_type("penalties"))
        assert frame == {
            "type": "penalties", "month": "2026-04", "agent": "bob", "yuan": 30, "points": 0,
            "items": [{"rule": "refund_missed", "count": 1, "yuan": 30, "points": 0}],
            "next": {"rule": "reply_over_2min", "remaining": 4, "yuan": 50, "over_s": 120},
            "text": "本月已罚 ¥30；再有 4 次超过 2 分钟将罚 ¥50",
        }  # fmt: skip
        _, report = await api(server, "/api/penalties?month=2026-04")
        assert [(row["agent"], row["yuan"]) for row in report["agents"]] == [("bob", 30)]


async def test_an_order_is_confirmed_in_time_and_the_met_deadline_is_pushed():
    clock = FakeClock(T0)
    async with (
        running_server(make_config(tokens=TOKENS), clock) as server,
        client(server.ws_url, "tok-alice", "tmall") as alice,
    ):
        line = {"type": "message", "conversation": "c2", "buyer": "amy", "from": "buyer"}
        await alice.request({**line, "id": "m1", "text": "拍好了"})
        order = {"type": "order", "order": "o1", "buyer": "amy", "conversation": "c2"}
        await alice.request({**order, "id": "o1", "status": "created", "ts": T0})
        assert (await alice.recv_type("deadline"))["kind"] == "order_confirm"
        await at(server, clock, T0 + 600, alice)  # exactly on time is in time
        reply = {**line, "id": "m2", "from": "agent", "text": "亲，跟您核对一下订单地址哦"}
        await alice.request(reply)
        met = without_seq(await alice.recv_type("deadline"))
        assert (met["kind"], met["state"], met["at"]) == ("order_confirm", "met", T0 + 600)


async def test_an_overridden_warning_counts_and_a_fixed_draft_does_not():
    clock = FakeClock(T0)
    async with (
        running_server(make_config(tokens=TOKENS), clock) as server,
        client(server.ws_url, "tok-alice", "tmall") as alice,
    ):
        for n, (conversation, sent) in enumerate([("c1", "嗯"), ("c2", "好的亲，马上为您处理")]):
            line = {"type": "message", "conversation": conversation, "buyer": "tom"}
            await alice.request({**line, "id": f"b{n}", "from": "buyer", "text": "在吗"})
            check = {"type": "check", "id": f"k{n}", "conversation": conversation, "final": True}
            result = await alice.request({**check, "text": "嗯"})
            assert [v["category"] for v in result["violations"]] == ["terse"]
            await alice.request({**line, "id": f"a{n}", "from": "agent", "text": sent})
        _, report = await api(server, "/api/penalties?month=2026-04")
        (row,) = report["agents"]
        assert row["items"] == [{"rule": "terse", "count": 1, "yuan": 10, "points": 0}]
        kinds = [record.kind for record in server.service.store.audit]
        assert kinds == ["check", "override", "check"]  # the second draft was fixed


async def test_the_month_and_open_deadlines_survive_a_restart(tmp_path):
    clock = FakeClock(T0)
    config = make_config(tokens=TOKENS, db=str(tmp_path / "kefu.db"))
    line = {"type": "message", "buyer": "tom"}
    async with running_server(config, clock) as server, client(server.ws_url, "tok-alice") as c:
        await c.request({**line, "id": "m1", "conversation": "c1", "from": "buyer", "text": "在吗"})
        await c.request({**line, "id": "m2", "conversation": "c1", "from": "agent", "text": "嗯"})
        await c.request(
            {**line, "id": "m3", "conversation": "c2", "from": "buyer", "text": "我要退货"}
        )
    clock.jump(100)
    async with running_server(config, clock) as server, client(server.ws_url, "tok-alice") as c:
        assert c.state["penalties"]["text"] == "本月已罚 ¥10；再有 4 次超过 2 分钟将罚 ¥50"
        assert [(d["kind"], d["key"], d["due_at"]) for d in c.state["deadlines"]] == [
            ("refund", "c2", T0 + 1800)
        ]
        await at(server, clock, T0 + 1801, c)  # the refund clock of c2 ran on through the restart
        assert (await c.recv_type("deadline"))["state"] == "missed"
        _, report = await api(server, "/api/penalties?month=2026-04")
        (row,) = report["agents"]
        assert [(i["rule"], i["count"], i["yuan"]) for i in row["items"]] == [
            ("refund_missed", 1, 30),
            ("terse", 1, 10),
        ]


async def test_suggestions_say_the_shops_own_facts():
    facts = {"default": {"ship_within": "48小时"}, "shop-a": {"cutoff": "下午5点"}}
    async with (
        running_server(make_config(tokens=TOKENS, shop_facts=facts)) as server,
        client(server.ws_url, "tok-alice") as alice,
    ):
        line = {"type": "message", "conversation": "c1", "buyer": "tom", "from": "buyer"}
        answer = await alice.request({**line, "id": "m1", "text": "什么时候发货"})
        texts = {item["phrase"]: item["text"] for item in answer["items"]}
        assert texts["logistics.ship_time"] == (
            "亲，现货商品付款后48小时内为您发出，当天下午5点前付款的一般当天就能发，"
            "发出后会同步快递单号给您。"
        )


async def test_a_conversation_taken_over_brings_the_handover_note():
    clock = FakeClock(T0)
    async with two_agents(clock) as (server, alice, bob):
        line = {"type": "message", "conversation": "c1", "buyer": "小鹿", "from": "buyer"}
        await alice.request({**line, "id": "m1", "text": "我拍错了，想退款"})
        order = {"type": "order", "order": "o1", "buyer": "小鹿", "conversation": "c1"}
        await alice.request({**order, "id": "o1", "status": "paid", "ts": T0})
        await at(server, clock, T0 + 300, alice, bob)
        await bob.request({**line, "id": "m2", "text": "人呢？"})  # bob's console takes it
        note = without_seq(await bob.recv_type("handover"))
    assert note == {
        "type": "handover", "conversation": "c1", "buyer": "小鹿", "from": "alice",
        "text": "小鹿买家，天猫买家，因为「人呢？」，订单 o1（已付款未发货），"
                "请同事回复买家（已等待 5 分钟），处理退款或售后（还剩 25 分钟），"
                "跟进发货（还剩 47 小时），谢谢。",
        "pending": ["回复买家（已等待 5 分钟）", "处理退款或售后（还剩 25 分钟）",
                    "跟进发货（还剩 47 小时）"],
    }  # fmt: skip


async def test_any_keyboard_work_ends_an_idle_span_and_two_hours_of_it_are_fined():
    clock = FakeClock(T0)
    async with two_agents(clock) as (server, alice, bob):
        line = {"type": "message", "conversation": "c1", "buyer": "tom", "from": "buyer"}
        await alice.request({**line, "id": "m1", "text": "在吗"})
        await at(server, clock, T0 + 599, alice, bob)
        assert server.service.view.idle_alerts("shop-a") == []
        await at(server, clock, T0 + 7200, alice, bob)  # alerted at 600 s, idle for 2 hours
        assert server.service.view.idle_alerts("shop-a") == [
            {"agent": "alice", "since": T0, "at": T0 + 600, "waiting": 1}
        ]
        await alice.request({"type": "focus", "id": "f1", "conversation": "c1"})
        assert server.service.view.idle_alerts("shop-a") == []
        frame = await alice.recv_type("penalties")
    assert frame["items"] == [{"rule": "idle", "count": 1, "yuan": 200, "points": 0}]


class WrittenDown:
    """The two writes PenaltySaves makes, recorded instead of queued."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, object]] = []

    def save_ledger(self, items: list[LedgerItem]) -> None:
        self.writes.append(("ledger", items))

    def save_deadlines(self, shop: str, opened: list[Clock], closed: list[tuple[str, str]]) -> None:
        self.writes.append(("deadlines", (shop, opened, closed)))


def test_the_store_gets_what_changed_once_and_nothing_when_nothing_did():
    book = ShopBook(DEFAULT_RULES, {}, "Asia/Shanghai", 600.0)
    book.ledger.restore("2026-11", "alice", "idle", 1, 50, 0)
    book.ledger.restore("2026-11", "bob", "idle", 2, 100, 0)
    still_open = Clock("refund", "c1", "alice", 100.0, 400.0)
    book.clocks.restore(still_open)
    store = WrittenDown()
    saves = PenaltySaves(store, {"s1": book})  # type: ignore[arg-type]
    saves.mark("s1", set(), set())
    saves.flush()
    assert store.writes == []
    saves.mark("s1", {("2026-11", "alice", "idle")}, {("refund", "c1"), ("order_confirm", "c2")})
    saves.flush()
    saves.flush()
    assert store.writes == [
        ("ledger", [LedgerItem("s1", "2026-11", "alice", "idle", 1, 50, 0)]),
        ("deadlines", ("s1", [still_open], [("order_confirm", "c2")])),
    ]


def test_the_month_before_january_is_last_december():
    assert [previous_month(m) for m in ("2026-01", "2026-03", "2026-12")] == [
        "2025-12", "2026-02", "2026-11",
    ]  # fmt: skip
