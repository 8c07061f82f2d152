"""Unpaid-order nudges through the real server, on a fake clock: intake, delivery, acks, resume."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime

import aiohttp
import orjson

from server.core.nudges import NudgePolicy
from tests.helpers import FakeClock, assert_error, client, make_config, running_server

# 2026-11-16 04:00 UTC = 12:00 in Shanghai: far from the quiet hours.
NOON = datetime(2026, 11, 16, 4, 0, tzinfo=UTC).timestamp()
NUDGES = NudgePolicy(delays_s=(900,), final_before_close_s=0, close_after_s=259200)
ORDER = {"type": "order", "order": "3012345678", "buyer": "tom", "conversation": "c-tom",
         "amount": "199.00"}  # fmt: skip


def nudge_server(clock: FakeClock, **overrides):
    config = make_config(nudges=NUDGES, order_secrets={"shop-a": "s3cret"}, **overrides)
    return running_server(config, clock)


async def fire(server, clock: FakeClock, seconds: float) -> None:
    """Move the clock and let the scheduler run what became due."""
    clock.jump(seconds)
    server.service.scheduler.poke()


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
        outcome = await server.service.view.nudge_outcomes("shop-a", "2026-11-16")
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
        outcome = await server.service.view.nudge_outcomes("shop-a", "2026-11-16")
        assert outcome == {"shop": "shop-a", "date": "2026-11-16", "nudged": 2, "paid": 1}


def signed(
    body: bytes, ts: float, secret: str = "s3cret", nonce: str | None = None
) -> dict[str, str]:
    """The headers docs/protocol.md asks of an order system (written out here, not imported)."""
    timestamp, nonce = f"{ts:.0f}", nonce or secrets.token_hex(8)
    digest = hmac.new(secret.encode(), f"{timestamp}.{nonce}.".encode() + body, hashlib.sha256)
    return {
        "X-Kefu-Timestamp": timestamp,
        "X-Kefu-Nonce": nonce,
        "X-Kefu-Signature": "sha256=" + digest.hexdigest(),
    }


async def post_order(server, body: bytes, headers: dict[str, str], shop: str = "shop-a"):
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{server.http_url}/api/orders?shop={shop}", data=body, headers=headers) as r,
    ):
        return r.status, await r.json()


async def test_http_orders_need_the_shops_signature_and_are_idempotent():
    clock = FakeClock(NOON)
    async with nudge_server(clock) as server:
        body = orjson.dumps({"order": "9001", "buyer": "ann", "status": "created", "id": "e1"})
        status, answer = await post_order(server, body, {})
        assert status == 401
        assert_error(answer, "bad_signature",
                     "missing or malformed X-Kefu-Timestamp header (epoch seconds)")  # fmt: skip
        headers = signed(body, NOON)
        status, answer = await post_order(server, body, {**headers, "X-Kefu-Nonce": "short"})
        assert_error(answer, "bad_signature", "missing or malformed X-Kefu-Nonce header "
                     "(8-64 letters, digits, '-' or '_')")  # fmt: skip
        status, answer = await post_order(server, body, signed(body, NOON, "wrong"))
        assert status == 401
        assert_error(answer, "bad_signature", "missing or wrong X-Kefu-Signature header")
        status, answer = await post_order(server, body, signed(body, NOON), shop="shop-b")
        assert (status, answer["error"]) == (401, "no order secret configured for shop 'shop-b'")
        assert server.service.nudges.orders == {}
        assert await post_order(server, body, signed(body, NOON)) == (
            200, {"type": "ack", "ref": "e1", "changed": True},
        )  # fmt: skip
        assert await post_order(server, body, signed(body, NOON + 1)) == (
            200, {"type": "ack", "ref": "e1", "changed": False},
        )  # fmt: skip
        bad = orjson.dumps({"order": "9002", "buyer": "ann", "status": "payed"})
        status, answer = await post_order(server, bad, signed(bad, NOON))
        assert status == 400
        assert_error(answer, "bad_field",
                     "field 'status' of 'order' must be one of created, paid, closed, shipped, "
                     "got 'payed'")  # fmt: skip


async def test_a_replayed_or_stale_signed_order_is_refused():
    clock = FakeClock(NOON)
    async with nudge_server(clock) as server:
        body = orjson.dumps({"order": "9001", "buyer": "ann", "status": "created"})
        headers = signed(body, NOON - 100, nonce="nonce-0001")
        assert (await post_order(server, body, headers))[0] == 200
        status, answer = await post_order(server, body, headers)  # captured and sent again
        assert status == 409
        assert_error(answer, "replayed_order", "X-Kefu-Nonce 'nonce-0001' was already used")
        status, answer = await post_order(server, body, signed(body, NOON - 301))
        assert status == 401
        assert_error(answer, "stale_order", "X-Kefu-Timestamp 1794801299 is 301 s from the "
                     "server's clock; at most 300 s is accepted")  # fmt: skip
        status, answer = await post_order(server, body, signed(body, NOON + 301))
        assert answer["code"] == "stale_order"  # a clock far ahead is refused too
        # The same nonce with another timestamp is another signature, and still a replay.
        status, answer = await post_order(server, body, signed(body, NOON, nonce="nonce-0001"))
        assert (status, answer["code"]) == (409, "replayed_order")
        # Once its timestamp is out of the window, a nonce is forgotten: the timestamp refuses.
        clock.jump(400)
        status, answer = await post_order(server, body, headers)
        assert (status, answer["code"]) == (401, "stale_order")


async def test_a_non_ascii_signature_header_is_a_typed_401():
    clock = FakeClock(NOON)
    async with nudge_server(clock) as server:
        body = orjson.dumps({"order": "9001", "buyer": "ann", "status": "created"})
        headers = {**signed(body, NOON), "X-Kefu-Signature": "sha256=签名"}
        status, answer = await post_order(server, body, headers)
        assert status == 401
        assert_error(answer, "bad_signature", "missing or wrong X-Kefu-Signature header")


async def test_an_old_created_never_reopens_a_paid_order_past_its_close_window(tmp_path):
    clock = FakeClock(NOON)
    config = make_config(db=str(tmp_path / "kefu.db"), nudges=NUDGES)
    async with running_server(config, clock) as server, client(server.ws_url) as alice:
        await alice.request({**ORDER, "id": "o1", "status": "created"})
        await alice.request({**ORDER, "id": "o2", "status": "paid"})
    clock.jump(NUDGES.close_after_s + 3600)  # past the close window, and a restart
    async with running_server(config, clock) as server, client(server.ws_url) as alice:
        assert server.service.nudges.orders == {}  # not loaded: closed by now
        answer = await alice.request({**ORDER, "id": "o3", "status": "created"})
        assert answer["type"] == "ack"
        (order,) = server.service.nudges.orders.values()
        assert (order.status, order.created_at) == ("paid", NOON)
        assert server.service.nudges.nudges == {}  # nothing planned: no one chases a paid buyer
