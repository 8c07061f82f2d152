"""The smaller abuses of issue 14, each answered with its typed error, never 1011 or 500."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from websockets.asyncio.client import connect

from tests.helpers import FakeClock, assert_error, client, make_config, running_server
from tests.runtime.test_nudges import NOON, ORDER, fire, nudge_server
from tests.runtime.test_ws import closed_with

DEEP = 300  # orjson parses up to 1024 levels but writes only 254: quoting one used to raise
OPENING = "[" * 40 + "…"  # what an error quotes of it


async def test_json_nested_too_deep_for_orjson_to_write_gets_typed_errors(server):
    deep_type = '{"type":' + "[" * DEEP + "]" * DEEP + "}"
    deep_text = '{"text":' + "[" * DEEP + "]" * DEEP + "}"
    async with client(server.ws_url) as c:
        await c.send(deep_type)
        assert_error(await c.recv(), "unknown_type", f"unknown message type: '{OPENING}'")
        await c.send('{"type":"check","id":"k",' + deep_text[1:])
        assert_error(await c.recv(), "bad_field",
                     f"field 'text' of 'check' must be a string, got '{OPENING}'", "k")  # fmt: skip
        assert (await c.request({"type": "ping", "id": "p"}))["type"] == "pong"
    async with connect(server.ws_url) as conn:  # before authentication
        await conn.send("[" * DEEP + "]" * DEEP)
        assert await closed_with(conn) == (4401, f"frame is not a json object: '{OPENING}'")
    headers = {"Authorization": "Bearer tok-a1"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{server.http_url}/api/check", data=deep_text, headers=headers) as resp,
    ):
        assert resp.status == 400
        assert_error(await resp.json(), "bad_field",
                     f"field 'text' of 'check' must be a string, got '{OPENING}'")  # fmt: skip


async def test_a_huge_snooze_is_a_typed_error_and_the_nudge_can_still_be_dismissed():
    clock = FakeClock(NOON)
    async with nudge_server(clock) as server, client(server.ws_url) as alice:
        await alice.request({**ORDER, "id": "o1", "status": "created"})
        await fire(server, clock, 900)
        nudge = await alice.recv_type("nudge")
        ack = {"type": "nudge_ack", "id": "a1", "nudge": nudge["nudge"], "action": "snoozed"}
        answer = await alice.request({**ack, "snooze_s": 1e12})
        assert_error(answer, "bad_field", "field 'snooze_s' of 'nudge_ack' must be more than 0 "
                     "and at most 86400 seconds, got 1000000000000.0", "a1")  # fmt: skip
        answer = await alice.request({**ack, "id": "a2", "action": "dismissed"})
        assert answer == {"type": "ack", "ref": "a2", "seq": answer["seq"]}


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/api/audit?from=9999-12-31",
         "query 'from' must be from 2000-01-01 to 2999-12-31, got '9999-12-31'"),
        ("/api/audit?from=2026-11-18&to=9999-12-31",
         "query 'to' must be from 2000-01-01 to 2999-12-31, got '9999-12-31'"),
        ("/api/nudges/outcomes?date=2026-99-99",
         "query 'date' must be YYYY-MM-DD, got '2026-99-99'"),
        ("/api/kpi?date=2026-02-30", "query 'date' must be YYYY-MM-DD, got '2026-02-30'"),
        ("/api/kpi?date=0001-01-01",
         "query 'date' must be from 2000-01-01 to 2999-12-31, got '0001-01-01'"),
    ],
)  # fmt: skip
async def test_impossible_dates_are_typed_400s(server, path, error):
    headers = {"Authorization": "Bearer tok-sup"}
    async with (
        aiohttp.ClientSession() as session,
        session.get(server.http_url + path, headers=headers) as resp,
    ):
        assert resp.status == 400
        assert_error(await resp.json(), "bad_value", error)


async def test_the_live_dashboard_checks_the_origin(server):
    url = f"{server.http_url}/dashboard/live?token=tok-sup"
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers={"Origin": "https://evil.example"}) as resp:
            assert resp.status == 403
            error = "origin 'https://evil.example' may not open '/dashboard/live'"
            assert_error(await resp.json(), "forbidden", error)
        async with session.ws_connect(url, origin=server.http_url) as feed:
            assert (await feed.receive_json())["type"] == "snapshot"


async def test_a_half_open_websocket_handshake_gets_the_hello_limit():
    async with running_server(make_config(hello_timeout_s=0.3)) as server:
        host, port = server.ws_url.removeprefix("ws://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and never the rest of the upgrade
        assert await asyncio.wait_for(reader.read(), 5) == b""  # websockets' default was 10 s
        writer.close()


async def test_amount_may_be_a_json_number():
    clock = FakeClock(NOON)
    async with nudge_server(clock) as server, client(server.ws_url) as alice:
        answer = await alice.request({**ORDER, "id": "o1", "status": "created", "amount": 199})
        assert answer["type"] == "ack"
        (order,) = server.service.nudges.orders.values()
        assert order.amount == "199.00"
        await fire(server, clock, 900)
        assert (await alice.recv_type("nudge"))["amount"] == "199.00"
        answer = await alice.request({**ORDER, "id": "o2", "order": "o-2", "status": "created",
                                      "amount": -5})  # fmt: skip
        error = "field 'amount' of 'order' must be a number from 0 to 1e12, got -5"
        assert_error(answer, "bad_field", error, "o2")
