"""The supervisors' dashboard: the live feed, the audit export, and the page in a real browser."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server import protocol
from server.core.nudges import Order, OrderStatus
from server.core.tracker import TimerChanged, TimerLevel
from server.runtime.dashorders import ShownOrders
from server.settings import load_config
from server.storage import AuditRecord
from tests.browser import BROWSER_ARGS, CHROMIUM
from tests.helpers import FakeClock, RunningServer, assert_error, client, running_server

# 2026-11-18 19:06:40 in Asia/Shanghai, the default shop timezone.
NOW = 1_795_000_000.0
BUYER_LINE = {"type": "message", "conversation": "c1", "buyer": "tom", "from": "buyer"}
AGENT_LINE = {**BUYER_LINE, "from": "agent"}


@pytest.fixture
async def clocked() -> AsyncIterator[tuple[RunningServer, FakeClock]]:
    clock = FakeClock(NOW)
    async with running_server(clock=clock) as server:
        yield server, clock


class Feed:
    """The dashboard's websocket as a test reads it: frames in order, never waiting forever."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def recv(self, wait_s: float = 5.0) -> dict[str, Any]:
        return await asyncio.wait_for(self.ws.receive_json(), wait_s)

    async def events(self, count: int) -> list[dict[str, Any]]:
        """The next ``count`` frames, leaving out presence (polled, so it may come in between)."""
        frames: list[dict[str, Any]] = []
        while len(frames) < count:
            frame = await self.recv()
            if frame["type"] != "agents":
                frames.append(frame)
        return frames

    async def recv_type(self, kind: str) -> dict[str, Any]:
        while True:
            frame = await self.recv()
            if frame["type"] == kind:
                return frame


@asynccontextmanager
async def live(server: RunningServer, token: str = "tok-sup") -> AsyncIterator[Feed]:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{server.http_url}/dashboard/live?token={token}") as ws,
    ):
        yield Feed(ws)


async def get(url: str, token: str | None = None) -> tuple[int, Any, aiohttp.ClientResponse]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as resp:
        body = await resp.json() if resp.content_type == "application/json" else await resp.text()
        return resp.status, body, resp


# --- the live feed ---------------------------------------------------------------------------


async def test_feed_starts_with_a_snapshot_of_the_shop(clocked):
    server, clock = clocked
    async with client(server.ws_url, "tok-a1") as agent:
        await agent.request({**BUYER_LINE, "id": "m1", "text": "在吗"})
        clock.jump(12)
        async with live(server) as feed:
            snapshot = await feed.recv()
    assert snapshot["type"] == "snapshot"
    assert snapshot["labels"]["categories"]["offsite"] == "站外引流"
    assert snapshot["labels"]["rules"]["reply_over_30min"] == "超过 30 分钟回复"
    del snapshot["labels"]
    assert snapshot == {
        "type": "snapshot",
        "shop": "shop-a",
        "date": "2026-11-18",
        "server_time": NOW + 12,
        "timezone": "Asia/Shanghai",
        "target_rate": 0.9,
        "waiting": [
            {"conversation": "c1", "buyer": "tom", "agent": "alice", "level": "waiting",
             "started_at": NOW, "target_s": 180}
        ],
        "online": ["alice"],
        "kpis": [
            {"agent": "alice", "date": "2026-11-18", "rounds": 1, "answered": 0,
             "avg_response_s": None, "first_response_s": None, "within_target_rate": None,
             "overdue": 0, "longest_wait_s": 0.0, "outside_window": 0, "target_rate": 0.9,
             "misses_left": 0, "type": "kpi"}
        ],
        "audit": [],
        "orders": {"unpaid": [], "today": {"nudged": 0, "paid": 0}},
        "adapters": [],
        "penalties": {"month": "2026-11", "agents": [], "shop": {
            "yuan": 0, "points": 0, "points_platform": "tmall", "points_limit": 12,
            "points_left": 12, "limit_reached": False, "text": "本月共罚 ¥0；天猫扣分 0/12"}},
        "idle": [],
    }  # fmt: skip


