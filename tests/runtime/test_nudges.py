"""Unpaid-order nudges through the real server, on a fake clock: intake, delivery, acks, resume."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import aiohttp
import orjson

from tests.helpers import FakeClock, assert_error, client, make_config, running_server

# 2026-11-16 04:00 UTC = 12:00 in Shanghai: far from the quiet hours.
NOON = datetime(2026, 11, 16, 4, 0, tzinfo=UTC).timestamp()
NUDGES = {"delays_s": [900], "final_before_close_s": 0, "close_after_s": 259200}
ORDER = {"type": "order", "order": "3012345678", "buyer": "tom", "conversation": "c-tom",
         "amount": "199.00"}  # fmt: skip


def nudge_server(clock: FakeClock, **overrides):
    config = make_config(nudges=NUDGES, order_secrets={"shop-a": "s3cret"}, **overrides)
    return running_server(config, clock)


async def fire(server, clock: FakeClock, seconds: float) -> None:
    """Move the clock and let the scheduler run what became due."""
    clock.jump(seconds)
    server.service.scheduler.rearm()


async def test_an_offline_agent_gets_the_nudge_on_connecting_and_an_ack_stops_redelivery():
    clock = FakeClock(NOON)
    async with nudge_server(clock) as server:
        async with client(server.ws_url, token="tok-a2") as amy:
            answer = await amy.request({**ORDER, "id": "o1", "status": "created"})
            assert answer == {"type": "ack", "ref": "o1", "seq": answer["seq"]}
        await fire(server, clock, 900)  # due with nobody online: it waits
        async with client(server.ws_url) as alice:
            nudge = await alice.recv_type("nudge")
            assert {k: v for k, v in nudge.items() if k not in ("seq", "text")} == {
                "type": "nudge", "nudge": "n-3012345678-1", "order": "3012345678", "buyer": "tom",
                "conversation": "c-tom", "attempt": 1, "due_at": NOON + 900, "amount": "199.00",
            }  # fmt: skip
            assert nudge["text"].startswith(
                "亲，您好！您拍下的宝贝还在等待付款（订单金额 199.00 元）"
            )
        async with client(server.ws_url) as alice:  # not acknowledged: delivered again
            assert [n["nudge"] for n in alice.state["nudges"]] == ["n-3012345678-1"]
            ack = {"type": "nudge_ack", "id": "a1", "nudge": "n-3012345678-1", "action": "sent"}
            assert (await alice.request(ack))["type"] == "ack"
        async with client(server.ws_url) as alice:
            assert alice.state["nudges"] == []
            answer = await alice.request(ack)
            assert_error(answer, "not_found", "no nudge waiting for an answer: 'n-3012345678-1'",
                         "a1")  # fmt: skip


async def test_resume_replays_a_nudge_the_client_missed():
    clock = FakeClock(NOON)
    async with nudge_server(clock) as server:
        async with client(server.ws_url) as alice:
            await alice.request({**ORDER, "id": "o1", "status": "created"})
            last_seen = (await alice.request({"type": "ping", "id": "p"}))["seq"]
            await fire(server, clock, 900)
            nudge = await alice.recv_type("nudge")  # pushed while the connection was alive
        async with client(server.ws_url, resume=last_seen) as again:
            assert (again.welcome["resumed"], again.welcome["resync"]) == (1, False)
            assert again.replayed == [nudge]


async def test_paid_cancels_the_pending_nudges():
    clock = FakeClock(NOON)
    async with nudge_server(clock) as server, client(server.ws_url) as alice:
        await alice.request({**ORDER, "id": "o1", "status": "created"})
        await alice.request({**ORDER, "id": "o2", "status": "paid"})
        await fire(server, clock, 900)
        pong = await alice.request({"type": "ping", "id": "after"})
        assert pong["type"] == "pong" and alice.pending == []
        outcome = await server.service.nudge_outcomes("shop-a", "2026-11-16")
        assert outcome == {"shop": "shop-a", "date": "2026-11-16", "nudged": 0, "paid": 0}


async def test_outcomes_count_nudged_then_paid_orders():
    clock = FakeClock(NOON)
    async with nudge_server(clock) as server, client(server.ws_url) as alice:
        await alice.request({**ORDER, "id": "o1", "status": "created"})
        await alice.request({**ORDER, "id": "o2", "order": "o-2", "status": "created"})
        await fire(server, clock, 900)
        await alice.recv_type("nudge")
        await alice.recv_type("nudge")
        await alice.request({**ORDER, "id": "o3", "status": "paid"})
        outcome = await server.service.nudge_outcomes("shop-a", "2026-11-16")
        assert outcome == {"shop": "shop-a", "date": "2026-11-16", "nudged": 2, "paid": 1}


def sign(body: bytes, secret: str = "s3cret") -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def post_order(server, body: bytes, signature: str | None, shop: str = "shop-a"):
    headers = {"X-Kefu-Signature": signature} if signature else {}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{server.http_url}/api/orders?shop={shop}", data=body, headers=headers) as r,
    ):
        return r.status, await r.json()


async def test_http_orders_need_the_shops_signature_and_are_idempotent():
    clock = FakeClock(NOON)
    async with nudge_server(clock) as server:
        body = orjson.dumps({"order": "9001", "buyer": "ann", "status": "created", "id": "e1"})
        status, answer = await post_order(server, body, None)
        assert status == 401
        assert_error(answer, "bad_signature", "missing or wrong X-Kefu-Signature header")
        status, answer = await post_order(server, body, sign(body, "wrong"))
        assert status == 401
        status, answer = await post_order(server, body, sign(body), shop="shop-b")
        assert (status, answer["error"]) == (401, "no order secret configured for shop 'shop-b'")
        assert server.service.nudges.orders == {}
        assert await post_order(server, body, sign(body)) == (
            200, {"type": "ack", "ref": "e1", "changed": True},
        )  # fmt: skip
        assert await post_order(server, body, sign(body)) == (
            200, {"type": "ack", "ref": "e1", "changed": False},
        )  # fmt: skip
        bad = orjson.dumps({"order": "9002", "buyer": "ann", "status": "payed"})
        status, answer = await post_order(server, bad, sign(bad))
        assert status == 400
        assert_error(answer, "bad_field",
                     "field 'status' of 'order' must be one of created, paid, closed, shipped, "
                     "got 'payed'")  # fmt: skip
