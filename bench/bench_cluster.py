"""Scenario (issue 10): the server on Redis, one process and two.

Throughput. The load of bench_pipeline (``CONNECTIONS`` closed-loop connections, ``WINDOW``
buyer messages in flight on each, every one on a new conversation) spread over ``SHOPS`` shops,
one agent per connection (token ``t<n>:agent<n>:shop<n % SHOPS>``), from two load-generator
processes: one drives the first half of the shops, the other the second half. With two server
processes each generator talks to its own process, so the first connection of a shop claims it
there and every shop is served by the process its agents are connected to (checked through the
``kefu:owner:<shop>`` leases). With one process both generators talk to it. The same single
process on SQLite is the baseline of what Redis costs. Redis runs with the settings docs/deploy.md
requires (``appendonly yes``, ``appendfsync always``), its files in a temp directory on local disk.
Server and Redis CPU per message are read from ``/proc`` over the timed window. On a 2-core
machine the two server processes share the cores with Redis and the load generators.

Redis commands per buyer message. A fixed number of buyer messages on distinct conversations
(``WINDOW`` in flight on each connection of the five agents of one shop) goes through the process
that owns the shop, then through a process that relays them to the owner (the agents connected to
the other process). The figure is the delta of the ``calls=`` of ``INFO commandstats`` (every
command inside a ``MULTI``/``EXEC`` counts, as do ``MULTI`` and ``EXEC``) once the store has
written every conversation, less what the processes send when idle (leases, scans, blocking
stream reads: measured over ``IDLE_S`` just before, pro rata), divided by the number of messages.
The bench's own ``INFO`` and ``HLEN`` calls are left out.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import orjson
import redis

from bench.common import (
    LoadGenerator,
    Spawned,
    buyer_messages,
    chunks,
    cpu_seconds,
    figure,
    kefu_server,
)
from bench.loadgen import close_all, open_all
from tests.redis_server import RedisServer

SHOPS = 10
CONNECTIONS = 50
WINDOW = 4
LOOP = "uvloop"  # the loop the server ships with; bench_pipeline compares the two
REDIS_OPTIONS = ("--appendonly", "yes", "--appendfsync", "always")
BENCH_COMMANDS = ("info", "hlen")  # what this module itself sends to Redis
IDLE_S = {True: 0.5, False: 2.0}  # by quick
CONVERSATIONS = "kefu:conversations"  # RedisStore's hash of every conversation
OWNER = "kefu:owner:"  # + shop: the cluster's lease, naming the owning node


def token(n: int) -> str:
    return f"t{n}:agent{n}:shop{n % SHOPS}"


def shop_of(credential: str) -> str:
    return credential.rsplit(":", 1)[1]


TOKENS = [token(n) for n in range(CONNECTIONS)]


@contextmanager
def redis_server() -> Iterator[tuple[RedisServer, int]]:
    """A fresh redis-server with the settings docs/deploy.md requires, and its pid."""
    with tempfile.TemporaryDirectory(prefix="kefu-bench-redis-") as directory:
        server = RedisServer(Path(directory), *REDIS_OPTIONS).start()
        assert server.process is not None
        try:
            yield server, server.process.pid
        finally:
            server.kill()


# The load generator never answers its buyer lines, so every line leaves a round open. With the
# default targets their warnings (10 s) and due times (15 s) would start firing in a later phase
# on the same processes, and that phase would measure a storm of timer pushes instead of buyer
# messages. Targets past the end of the run keep each phase to what it says it measures.
QUIET_TIMERS = {"taobao": {"warn_s": 3600, "due_s": 3600, "overdue_s": 3600, "target_s": 3600}}


@contextmanager
def kefu_nodes(processes: int, redis_url: str | None) -> Iterator[list[Spawned]]:
    """``processes`` servers with every token; on Redis when ``redis_url`` is given."""
    with ExitStack() as stack:
        yield [
            stack.enter_context(
                kefu_server(
                    LOOP,
                    len(TOKENS),
                    timers=QUIET_TIMERS,
                    tokens=TOKENS,
                    KEFU_REDIS_URL=redis_url or "",
                )
            )
            for _ in range(processes)
        ]


# --- throughput -----------------------------------------------------------------------------


def throughput(
    targets: Sequence[Spawned], nodes: Sequence[Spawned], redis_pid: int | None, quick: bool
) -> dict[str, float]:
    """Two closed-loop generators, one per half of the shops, the first on ``targets[0]``, the
    second on ``targets[1]``; CPU is summed over ``nodes``."""
    by_shop = sorted(TOKENS, key=lambda credential: int(shop_of(credential).removeprefix("shop")))
    halves = chunks(by_shop, 2)
    server_pids = [node.pid for node in nodes]
    with tempfile.TemporaryDirectory() as workdir:
        generators = []
        try:
            for index, half in enumerate(halves):
                spec = {
                    "mode": "throughput",
                    "kind": "kefu",
                    "url": targets[index].ws_url,
                    "connections": len(half),
                    "tokens": [credential.split(":", 1)[0] for credential in half],
                    "platform": "taobao",
                    "window": WINDOW,
                    "warmup_s": 0.5 if quick else 2.0,
                    "duration_s": 1.5 if quick else 8.0,
                    "messages": buyer_messages(),
                }
                generators.append(LoadGenerator(spec, Path(workdir)))
            for generator in generators:
                generator.next_event()  # measure
            server_before = sum(cpu_seconds(pid) for pid in server_pids)
            redis_before = cpu_seconds(redis_pid) if redis_pid else 0.0
            for generator in generators:
                generator.next_event()  # measured
            server_used = sum(cpu_seconds(pid) for pid in server_pids) - server_before
            redis_used = (cpu_seconds(redis_pid) if redis_pid else 0.0) - redis_before
            results = [generator.next_event() for generator in generators]
        finally:
            for generator in generators:
                generator.finish()
    failed = [result["error"] for result in results if "error" in result]
    if failed:
        raise RuntimeError(f"load generator failed: {failed[0]}")
    completed = sum(result["completed"] for result in results)
    return {
        "per_s": sum(result["per_s"] for result in results),
        "server_cpu_us": server_used / max(completed, 1) * 1e6,
        "redis_cpu_us": redis_used / max(completed, 1) * 1e6,
    }


def check_owners(server: RedisServer, nodes: Sequence[Spawned]) -> None:
    """Each half of the shops must be owned by the process its agents talk to."""
    shops = [f"shop{n}" for n in range(SHOPS)]
    for index, half in enumerate(chunks(shops, 2)):
        pid = str(nodes[index].pid)
        for shop in half:
            owner = server.command("GET", OWNER + shop)
            if owner is None or owner.decode().rsplit("-", 2)[1] != pid:
                logs = "\n".join(server_log(node)[-1500:] for node in nodes)
                raise RuntimeError(
                    f"shop {shop!r} is owned by {owner!r}, not by pid {pid}:\n{logs}"
                )


def server_log(node: Spawned) -> str:
    assert node.workdir is not None
    return (Path(node.workdir.name) / "server.log").read_text(encoding="utf-8")


# --- Redis commands per message -------------------------------------------------------------


def command_calls(client: redis.Redis) -> dict[str, int]:
    """``calls`` per command from ``INFO commandstats``, less the bench's own."""
    stats: dict[str, dict[str, int]] = client.info("commandstats")
    calls = {}
    for name, fields in stats.items():
        command = name.removeprefix("cmdstat_")
        if command not in BENCH_COMMANDS:
            calls[command] = int(fields["calls"])
    return calls