async def test_feed_follows_a_round_and_an_override_as_they_happen(clocked):
    server, clock = clocked
    async with live(server) as feed, client(server.ws_url, "tok-a1") as agent:
        assert (await feed.recv())["waiting"] == []
        await agent.request({**BUYER_LINE, "id": "m1", "text": "在吗"})
        kpi, timer = await feed.events(2)
        assert (kpi["type"], kpi["rounds"], kpi["answered"]) == ("kpi", 1, 0)
        assert timer == {
            "type": "timer", "conversation": "c1", "buyer": "tom", "agent": "alice",
            "level": "waiting", "started_at": NOW, "target_s": 180,
        }  # fmt: skip

        clock.jump(20)
        draft = "加我微信 13812345678 聊"
        check = {"type": "check", "id": "k", "text": draft, "conversation": "c1", "final": True}
        await agent.request(check)
        (audit,) = await feed.events(1)
        await agent.request({**AGENT_LINE, "id": "m2", "text": draft})
        cleared, kpi, override = await feed.events(3)
    assert audit == {
        "type": "audit", "time": "2026-11-18T19:07:00+08:00", "ts": NOW + 20, "agent": "alice",
        "conversation": "c1", "kind": "check", "severity": "block",
        "categories": ["offsite", "privacy"], "rules": ["offsite.wechat", "privacy.mobile"],
        "text": "加我微信 [手机号] 聊",
    }  # fmt: skip
    assert override == {**audit, "kind": "override"}
    assert (cleared["type"], cleared["conversation"], cleared["level"]) == (
        "timer",
        "c1",
        "cleared",
    )
    assert (kpi["type"], kpi["answered"], kpi["avg_response_s"], kpi["within_target_rate"]) == (
        "kpi", 1, 20.0, 1.0,
    )  # fmt: skip


async def test_feed_shows_agents_coming_and_going(clocked):
    server, _ = clocked
    async with live(server) as feed:
        assert (await feed.recv())["online"] == []
        async with client(server.ws_url, "tok-a2"):
            assert await feed.recv_type("agents") == {"type": "agents", "online": ["amy"]}
        assert await feed.recv_type("agents") == {"type": "agents", "online": []}


async def test_feed_lists_unpaid_orders_and_their_nudges(clocked):
    server, _ = clocked
    async with live(server) as feed, client(server.ws_url, "tok-a1") as agent:
        await feed.recv()
        order = {"type": "order", "id": "o1", "order": "A100", "buyer": "tom", "status": "created",
                 "conversation": "c1", "amount": "99.00"}  # fmt: skip
        await agent.request(order)
        orders = await feed.recv_type("orders")
        (unpaid,) = orders["changed"]
        assert (unpaid["order"], unpaid["buyer"], unpaid["amount"]) == ("A100", "tom", "99.00")
        assert [(n["attempt"], n["state"]) for n in unpaid["nudges"]] == [
            (1, "pending"), (2, "pending"), (3, "pending"),
        ]  # fmt: skip
        assert (orders["removed"], orders["today"]) == ([], {"nudged": 0, "paid": 0})
        # Only the changes go out (issue 14): another order is sent alone, a paid one as removed.
        await agent.request({**order, "id": "o2", "order": "A101"})
        assert [o["order"] for o in (await feed.recv_type("orders"))["changed"]] == ["A101"]
        await agent.request({**order, "id": "o3", "status": "paid"})
        assert await feed.recv_type("orders") == {
            "type": "orders", "changed": [], "removed": ["A100"], "today": {"nudged": 0, "paid": 0},
        }  # fmt: skip


async def test_feed_removes_an_unpaid_order_once_it_auto_closes(clocked):
    server, clock = clocked
    async with live(server) as feed, client(server.ws_url, "tok-a1") as agent:
        await feed.recv()
        await agent.request({"type": "order", "id": "o1", "order": "A100", "buyer": "tom",
                             "status": "created"})  # fmt: skip
        assert [o["order"] for o in (await feed.recv_type("orders"))["changed"]] == ["A100"]
        clock.jump(server.service.nudges.policy.close_after_s - 1)  # three days on: a new date
        snapshot = await feed.recv_type("snapshot")
        assert [o["order"] for o in snapshot["orders"]["unpaid"]] == ["A100"]
        clock.jump(2)
        orders = await feed.recv_type("orders")
        assert (orders["changed"], orders["removed"]) == ([], ["A100"])


