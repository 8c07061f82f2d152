"""Kill the real server with SIGKILL at random moments: no acknowledged order is lost or doubled."""

from __future__ import annotations

import asyncio
import random
import signal
import sqlite3

import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from server.core.nudges import NudgePolicy, plan
from tests.process import start_server

EVENTS = 1000
ENV = {"KEFU_TOKENS": "t1:alice:s1", "KEFU_RATE": "100000", "KEFU_BURST": "100000"}


async def send_until_killed(url: str, events: list[dict], acked: dict[str, dict],
                            kill_at: int | None, proc) -> tuple[int, bool]:  # fmt: skip
    """Send events ten at a time; after ``kill_at`` acks, SIGKILL the server with ten in flight.

    Returns how many events were sent, and whether the server was killed."""
    sent, killed = 0, False
    async with connect(url, max_queue=None) as conn:
        await conn.send(orjson.dumps({"type": "hello", "token": "t1", "platform": "tmall"}))
        by_id: dict[str, dict] = {}
        acked_here = 0
        try:
            while sent < len(events):
                for event in events[sent : sent + 10]:
                    by_id[event["id"]] = event
                    await conn.send(orjson.dumps(event))
                sent = min(sent + 10, len(events))
                if kill_at is not None and acked_here >= kill_at and not killed:
                    proc.send_signal(signal.SIGKILL)
                    killed = True
                while any(i not in acked for i in by_id):
                    frame = orjson.loads(await asyncio.wait_for(conn.recv(), 10))
                    if frame["type"] == "ack":
                        acked[frame["ref"]] = by_id[frame["ref"]]
                        acked_here += 1
        except ConnectionClosed:
            pass
    return sent, killed


async def test_sigkill_at_random_moments_loses_and_doubles_nothing(tmp_path):
    rng = random.Random(20261122)
    events = []
    for number in range(EVENTS):
        order = f"o{number // 2}"
        status = "created" if number % 2 == 0 or rng.random() < 0.7 else "paid"
        events.append({"type": "order", "id": f"e{number}", "order": order, "status": status,
                       "buyer": f"b{order}", "conversation": f"c{order}"})  # fmt: skip
    acked: dict[str, dict] = {}
    position, kills = 0, 0
    while position < EVENTS:
        server = start_server(tmp_path, **ENV)
        kill_at = rng.randint(20, 200) if kills < 4 else None
        sent, killed = await send_until_killed(
            server.urls["websocket"], events[position:], acked, kill_at, server.proc
        )
        position += sent
        if killed:
            kills += 1
            assert server.stop() == -signal.SIGKILL
            # Resend what was in flight: an unacknowledged event may or may not have landed.
            position = max(0, min(position, min(
                (int(e["id"][1:]) for e in events[:position] if e["id"] not in acked),
                default=position,
            )))  # fmt: skip
        else:
            assert server.stop() == 0
    assert kills == 4

    db = sqlite3.connect(tmp_path / "kefu.db")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    policy = NudgePolicy()
    final_status = {}
    for event in acked.values():
        order = event["order"]
        if final_status.get(order) != "paid":
            final_status[order] = event["status"]
    orders = {row[0]: row[1:] for row in db.execute(
        "SELECT order_id, status, created_at FROM orders WHERE shop = 's1'")}  # fmt: skip
    assert set(orders) == set(final_status)
    for order, status in final_status.items():
        assert orders[order][0] == status, order
        states = [row[0] for row in db.execute(
            "SELECT state FROM nudges WHERE order_id = ? ORDER BY attempt", (order,))]  # fmt: skip
        planned = plan(orders[order][1], policy)
        assert len(states) == len(planned), order  # each planned nudge exactly once
        expected = "pending" if status == "created" else "done"
        assert set(states) == {expected}, order
