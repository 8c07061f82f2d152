"""Scenario (issue 17): how soon a SIGKILLed owner's due warning reaches its agent, on Redis.

Failover. Real processes on a real redis-server (the settings docs/deploy.md requires, as in
bench_cluster). One process, the *survivor*, runs throughout; each round starts a new process,
the *owner*, whose agent connects first and so makes it the owner of a new shop. A second agent
of the shop connects to the survivor, which relays it to the owner, and sends a buyer line. Once
the round is in Redis (the owner writes every 100 ms) the owner is SIGKILLed just before the
line's warning (``WARN_S`` after it) falls due, so only the survivor can deliver it. The figure is
the time from the kill to the first frame at the agent that shows the warning: the survivor
takes the shop over, closes the relayed socket with 1012, the agent reconnects at once with
``resume`` and is told the warning (a ``timer`` push, or its first ``state`` page if the
survivor fired it before the agent was back). The worst of ``ROUNDS`` rounds is held to the target;
the baseline is the heartbeat TTL, the wait no takeover can beat.

Idle cost. Redis commands per second per process while nothing happens (two processes, the
survivor owning every shop of the rounds, the other none), from ``INFO commandstats`` over
``IDLE_S``: the price of noticing a death that fast (heartbeats and scans).
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import orjson
import redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.bench_cluster import command_calls, redis_server
from bench.common import figure, kefu_server
from server.runtime.cluster import HEARTBEAT_MS
from tests.redis_server import until_stored

ROUNDS = {True: 3, False: 10}  # by quick
IDLE_S = {True: 2.0, False: 5.0}
WARN_S = 1.0
KILL_BEFORE_DUE_S = 0.05  # the kill lands this long before the warning falls due
TIMERS = {"taobao": {"warn_s": WARN_S, "due_s": 3600, "overdue_s": 3600, "target_s": 3600}}
LOOP = "uvloop"


def token(n: int) -> str:
    return f"t{n}:agent{n}:shop{n}"


async def join(url: str, credential: str, resume: int | None = None) -> ClientConnection:
    conn = await connect(url, compression=None, max_size=None)
    hello: dict[str, Any] = {"type": "hello", "token": credential, "platform": "taobao"}
    if resume is not None:
        hello["resume"] = resume
    await conn.send(orjson.dumps(hello), text=True)
    return conn


def shows_warning(frame: dict[str, Any]) -> bool:
    if frame["type"] == "timer":
        return bool(frame["level"] == "warn")
    if frame["type"] == "state":
        return any(c["level"] == "warn" for c in frame["conversations"])
    return False


async def one_round(
    survivor_url: str, owner_url: str, n: int, redis_url: str, kill: Callable[[], None]
) -> float:
    """Seconds from the owner's SIGKILL to the warning at the relayed agent."""
    on_owner = await join(owner_url, f"t{n}")  # claims shop n for the new process
    async for raw in on_owner:
        if orjson.loads(raw)["type"] == "state":
            break
    relay = await join(survivor_url, f"t{n}")
    line = {"type": "message", "id": "m", "conversation": f"c{n}", "buyer": "tom",
            "from": "buyer", "text": "在吗，什么时候发货"}  # fmt: skip
    await relay.send(orjson.dumps(line), text=True)
    seq, started_at = 0, None
    async for raw in relay:
        frame = orjson.loads(raw)
        seq = max(seq, frame.get("seq", 0))
        if frame["type"] == "timer" and frame["level"] == "waiting":
            started_at = frame["started_at"]
            break
    assert started_at is not None
    await until_stored(redis_url, f"shop{n}", f"c{n}")
    await asyncio.sleep(max(0.0, started_at + WARN_S - KILL_BEFORE_DUE_S - time.time()))
    killed_at = time.monotonic()
    kill()
    with contextlib.suppress(ConnectionClosed):  # until the survivor closes it (1012)
        async for raw in relay:
            seq = max(seq, orjson.loads(raw).get("seq", 0))
    if relay.close_code != 1012:
        raise RuntimeError(f"relayed socket closed with {relay.close_code}, not 1012")
    again = await join(survivor_url, f"t{n}", resume=seq)
    try:
        async for raw in again:
            if shows_warning(orjson.loads(raw)):
                return time.monotonic() - killed_at
        raise RuntimeError("the survivor closed the agent's socket before the warning")
    finally:
        await again.close()
        await on_owner.close()


def idle_commands_per_s(client: redis.Redis, seconds: float) -> float:
    def total() -> int:
        return sum(command_calls(client).values())

    began, before = time.perf_counter(), total()
    time.sleep(seconds)
    return (total() - before) / (time.perf_counter() - began)


def run(quick: bool) -> list[dict]:
    rounds = ROUNDS[quick]
    tokens = [token(n) for n in range(rounds)]
    times = []
    with redis_server() as (server, _), ExitStack() as stack:
        options = {"timers": TIMERS, "tokens": tokens, "KEFU_REDIS_URL": server.url}
        survivor = stack.enter_context(kefu_server(LOOP, rounds, **options))  # type: ignore[arg-type]
        for n in range(rounds):
            with kefu_server(LOOP, rounds, **options) as owner:  # type: ignore[arg-type]
                times.append(
                    asyncio.run(
                        one_round(survivor.ws_url, owner.ws_url, n, server.url, owner.proc.kill)
                    )
                )
        with kefu_server(LOOP, rounds, **options), redis.Redis(port=server.port) as client:  # type: ignore[arg-type]
            idle = idle_commands_per_s(client, IDLE_S[quick]) / 2
    floor = HEARTBEAT_MS / 1000
    floor_label = "heartbeat TTL; the last renewal before the kill was up to 0.25 s earlier"
    return [
        figure(
            f"failover, SIGKILL of the owner to its due warning at the agent, worst of {rounds}",
            max(times), "s", target=3.0, baseline=floor, baseline_label=floor_label,
        ),
        figure(
            f"failover, SIGKILL of the owner to its due warning at the agent, median of {rounds}",
            statistics.median(times), "s", target=None, baseline=floor,
            baseline_label=floor_label,
        ),
        figure(
            f"Redis commands per second per process, idle (2 processes, {rounds} shops)",
            idle, "commands/s", target=None, digits=1,
        ),
    ]  # fmt: skip


if __name__ == "__main__":
    for row in run(quick=True):
        print(row)