async def test_feed_shows_an_idle_agent_and_the_months_fines(clocked):
    server, clock = clocked
    async with live(server) as feed, client(server.ws_url, "tok-a1") as agent:
        await feed.recv()
        await agent.request({**BUYER_LINE, "id": "m1", "text": "在吗"})
        clock.jump(601)  # a buyer waiting, the agent doing nothing past KEFU_IDLE_ALERT_S
        server.service.scheduler.poke()
        idle = await feed.recv_type("ledger")
        assert idle["idle"] == [{"agent": "alice", "since": NOW, "at": NOW + 600, "waiting": 1}]
        await agent.request({**AGENT_LINE, "id": "m2", "text": "嗯"})
        ledger = await feed.recv_type("ledger")
    assert ledger["idle"] == []
    assert ledger["penalties"]["agents"] == [
        {"agent": "alice", "yuan": 30, "points": 0, "items": [
            {"rule": "reply_over_2min", "count": 1, "yuan": 0, "points": 0},
            {"rule": "answer_over_5min", "count": 1, "yuan": 20, "points": 0},
            {"rule": "terse", "count": 1, "yuan": 10, "points": 0}],
         "next": {"rule": "reply_over_2min", "remaining": 3, "yuan": 50, "over_s": 120},
         "text": "本月已罚 ¥30；再有 3 次超过 2 分钟将罚 ¥50"}
    ]  # fmt: skip
    assert ledger["penalties"]["shop"]["text"] == "本月共罚 ¥30；天猫扣分 0/12"


async def test_feed_is_for_supervisors_only(server):
    status, body, _ = await get(f"{server.http_url}/dashboard/live?token=tok-a1")
    assert status == 403
    assert_error(body, "forbidden", "only a supervisor token may use '/dashboard/live'")
    status, body, _ = await get(f"{server.http_url}/dashboard/live?token=nope")
    assert status == 401
    assert_error(body, "not_authenticated", "unknown token")
    status, body, _ = await get(f"{server.http_url}/dashboard/live")
    assert status == 401
    assert_error(body, "not_authenticated", "missing 'Authorization: Bearer <token>' header")


async def test_feed_accepts_a_bearer_token_and_stops_listening_when_closed(server):
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(
            f"{server.http_url}/dashboard/live", headers={"Authorization": "Bearer tok-sup"}
        ) as ws,
    ):
        assert (await Feed(ws).recv())["type"] == "snapshot"
        assert len(server.service.observers) == 1
    async with client(server.ws_url):  # the server has handled the close once this answers
        pass
    assert server.service.observers == []


async def test_stopping_the_server_closes_open_feeds_with_1001():
    async with aiohttp.ClientSession() as session:
        async with running_server() as server:
            ws = await session.ws_connect(f"{server.http_url}/dashboard/live?token=tok-sup")
            assert (await Feed(ws).recv())["type"] == "snapshot"
        message = await ws.receive(timeout=5)
        assert (message.type, message.data) == (aiohttp.WSMsgType.CLOSE, 1001)
        await ws.close()


# --- the frames, rendered in server/protocol.py ----------------------------------------------


