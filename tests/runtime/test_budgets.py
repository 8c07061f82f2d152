"""Budgets where a client controls the work (issue 14): one agent cannot stall the others.

The server runs as its own process, so its event loop is not shared with the clients measuring it.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import orjson
from websockets.asyncio.client import ClientConnection, connect

from server.core.intent import MAX_CHARS, clean
from server.core.tokenize import fix_typos
from tests.helpers import Client, client, make_config, running_server
from tests.process import start_server

# The server as deployed, not under asyncio's debug mode (make test sets it for the test process).
ENV = {"KEFU_TOKENS": "tok-heavy:hana:shop-a,tok-ping:pete:shop-a", "PYTHONASYNCIODEBUG": ""}
# 25,000 characters, mixed Chinese and ASCII so the frame (44 KB) stays under KEFU_MAX_FRAME.
LONG_LINE = ("请问这个有货吗 what size " * 1400)[:25_000]


async def hello(conn: ClientConnection, token: str) -> None:
    await conn.send(orjson.dumps({"type": "hello", "token": token, "platform": "taobao"}))
    for kind in ("welcome", "state", "kpi"):
        assert orjson.loads(await conn.recv())["type"] == kind


async def heavy_sender(url: str, stop: asyncio.Event, answered: list[int]) -> None:
    """Buyer lines of 25,000 characters at 45 a second, under the default rate of 50."""
    async with connect(url, compression=None, max_queue=None) as conn:
        await hello(conn, "tok-heavy")

        async def read() -> None:
            async for raw in conn:
                if orjson.loads(raw)["type"] == "suggestions":
                    answered[0] += 1

        reader = asyncio.create_task(read())
        number = 0
        while not stop.is_set():
            number += 1
            await conn.send(orjson.dumps({
                "type": "message", "id": f"m{number}", "conversation": f"c{number % 50}",
                "buyer": "b", "from": "buyer", "text": LONG_LINE,
            }))  # fmt: skip
            await asyncio.sleep(1 / 45)
        reader.cancel()


async def ping_times(url: str, count: int) -> list[float]:
    async with connect(url, compression=None) as conn:
        await hello(conn, "tok-ping")
        times = []
        for number in range(count):
            started = time.perf_counter()
            await conn.send(orjson.dumps({"type": "ping", "id": f"p{number}"}))
            while orjson.loads(await conn.recv()).get("ref") != f"p{number}":
                pass
            times.append(time.perf_counter() - started)
            await asyncio.sleep(0.02)
        return times


async def test_long_buyer_lines_at_the_allowed_rate_leave_other_agents_responsive(tmp_path):
    server = start_server(tmp_path, **ENV)
    try:
        url = server.urls["websocket"]
        stop, answered = asyncio.Event(), [0]
        sender = asyncio.create_task(heavy_sender(url, stop, answered))
        await asyncio.sleep(0.5)  # the sender is at its rate before the pings start
        times = await ping_times(url, 150)
        stop.set()
        await sender
    finally:
        assert server.stop() == 0
    p99 = statistics.quantiles(times, n=100)[98]
    assert answered[0] > 100  # every line was taken and answered, none dropped
    assert p99 < 0.1, f"ping p99 {p99 * 1000:.0f} ms"


async def test_a_line_over_the_suggestion_budget_gets_none_and_its_clock_runs():
    # A budget no suggester can meet: the answer is an empty list, never an error or a stall.
    async with running_server(make_config(suggest_budget_ms=1e-6)) as server:
        async with client(server.ws_url) as alice:
            answer = await alice.request({
                "type": "message", "id": "m1", "conversation": "c1", "buyer": "tom",
                "from": "buyer", "text": "请问有货吗",
            })  # fmt: skip
            assert answer["type"] == "suggestions" and answer["items"] == []
            timer = await alice.recv_type("timer")
            assert (timer["conversation"], timer["level"]) == ("c1", "waiting")
        metrics = server.service.metrics.render().decode()
        assert 'kefu_suggestions_skipped_total{reason="budget"} 1.0' in metrics


async def test_only_the_start_of_a_long_line_is_tokenised():
    async with running_server() as server:
        seen: list[str] = []
        tokenizer = server.service.library.suggester._tokenizer
        original = tokenizer.cut

        def spy(text):
            seen.append(text)
            return original(text)

        tokenizer.cut = spy
        pasted = "".join(chr(0x4E00 + n % 499) for n in range(10_000))  # no repeat to collapse
        async with client(server.ws_url) as alice:
            await send_buyer_line(alice, "发什么快递" + pasted)
        cut = ("发什么快递" + pasted)[:MAX_CHARS]
        assert seen == [fix_typos(clean(cut).text)]  # the first MAX_CHARS, cleaned
        assert len(seen[0]) == MAX_CHARS


async def send_buyer_line(alice: Client, text: str) -> dict:
    return await alice.request({
        "type": "message", "id": "m1", "conversation": "c1", "buyer": "tom", "from": "buyer",
        "text": text,
    })  # fmt: skip