async def send_fixed(url: str, tokens: list[str], messages: int, tag: str) -> None:
    """``messages`` buyer messages on distinct conversations, ``WINDOW`` in flight per
    connection; returns once every one is answered with its suggestions."""
    texts = buyer_messages()
    connections = await open_all(url, list(tokens), "taobao")
    shares = [len(part) for part in chunks(range(messages), len(connections))]

    async def drive(index: int, ws: Any, share: int) -> None:
        sent = answered = 0

        async def send() -> None:
            nonlocal sent
            frame = {
                "type": "message", "id": str(sent), "conversation": f"{tag}{index}-{sent}",
                "buyer": f"b{index}-{sent}", "from": "buyer", "text": texts[sent % len(texts)],
            }  # fmt: skip
            sent += 1
            await ws.send(orjson.dumps(frame), text=True)

        for _ in range(min(WINDOW, share)):
            await send()
        async for data in ws:
            reply = orjson.loads(data)
            if reply["type"] == "error":
                raise RuntimeError(f"server refused a buyer message: {reply}")
            if reply["type"] != "suggestions":
                continue
            answered += 1
            if answered == share:
                return
            if sent < share:
                await send()

    try:
        pairs = enumerate(zip(connections, shares, strict=True))
        await asyncio.gather(*(drive(index, ws, share) for index, (ws, share) in pairs))
    finally:
        await close_all(connections)