def test_a_snapshot_sends_todays_latest_audit_records_and_the_longest_waiting_first():
    records = [
        AuditRecord(NOW + n, "s1", "a1", "c1", "check", ("r",), ("rude",), "warn", f"t{n}")
        for n in range(protocol.RECENT_AUDIT + 10)
    ]
    waiting = [
        protocol.waiting_item(
            TimerChanged("s1", "a1", c, "tom", TimerLevel.WAITING, NOW - at, 15.0, at)
        )
        for c, at in (("late", NOW), ("early", NOW - 60))
    ]
    frame = protocol.feed_snapshot(
        shop="s1", date="2026-11-18", server_time=NOW, config=load_config({}),
        waiting=waiting, online=[], kpis=[], audit=records, unpaid=[],
        today={"nudged": 0, "paid": 0}, adapters=[], penalties={}, idle=[],
    )  # fmt: skip
    assert [item["text"] for item in frame["audit"]] == [r.text for r in records[10:]]
    assert frame["audit"][0]["time"] == "2026-11-18T19:06:50+08:00"
    assert [item["conversation"] for item in frame["waiting"]] == ["early", "late"]
    assert set(frame["labels"]) == {"categories", "rules"}


def test_the_pages_timer_frame_carries_who_waits_for_whom_and_nothing_else():
    timer = TimerChanged("s1", "a1", "c1", "tom", TimerLevel.DUE, 15.0, 15.0, NOW)
    assert protocol.feed_timer(timer) == {
        "type": "timer", "conversation": "c1", "buyer": "tom", "agent": "a1", "level": "due",
        "started_at": NOW, "target_s": 15.0,
    }  # fmt: skip


class UnpaidBook:
    """The two reads ShownOrders makes of a ShopView, over a plain dict of unpaid orders."""

    def __init__(self, *orders: Order) -> None:
        self.orders = {order.order: order for order in orders}

    def unpaid_orders(self, shop: str, now: float) -> list[Order]:
        return [order for order in self.orders.values() if order.closes_at > now]

    def unpaid_order(self, shop: str, number: str, now: float) -> Order | None:
        order = self.orders.get(number)
        return order if order is not None and order.closes_at > now else None

    def order_nudges(self, shop: str, number: str) -> list[Any]:
        return []


def test_shown_orders_remove_only_what_the_page_lists_and_each_once():
    def order(number: str, closes_at: float) -> Order:
        return Order("s1", number, "tom", None, OrderStatus.CREATED, None, NOW, closes_at, NOW)

    book = UnpaidBook(order("o1", NOW + 60), order("o2", NOW + 600))
    shown = ShownOrders(book, "s1")  # type: ignore[arg-type]
    assert [item["order"] for item in shown.all(NOW)] == ["o1", "o2"]
    del book.orders["o2"]  # paid
    book.orders["o3"] = order("o3", NOW + 600)
    shown.changed |= {"o2", "o3", "o4"}  # o4: changed, never listed, not unpaid
    changed, removed = shown.changes(NOW)
    assert ([item["order"] for item in changed], removed) == (["o3"], ["o2"])
    assert shown.changes(NOW + 60) == ([], ["o1"])  # auto-closed: no event says so
    assert shown.changes(NOW + 120) == ([], [])


# --- the audit export ------------------------------------------------------------------------


async def flag_on_two_days(server: RunningServer, clock: FakeClock) -> None:
    """A flagged final check at 23:59 local on 2026-11-18, and an override at 00:01 on the 19th."""
    async with client(server.ws_url, "tok-a1") as agent:
        clock.now = 1_795_017_540.0  # 2026-11-18 23:59:00 +08:00
        text = "=加我微信13812345678"
        check = {"type": "check", "id": "k", "text": text, "conversation": "c1", "final": True}
        await agent.request(check)
        clock.now = 1_795_017_660.0  # 2026-11-19 00:01:00 +08:00
        await agent.request({**check, "id": "k2"})
        await agent.request({**AGENT_LINE, "id": "m", "text": text})


