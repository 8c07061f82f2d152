"""The websocket server on real sockets (port 0): authentication, limits, errors, isolation."""

from __future__ import annotations

import asyncio
import random
import socket
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.helpers import assert_error, client, make_config, running_server


async def closed_with(conn: Any) -> tuple[int | None, str | None]:
    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(conn.recv(), 10)
    return conn.close_code, conn.close_reason


async def test_hello_gets_welcome_then_state(server):
    async with client(server.ws_url, platform="jd") as c:
        welcome = c.welcome
        assert welcome["agent"] == "alice" and welcome["shop"] == "shop-a"
        assert welcome["platform"] == "jd"
        assert welcome["settings"]["timers"] == {
            "warn_s": 20.0, "due_s": 30.0, "overdue_s": 180.0, "follow_up_s": 900.0,
            "target_s": 30.0,
        }  # fmt: skip
        assert welcome["resync"] is False and welcome["resumed"] == 0
        assert c.state["seq"] == welcome["seq"] + 1
        assert c.state["conversations"] == [] and c.state["nudges"] == []
        assert c.state["kpi"]["rounds"] == 0
        assert c.kpi == {"type": "kpi", "seq": c.state["seq"] + 1, **c.state["kpi"]}


async def test_unknown_token_closes_4401(server):
    async with connect(server.ws_url) as conn:
        await conn.send(orjson.dumps({"type": "hello", "token": "nope", "platform": "jd"}).decode())
        assert await closed_with(conn) == (4401, "unknown token")


async def test_first_frame_must_be_hello(server):
    async with connect(server.ws_url) as conn:
        await conn.send('{"type": "ping"}')
        assert await closed_with(conn) == (4401, "expected 'hello' first, got 'ping'")


async def test_token_bound_to_its_shop(server):
    async with connect(server.ws_url) as conn:
        hello = {"type": "hello", "token": "tok-a1", "platform": "jd", "shop": "shop-b"}
        await conn.send(orjson.dumps(hello).decode())
        assert await closed_with(conn) == (4401, "token is not valid for shop 'shop-b'")


async def test_no_hello_in_time_closes_4401():
    async with running_server(make_config(hello_timeout_s=0.2)) as srv, connect(srv.ws_url) as conn:
        assert await closed_with(conn) == (4401, "no hello within 0.2 s")


async def test_default_hello_timeout_is_five_seconds():
    assert make_config().hello_timeout_s == 5.0


async def test_disallowed_origin_gets_403():
    config = make_config(origins=("chrome-extension://abcdefghijklmnop",))
    async with running_server(config) as srv:
        with pytest.raises(InvalidStatus) as caught:
            async with connect(srv.ws_url, origin="https://evil.example"):
                pass
        assert caught.value.response.status_code == 403
        async with client(srv.ws_url, origin="chrome-extension://abcdefghijklmnop") as c:
            assert c.welcome["type"] == "welcome"