def commands_per_message(
    server: RedisServer, url: str, tokens: list[str], messages: int, tag: str, quick: bool
) -> float:
    """Commands Redis ran for ``messages`` buyer messages, idle traffic subtracted."""
    # One connection for every INFO and HLEN: a new one would add its own CLIENT SETINFO calls.
    with redis.Redis(port=server.port) as client:

        def total() -> int:
            return sum(command_calls(client).values())

        idle_began, idle_before = time.perf_counter(), total()
        time.sleep(IDLE_S[quick])  # the idle window: what leases, scans and stream reads cost
        idle_rate = (total() - idle_before) / (time.perf_counter() - idle_began)
        stored = int(client.hlen(CONVERSATIONS))
        began, before = time.perf_counter(), total()
        asyncio.run(send_fixed(url, [t.split(":", 1)[0] for t in tokens], messages, tag))
        while int(client.hlen(CONVERSATIONS)) < stored + messages:
            time.sleep(0.01)  # polling: the service flushes conversations every 100 ms
        calls = total() - before
    return (calls - idle_rate * (time.perf_counter() - began)) / messages


def agents_of(shop: str) -> list[str]:
    return [credential for credential in TOKENS if shop_of(credential) == shop]


# --- the scenario ---------------------------------------------------------------------------


def run(quick: bool) -> list[dict]:
    messages = 1000 if quick else 2000
    with kefu_nodes(1, None) as (node,):
        sqlite = throughput([node, node], [node], None, quick)
    with redis_server() as (server, redis_pid), kefu_nodes(1, server.url) as (node,):
        single = throughput([node, node], [node], redis_pid, quick)
        owned = commands_per_message(server, node.ws_url, agents_of("shop0"), messages, "o", quick)
    with redis_server() as (server, redis_pid), kefu_nodes(2, server.url) as (first, second):
        double = throughput([first, second], [first, second], redis_pid, quick)
        check_owners(server, [first, second])
        # Every shop now has its owner: agents connected to the other process are relayed.
        relayed = throughput([second, first], [first, second], redis_pid, quick)
        check_owners(server, [first, second])  # the relayed run must not have moved any shop
        relayed_commands = commands_per_message(
            server, second.ws_url, agents_of("shop0"), messages, "r", quick
        )
    scale = f"{SHOPS} shops, {CONNECTIONS} connections, {LOOP}"
    # (figure name, this run, the run it is compared with, that run's label) per measure
    comparisons = {
        ("per_s", "msg/s", 0): [
            (f"pipeline throughput, 1 process on Redis ({scale})", single, sqlite,
             "the same process on SQLite, same run"),
            (f"pipeline throughput, 2 processes on Redis, agents on the owner ({scale})", double,
             single, "1 process on Redis, same run"),
            (f"pipeline throughput, 2 processes on Redis, every agent relayed ({scale})", relayed,
             double, "2 processes, agents on the owner"),
        ],
        ("server_cpu_us", "us", 1): [
            ("server CPU per buyer message, 1 process on Redis", single, sqlite,
             "the same process on SQLite, its writer thread included"),
            ("server CPU per buyer message, 2 processes on Redis, agents on the owner", double,
             single, "1 process on Redis"),
            ("server CPU per buyer message, 2 processes on Redis, every agent relayed (both)",
             relayed, double, "2 processes, agents on the owner"),
        ],
    }  # fmt: skip
    return [
        *(
            figure(
                name,
                run[key],
                unit,
                target=None,
                baseline=base[key],
                baseline_label=label,
                digits=digits,
            )
            for (key, unit, digits), rows in comparisons.items()
            for name, run, base, label in rows
        ),
        figure(
            "redis-server CPU per buyer message (appendfsync always), 1 process",
            single["redis_cpu_us"],
            "us",
            target=None,
            digits=1,
        ),
        figure(
            "redis-server CPU per buyer message, 2 processes, every agent relayed",
            relayed["redis_cpu_us"],
            "us",
            target=None,
            baseline=single["redis_cpu_us"],
            baseline_label="1 process",
            digits=1,
        ),
        figure(
            f"Redis commands per buyer message, agents on the owner ({messages:,} messages)",
            owned,
            "commands",
            target=None,
        ),
        figure(
            f"Redis commands per buyer message, relayed by a non-owner ({messages:,} messages)",
            relayed_commands,
            "commands",
            target=None,
            baseline=owned,
            baseline_label="agents on the owner",
        ),
    ]


if __name__ == "__main__":
    for row in run(quick=True):
        print(row)