async def test_audit_export_json_covers_local_dates(clocked):
    server, clock = clocked
    await flag_on_two_days(server, clock)
    url = f"{server.http_url}/api/audit?from=2026-11-18&to=2026-11-18"
    status, body, _ = await get(url, "tok-sup")
    assert status == 200
    assert body == {
        "shop": "shop-a", "from": "2026-11-18", "to": "2026-11-18", "timezone": "Asia/Shanghai",
        "records": [
            {"time": "2026-11-18T23:59:00+08:00", "ts": 1_795_017_540.0, "agent": "alice",
             "conversation": "c1", "kind": "check", "severity": "block",
             "categories": ["offsite", "privacy"], "rules": ["offsite.wechat", "privacy.mobile"],
             "text": "=加我微信[手机号]"},
        ],
    }  # fmt: skip
    status, body, _ = await get(f"{server.http_url}/api/audit?from=2026-11-19", "tok-sup")
    assert [(r["time"], r["kind"]) for r in body["records"]] == [
        ("2026-11-19T00:01:00+08:00", "check"), ("2026-11-19T00:01:00+08:00", "override"),
    ]  # fmt: skip
    status, body, _ = await get(
        f"{server.http_url}/api/audit?from=2026-11-18&to=2026-11-19", "tok-sup"
    )
    assert len(body["records"]) == 3


async def test_audit_export_csv_is_masked_and_inert_in_spreadsheets(clocked):
    server, clock = clocked
    await flag_on_two_days(server, clock)
    url = f"{server.http_url}/api/audit?from=2026-11-19&format=csv"
    status, body, response = await get(url, "tok-sup")
    assert status == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="audit-2026-11-19-2026-11-19.csv"'
    )
    assert body.split("\r\n") == [
        "\ufefftime,agent,conversation,kind,severity,categories,rules,text",
        "2026-11-19T00:01:00+08:00,alice,c1,check,block,offsite;privacy,"
        "offsite.wechat;privacy.mobile,'=加我微信[手机号]",
        "2026-11-19T00:01:00+08:00,alice,c1,override,block,offsite;privacy,"
        "offsite.wechat;privacy.mobile,'=加我微信[手机号]",
        "",
    ]


async def test_audit_export_is_for_supervisors_only(server):
    status, body, _ = await get(f"{server.http_url}/api/audit", "tok-a1")
    assert status == 403
    assert_error(body, "forbidden", "only a supervisor token may use '/api/audit'")
    status, body, _ = await get(f"{server.http_url}/api/audit?token=tok-sup")
    assert status == 401  # the query token is for the browser's websocket only
    assert_error(body, "not_authenticated", "missing 'Authorization: Bearer <token>' header")
    status, body, _ = await get(f"{server.http_url}/api/audit?shop=shop-b", "tok-sup")
    assert status == 403
    assert_error(body, "forbidden", "token is not valid for shop 'shop-b'")


@pytest.mark.parametrize(
    ("query", "code", "error"),
    [
        ("from=2026-13-01", "bad_value", "query 'from' must be YYYY-MM-DD, got '2026-13-01'"),
        ("from=yesterday", "bad_value", "query 'from' must be YYYY-MM-DD, got 'yesterday'"),
        (
            "from=2026-11-18&to=2026-11-17",
            "bad_value",
            "query 'to' must be on or after 'from' (2026-11-18), got '2026-11-17'",
        ),
        ("format=xlsx", "bad_value", "query 'format' must be 'json' or 'csv', got 'xlsx'"),
    ],
)
async def test_audit_export_rejects_bad_queries(server, query, code, error):
    status, body, _ = await get(f"{server.http_url}/api/audit?{query}", "tok-sup")
    assert status == 400
    assert_error(body, code, error)


# --- the page in a real browser --------------------------------------------------------------


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium: run scripts/ensure_chromium.sh")
    return CHROMIUM


