"""Bounded state (issue 14): conversations leave memory and come back, caps, a paged ``state``."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from pathlib import Path

import aiohttp
import orjson
import pytest
from websockets.asyncio.client import connect

from server.core.nudges import OrderStatus
from server.storage.sqlite import _CONVERSATION_COLUMNS, SQLiteStore
from tests.helpers import FakeClock, assert_error, client, make_config, running_server
from tests.process import start_server


def line(sender: str, conversation: str, number: int) -> dict:
    text = "在吗" if sender == "buyer" else "好的"
    return {"type": "message", "id": f"{sender[0]}{number}", "conversation": conversation,
            "buyer": "tom", "from": sender, "text": text}  # fmt: skip


def buyer(conversation: str, number: int = 1) -> dict:
    return line("buyer", conversation, number)


def agent(conversation: str, number: int = 1) -> dict:
    return line("agent", conversation, number)


def cap_error(answer: dict, ref: str, what: str, setting: str) -> None:
    assert_error(answer, "limit_exceeded", f"{what}, the most allowed ({setting})", ref=ref)


async def test_a_closed_conversation_leaves_memory_and_comes_back_from_the_store(tmp_path):
    clock = FakeClock()
    config = make_config(db=str(tmp_path / "kefu.db"), conversation_idle_s=60.0)
    async with running_server(config, clock) as server, client(server.ws_url) as alice:
        tracker = server.service.tracker
        await alice.request(buyer("c1"))
        await alice.request(agent("c1"))
        clock.jump(59)
        server.service.scheduler.poke()
        await alice.request({"type": "ping", "id": "p1"})  # the scheduler ran before the pong
        assert ("shop-a", "c1") in tracker.conversations
        clock.jump(2)
        server.service.scheduler.poke()
        await alice.request({"type": "ping", "id": "p2"})
        assert ("shop-a", "c1") not in tracker.conversations
        # The next line reloads it as stored: its first round was answered, so this is not the
        # buyer's first message (no welcome phrase first) and the round is its second.
        answer = await alice.request(buyer("c1", 2))
        assert answer["type"] == "suggestions"
        conv = tracker.conversations[("shop-a", "c1")]
        assert (conv.first_round, conv.agent, conv.round_started_at) == (False, "alice", clock.now)


async def test_a_settled_order_that_left_memory_is_met_as_stored(tmp_path):
    clock = FakeClock()
    config = make_config(db=str(tmp_path / "kefu.db"), order_idle_s=60.0)
    async with running_server(config, clock) as server, client(server.ws_url) as alice:
        book = server.service.nudges
        event = {"type": "order", "order": "o1", "buyer": "tom", "conversation": "c1"}
        await alice.request({**event, "id": "e1", "status": "created"})
        await alice.request({**event, "id": "e2", "status": "paid"})
        clock.jump(61)
        server.service.scheduler.poke()
        await alice.request({"type": "ping", "id": "p1"})
        assert not book.knows("shop-a", "o1") and book.nudges == {}
        # A late 'created' must meet the paid order as stored, not open an unpaid one afresh.
        assert (await alice.request({**event, "id": "e3", "status": "created"}))["type"] == "ack"
        assert book.orders[("shop-a", "o1")].status is OrderStatus.PAID
        assert book.order_nudges("shop-a", "o1") == []


async def test_an_unanswered_round_is_abandoned_after_its_expiry():
    clock = FakeClock()
    async with running_server(make_config(round_expire_s=3600.0), clock) as server:
        async with client(server.ws_url) as alice:
            await alice.request(buyer("c1"))
            assert (await alice.recv_type("timer"))["level"] == "waiting"
            clock.jump(3601)
            server.service.scheduler.poke()
            levels = [(await alice.recv_type("timer"))["level"] for _ in range(4)]
            assert levels == ["warn", "due", "overdue", "cleared"]
            assert ("shop-a", "c1") not in server.service.tracker.conversations
            server.service.flush()
            stored = await server.service.store.load_conversation("shop-a", "c1")
            assert stored is not None and stored.round_started_at is None
        async with client(server.ws_url) as alice:
            assert (alice.state["conversations"], alice.state["waiting_total"]) == ([], 0)
            kpi = alice.kpi
            assert (kpi["rounds"], kpi["answered"], kpi["overdue"]) == (1, 0, 1)


async def test_an_agent_past_its_cap_gets_a_typed_error_and_the_others_carry_on():
    config = make_config(max_waiting_per_agent=2)
    async with running_server(config) as server, client(server.ws_url) as alice:
        await alice.request(buyer("c1", 1))
        await alice.request(buyer("c2", 2))
        answer = await alice.request(buyer("c3", 3))
        what = "agent 'alice' has 2 waiting conversations"
        cap_error(answer, "b3", what, "KEFU_MAX_WAITING_PER_AGENT")
        assert ("shop-a", "c3") not in server.service.tracker.conversations
        # A line in a round already open is no new round: still taken.
        assert (await alice.request(buyer("c1", 4)))["type"] == "suggestions"
        async with client(server.ws_url, token="tok-a2") as amy:
            assert (await amy.request(buyer("c9", 5)))["type"] == "suggestions"
        await alice.request(agent("c1", 6))  # answering frees a place
        assert (await alice.request(buyer("c3", 7)))["type"] == "suggestions"


async def test_a_shop_past_its_cap_gets_a_typed_error():
    async with running_server(make_config(max_conversations_per_shop=1)) as server:
        async with client(server.ws_url) as alice:
            await alice.request(buyer("c1", 1))
            answer = await alice.request(agent("c2", 2))
            what = "shop 'shop-a' has 1 conversations in memory"
            cap_error(answer, "a2", what, "KEFU_MAX_CONVERSATIONS_PER_SHOP")
        async with client(server.ws_url, token="tok-b1") as bob:
            assert (await bob.request(buyer("c2", 3)))["type"] == "suggestions"


async def test_state_comes_in_pages_longest_waiting_first():
    clock = FakeClock()
    async with running_server(make_config(state_page=2), clock) as server:
        async with client(server.ws_url) as alice:
            for number in (3, 1, 4, 0, 2):  # c0 waits longest: its line came first
                clock.now = 1_795_000_000.0 + number
                await alice.request(buyer(f"c{number}", number))
        clock.now = 1_795_000_010.0
        async with client(server.ws_url) as alice:
            state = alice.state
            assert [c["conversation"] for c in state["conversations"]] == ["c0", "c1"]
            assert (state["waiting_total"], state["next"]) == (5, "1795000001.0 c1")
            page = await alice.request({"type": "state", "id": "s2", "after": state["next"]})
            assert [c["conversation"] for c in page["conversations"]] == ["c2", "c3"]
            last = await alice.request({"type": "state", "id": "s3", "after": page["next"]})
            assert [c["conversation"] for c in last["conversations"]] == ["c4"]
            assert (last["next"], last["ref"], last["waiting_total"]) == (None, "s3", 5)
            assert_error(
                await alice.request({"type": "state", "id": "s4", "after": "soon"}),
                "bad_field",
                "field 'after' of 'state' must be a 'next' cursor, got 'soon'",
                ref="s4",
            )


async def seed_waiting(
    db: Path, count: int, started: float, shop: str = "shop-a", agents: int = 1
) -> None:
    """Leave ``count`` waiting conversations in the store, as an earlier run would have."""
    store = SQLiteStore(str(db))
    await store.open()  # creates the schema
    await store.close()
    names = ["alice", *(f"agent{n}" for n in range(1, agents))]
    rows = [
        (shop, f"c{n:05d}", f"buyer{n}", "taobao", names[n % agents], started + n * 0.001, 0,
         False, True, None)
        for n in range(count)
    ]  # fmt: skip
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.executemany(
            f"INSERT INTO conversations ({_CONVERSATION_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
            rows,
        )


async def test_an_agent_with_20000_waiting_conversations_gets_back_in_at_once(tmp_path):
    """Before issue 14 the state frame (4 MB here) outgrew the 1 MiB send queue: every
    reconnect was closed 1008 "client too slow", and a restart did not help."""
    await seed_waiting(tmp_path / "kefu.db", 20_000, time.time() - 120)
    server = start_server(tmp_path, KEFU_TOKENS="tok:alice:shop-a")
    try:
        for _ in range(2):  # connect, and reconnect
            async with connect(server.urls["websocket"], compression=None) as conn:
                await conn.send(orjson.dumps({"type": "hello", "token": "tok", "platform": "jd"}))
                async with asyncio.timeout(2):  # the bound: welcome and state within 2 s
                    welcome, raw_state = await conn.recv(), await conn.recv()
                assert orjson.loads(welcome)["type"] == "welcome"
                state = orjson.loads(raw_state)
                assert len(raw_state) < 256 * 1024
                assert (len(state["conversations"]), state["waiting_total"]) == (200, 20_000)
                assert state["conversations"][0]["conversation"] == "c00000"
    finally:
        assert server.stop() == 0


@pytest.mark.timeout(120)
async def test_a_reconnect_storm_against_a_full_process_lets_every_agent_in(tmp_path):
    """Before issue 14 each hello walked every conversation of the process: 2,000 agents
    reconnecting to a server holding 250,000 conversations, and 380 got in."""
    await seed_waiting(tmp_path / "kefu.db", 250_000, time.time() - 120, "big", agents=7)
    agents = 1000
    tokens = ",".join(f"t{n}:a{n}:storm{n % 10}" for n in range(agents))
    server = start_server(tmp_path, KEFU_TOKENS=tokens, PYTHONASYNCIODEBUG="")
    url = server.urls["websocket"]

    async def reconnect(number: int) -> bool:
        async with connect(url, compression=None, open_timeout=20) as conn:
            hello = {"type": "hello", "token": f"t{number}", "platform": "jd"}
            await conn.send(orjson.dumps(hello))
            async with asyncio.timeout(5):  # as long as the server gives a client to say hello
                kinds = [orjson.loads(await conn.recv())["type"] for _ in range(3)]
            return kinds == ["welcome", "state", "kpi"]

    try:
        got_in = await asyncio.gather(*(reconnect(n) for n in range(agents)))
    finally:
        assert server.stop() == 0
    assert sum(got_in) == agents


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.timeout(240)
async def test_memory_stays_flat_over_120000_conversations_opened_and_closed(tmp_path):
    env = {
        "KEFU_TOKENS": "tok:alice:shop-a",
        "KEFU_RATE": "1000000",
        "KEFU_BURST": "1000000",
        "KEFU_CONVERSATION_IDLE_S": "1",
        "PYTHONASYNCIODEBUG": "",  # measure the server as deployed, not under asyncio's debug mode
    }
    server = start_server(tmp_path, **env)
    checkpoints: list[int] = []
    try:
        async with connect(server.urls["websocket"], compression=None, max_queue=None) as conn:
            await conn.send(orjson.dumps({"type": "hello", "token": "tok", "platform": "jd"}))
            for _ in range(3):  # welcome, state, kpi
                await conn.recv()
            batch = 500
            for start in range(0, 120_000, batch):
                for number in range(start, start + batch):
                    await conn.send(orjson.dumps(buyer(f"c{number}", number)))
                    await conn.send(orjson.dumps(agent(f"c{number}", number)))
                last = f'"ref":"a{start + batch - 1}"'
                while last not in await conn.recv():  # the client stays cheap: no decoding
                    pass
                if (start + batch) % 20_000 == 0:
                    checkpoints.append(rss_kib(server.proc.pid))
    finally:
        assert server.stop() == 0
    # Warm-up (allocator arenas, SQLite's page cache, jieba's caches) is over by 40,000; before
    # issue 14 the process then grew ~0.7 KB per conversation (~55 MiB over the last 80,000).
    # 120,000 rather than 200,000: 400,000 frames took the whole timeout on a slower machine.
    growth_mib = (max(checkpoints[2:]) - checkpoints[1]) / 1024
    assert growth_mib < 12, (growth_mib, checkpoints)


async def test_a_past_kpi_day_leaves_memory_and_the_api_reads_it_from_the_store(tmp_path):
    clock = FakeClock()
    config = make_config(db=str(tmp_path / "kefu.db"))
    async with running_server(config, clock) as server, client(server.ws_url) as alice:
        await alice.request(buyer("c1"))
        await alice.request(agent("c1"))
        date = alice.kpi["date"]  # today's, sent on hello
        clock.jump(2 * 86400)
        server.service.flush()
        server.service.floor.sweep(clock())
        assert [key for key in server.service.tracker.kpis if key[2] == date] == []
        headers = {"Authorization": "Bearer tok-a1"}
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{server.http_url}/api/kpi?date={date}", headers=headers) as response,
        ):
            report = await response.json()
        assert (report["date"], report["rounds"], report["answered"]) == (date, 1, 1)