async def test_frame_over_64_kib_closes_1009(server):
    async with client(server.ws_url) as c:
        await c.send({"type": "check", "id": "big", "text": "好" * (65 * 1024 // 3 + 1)})
        code, _ = await closed_with(c.conn)
        assert code == 1009


# --- malformed frames ---------------------------------------------------------------------

VALID = {
    "message": {"conversation": "c1", "buyer": "b1", "from": "buyer", "text": "在吗"},
    "check": {"text": "您好"},
    "order": {"order": "o1", "buyer": "b1", "status": "created"},
    "focus": {"conversation": "c1"},
    "nudge_ack": {"nudge": "n1", "action": "sent"},
    "suggestion_used": {"phrase": "p1", "conversation": "c1"},
}
WRONG_VALUES: list[Any] = [1, 2.5, True, [], {}, "x"]


def malformed_frames(count: int, seed: int = 7) -> list[tuple[str, str]]:
    """``count`` (frame, expected error code) pairs of many kinds, reproducibly."""
    rng = random.Random(seed)
    frames: list[tuple[str, str]] = []
    while len(frames) < count:
        kind = rng.randrange(7)
        if kind == 0:
            junk = "".join(rng.choice('{}[]:,"abc 1\\') for _ in range(rng.randint(1, 30)))
            try:
                orjson.loads(junk)
            except orjson.JSONDecodeError:
                frames.append((junk, "bad_json"))
        elif kind == 1:
            not_object = rng.choice([[1, 2], 3, "s", None, True])
            frames.append((orjson.dumps(not_object).decode(), "bad_frame"))
        elif kind == 2:
            frames.append((orjson.dumps({"id": str(rng.random())}).decode(), "missing_field"))
        elif kind == 3:
            name = rng.choice(["chek", "hello2", "", "MESSAGE", 5, None])
            frames.append((orjson.dumps({"type": name}).decode(), "unknown_type"))
        else:
            mtype, fields = rng.choice(list(VALID.items()))
            frame = {"type": mtype, **fields}
            name = rng.choice(list(fields))
            if kind == 4:
                del frame[name]
                frames.append((orjson.dumps(frame).decode(), "missing_field"))
            else:
                # A wrong JSON type, or a string outside the choices of an enumerated field.
                choice_field = name in ("from", "status", "action")
                frame[name] = (
                    "payed"
                    if choice_field and rng.random() < 0.5
                    else rng.choice([v for v in WRONG_VALUES if type(v) is not str])
                )
                frames.append((orjson.dumps(frame).decode(), "bad_field"))
    return frames


async def test_a_thousand_malformed_frames_each_get_an_error_and_the_connection_survives():
    config = make_config(rate=1e6, burst=10**6)
    async with running_server(config) as srv, client(srv.ws_url) as c:
        frames = malformed_frames(1000)
        assert len({code for _, code in frames}) == 5
        for frame, _ in frames:
            await c.send(frame)
        answers = [await c.recv() for _ in frames]
        assert [a["code"] for a in answers] == [code for _, code in frames]
        assert all(a["type"] == "error" for a in answers)
        assert await c.request({"type": "ping", "id": "still-there"}) == {
            "type": "pong", "ref": "still-there", "seq": answers[-1]["seq"] + 1,
        }  # fmt: skip


@pytest.mark.parametrize(
    ("frame", "code", "error"),
    [
        ("{nope", "bad_json", "frame is not valid json: '{nope'"),
        ("[1, 2]", "bad_frame", "frame is not a json object: '[1,2]'"),
        ('{"id": "x"}', "missing_field", "missing field: 'type'"),
        ('{"type": "chek", "id": "x"}', "unknown_type", "unknown message type: 'chek'"),
        ('{"type": "check", "id": "x"}', "missing_field", "missing field 'text' in 'check'"),
        (
            '{"type": "check", "id": "x", "text": 5}',
            "bad_field",
            "field 'text' of 'check' must be a string, got 5",
        ),
        (
            '{"type": "order", "id": "x", "order": "o", "buyer": "b", "status": "payed"}',
            "bad_field",
            "field 'status' of 'order' must be one of created, paid, closed, shipped, got 'payed'",
        ),
        (
            '{"type": "message", "id": "x", "conversation": "c", "buyer": "b", "from": "buyer",'
            ' "text": "t", "ts": "yesterday"}',
            "bad_field",
            "field 'ts' of 'message' must be a number, got 'yesterday'",
        ),
        (
            '{"type": "hello", "id": "x", "token": "tok-a1", "platform": "jd"}',
            "bad_frame",
            "already authenticated: 'hello' is sent once",
        ),
    ],
)
async def test_error_frames_quote_the_bad_value(server, frame, code, error):
    async with client(server.ws_url) as c:
        await c.send(frame)
        answer = await c.recv()
        ref = "x" if '"id": "x"' in frame else None
        assert_error(answer, code, error, ref)


async def test_flooding_closes_1008():
    async with running_server(make_config(rate=10.0, burst=20)) as srv, client(srv.ws_url) as c:
        for _ in range(100):
            await c.send({"type": "ping"})
        code, reason = await closed_with(c.conn)
        assert (code, reason) == (1008, "rate limit exceeded")


async def test_a_client_that_stops_reading_is_dropped_and_others_still_flow():
    config = make_config(rate=1e6, burst=10**6, send_queue_bytes=64 * 1024)
    async with running_server(config) as srv:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        host, port = srv.ws_url.removeprefix("ws://").split(":")
        sock.connect((host, int(port)))
        async with connect(srv.ws_url, sock=sock, compression=None) as stalled:
            hello = {"type": "hello", "token": "tok-a1", "platform": "jd"}
            await stalled.send(orjson.dumps(hello).decode())
            stalled.transport.pause_reading()  # a client that never reads again
            channel = srv.service.registry.channel("shop-a", "alice")
            async with client(srv.ws_url) as busy, client(srv.ws_url, token="tok-b1") as other:
                (stalled_session,) = [
                    s for s in channel.sessions
                    if s.conn.remote_address[1] == sock.getsockname()[1]
                ]  # fmt: skip
                sent = 0
                while not stalled_session.closed:
                    sent += 1
                    assert sent < 50_000, "the stalled client was never dropped"
                    line = {"conversation": f"c{sent}", "buyer": "买" * 200, "from": "buyer"}
                    await busy.send({"type": "message", "text": "在吗", **line})
                    if sent % 100 == 0:  # let the server catch up with the sender
                        await busy.request({"type": "ping", "id": f"p{sent}"})
                # The others still flow: another shop's agent is answered, and the agent's
                # other connection got every push, a 'waiting' clock for each line.
                assert (await other.request({"type": "ping", "id": "o"}))["type"] == "pong"
                assert (await busy.request({"type": "ping", "id": "b"}))["type"] == "pong"
                waiting = [
                    frame["conversation"] for frame in busy.pending
                    if frame["type"] == "timer" and frame["level"] == "waiting"
                ]  # fmt: skip
                assert waiting == [f"c{n}" for n in range(1, sent + 1)]
                # Dropped, it holds nothing: its queue was let go, and a push after the drop
                # (the clock of one more line) does not reach it.
                after = {**line, "conversation": "c-after"}
                answer = await busy.request({"type": "message", "id": "m", "text": "在吗", **after})
                assert answer["type"] == "suggestions"
                assert (len(stalled_session.outbox), stalled_session.pending) == (0, 0)


async def test_agents_only_touch_their_own_shop(server):
    line = {"type": "message", "conversation": "c1", "buyer": "buyer"}
    async with client(server.ws_url, token="tok-b1") as bob, client(server.ws_url) as alice:
        await bob.request({**line, "id": "m1", "from": "buyer", "text": "在吗"})
        waiting = await bob.recv_type("timer")
        assert (waiting["conversation"], waiting["level"]) == ("c1", "waiting")
        # Alice answers a conversation with the same id: it is her own shop's, not Bob's.
        await alice.request({**line, "id": "m2", "from": "agent", "text": "您好"})
        assert [c.conversation for c in server.service.tracker.waiting("shop-b")] == ["c1"]
        assert [c.conversation for c in server.service.tracker.waiting("shop-a")] == []
        # Bob's next frame is the answer to his own ping, not a "cleared" caused by Alice.
        assert (await bob.request({"type": "ping", "id": "p"}))["type"] == "pong"


async def test_a_burst_from_one_connection_takes_turns_with_the_others():
    """A burst is handled frame by frame between other connections' frames: a ping sent on a
    second connection after 500 on the first is answered before most of them."""
    config = make_config(rate=1e6, burst=10**6)
    async with running_server(config) as srv, client(srv.ws_url) as a, client(srv.ws_url) as b:
        for n in range(500):
            await a.send({"type": "ping", "id": str(n)})
        await b.send({"type": "ping", "id": "b"})
        answer = await b.recv_type("pong")
        pongs = [await a.recv_type("pong") for _ in range(500)]
        assert [pong["ref"] for pong in pongs] == [str(n) for n in range(500)]
        # One agent's connections share its seq: it numbers the answers in the order given.
        assert answer["seq"] < pongs[100]["seq"], (answer["seq"], pongs[100]["seq"])