@pytest.fixture
async def browser_page(chromium):
    from playwright.async_api import async_playwright

    async with async_playwright() as driver:
        browser = await driver.chromium.launch(
            executable_path=str(chromium), headless=True, args=BROWSER_ARGS
        )
        page = await browser.new_page(locale="zh-CN", viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        yield page, errors
        await browser.close()


async def test_dashboard_page_updates_live_without_reloading(clocked, browser_page):
    from playwright.async_api import expect

    server, _ = clocked  # a fake clock inside the counting window, so the round counts
    page, errors = browser_page
    await page.goto(f"{server.http_url}/dashboard?token=tok-sup")
    await expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=10_000)
    assert page.url == f"{server.http_url}/dashboard"  # the token left the address bar
    await expect(page.locator("#shop")).to_have_text("店铺 shop-a")
    rows = page.locator("#waiting tbody tr")
    await expect(rows).to_have_count(0)
    async with client(server.ws_url, "tok-a1") as agent:
        await agent.request({**BUYER_LINE, "id": "m1", "text": "这件有XL吗"})
        row = page.locator('#waiting tbody tr[data-conversation="c1"]')
        await expect(row).to_have_count(1)
        await expect(row.locator("td").nth(2)).to_have_text("alice")
        await expect(row.locator(".level")).to_have_text("等待中")
        await expect(page.locator("#online li")).to_have_text(["alice"])
        await expect(page.locator('#kpis tr[data-agent="alice"] td').nth(2)).to_have_text("1")
        await agent.request(
            {"type": "check", "id": "k", "text": "全网最低价", "conversation": "c1", "final": True}
        )
        await expect(page.locator("#audit li .tag")).to_have_text(["广告法用语"])
        await agent.request({**AGENT_LINE, "id": "m2", "text": "有的亲，XL有货"})
        await expect(rows).to_have_count(0)
        # Orders arrive as changes, merged into the list (issue 14).
        order = {"type": "order", "buyer": "tom", "status": "created", "conversation": "c1"}
        await agent.request({**order, "id": "o1", "order": "A100"})
        await agent.request({**order, "id": "o2", "order": "A101"})
        orders = page.locator("#orders tbody tr")
        await expect(orders).to_have_count(2)
        await agent.request({**order, "id": "o3", "order": "A100", "status": "paid"})
        await expect(orders).to_have_count(1)
        await expect(orders.locator("td").first).to_have_text("A101")
    await expect(page.locator("#online li")).to_have_count(0)
    assert errors == []


async def test_dashboard_page_shows_the_ledger_and_an_idle_alert(clocked, browser_page):
    from playwright.async_api import expect

    server, clock = clocked
    page, errors = browser_page
    await page.goto(f"{server.http_url}/dashboard?token=tok-sup")
    await expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=10_000)
    await expect(page.locator("#penalties-shop")).to_have_text("本月共罚 ¥0；天猫扣分 0/12")
    await expect(page.locator("#idle-section")).to_be_hidden()
    async with client(server.ws_url, "tok-a1") as agent:
        await agent.request({**BUYER_LINE, "id": "m1", "text": "在吗"})
        clock.jump(601)
        server.service.scheduler.poke()
        alert = page.locator('#idle li[data-agent="alice"]')
        await expect(alert).to_have_text("alice 自 19:06:40 起无操作，1 位买家在等待")
        await agent.request({**AGENT_LINE, "id": "m2", "text": "嗯"})
        await expect(page.locator("#idle-section")).to_be_hidden()
        row = page.locator('#penalties tr[data-agent="alice"] td')
        await expect(row.nth(1)).to_have_text("¥30")
        await expect(row.nth(3).locator(".item")).to_have_text(
            [
                "超过 2 分钟回复（一个月超过 3 次罚一次） ×1",
                "超过 5 分钟回复 ×1 ¥20",
                "少于 5 个字或只回语气词 ×1 ¥10",
            ]
        )
        await expect(row.nth(4)).to_have_text("本月已罚 ¥30；再有 3 次超过 2 分钟将罚 ¥50")
        await expect(page.locator("#penalties-shop")).to_have_text("本月共罚 ¥30；天猫扣分 0/12")
    assert errors == []


async def test_dashboard_page_asks_for_a_token_and_refuses_an_agents(server, browser_page):
    from playwright.async_api import expect

    page, _ = browser_page
    await page.goto(f"{server.http_url}/dashboard")
    await expect(page.locator("#login")).to_be_visible()
    await page.locator("#login input[name=token]").fill("tok-a1")
    await page.locator("#login button").click()
    await expect(page.locator("#login-error")).to_have_text("该令牌不是主管令牌，无法查看看板")
    await page.locator("#login input[name=token]").fill("tok-sup")
    await page.locator("#login button").click()
    await expect(page.locator("#conn")).to_have_attribute("data-state", "live")
