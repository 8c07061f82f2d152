"""The real process: banner and demo token, SIGTERM under load, refusal without credentials."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.process import start_server


async def test_make_run_prints_urls_and_a_demo_token_that_gets_welcome(tmp_path):
    server = start_server(tmp_path)
    try:
        assert server.urls["websocket"].startswith("ws://127.0.0.1:")
        assert server.urls["demo"].endswith("/demo")
        (token,) = server.tokens
        async with connect(server.urls["websocket"]) as conn:
            await conn.send(orjson.dumps({"type": "hello", "token": token, "platform": "tmall"}))
            welcome = orjson.loads(await conn.recv())
            assert (welcome["type"], welcome["agent"], welcome["shop"]) == (
                "welcome",
                "demo",
                "demo",
            )
    finally:
        assert server.stop() == 0
    # The demo token is kept with the database, so a restart accepts the saved one.
    again = start_server(tmp_path)
    try:
        assert again.tokens == [token]
    finally:
        again.stop()


async def test_sigterm_under_load_closes_every_client_with_1001_and_exits_0(tmp_path):
    server = start_server(tmp_path, KEFU_TOKENS="t1:alice:s1,t2:bob:s1", KEFU_RATE="100000",
                          KEFU_BURST="100000")  # fmt: skip
    codes: list[int | None] = []

    async def agent(token: str, number: int, connected: asyncio.Event) -> None:
        # Closed-loop load: each agent sends a line and reads until the server has answered it.
        async with connect(server.urls["websocket"]) as conn:
            await conn.send(orjson.dumps({"type": "hello", "token": token, "platform": "jd"}))
            try:
                for line in range(10**6):
                    frame = {"type": "message", "conversation": f"c{number}-{line % 50}",
                             "buyer": "b", "from": "buyer", "text": "在吗"}  # fmt: skip
                    await conn.send(orjson.dumps({**frame, "id": str(line)}))
                    while orjson.loads(await conn.recv()).get("ref") != str(line):
                        pass
                    connected.set()  # under load: at least one line went through
            except ConnectionClosed:
                pass
            codes.append(conn.close_code)

    events = [asyncio.Event() for _ in range(20)]
    tasks = [
        asyncio.create_task(agent("t1" if n % 2 else "t2", n, event))
        for n, event in enumerate(events)
    ]
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), 10)
    server.proc.terminate()
    await asyncio.wait_for(asyncio.gather(*tasks), 15)
    assert codes == [1001] * 20
    assert server.stop() == 0


def test_refuses_to_start_without_tokens_on_a_public_address(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "server", "serve"],
        env={**os.environ, "KEFU_HOST": "0.0.0.0", "KEFU_TOKENS": "", "KEFU_DB": ":memory:"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr == (
        "kefu: no KEFU_TOKENS configured and KEFU_HOST '0.0.0.0' is not loopback: "
        "refusing to start without credentials\n"
    )


def test_an_invalid_setting_stops_start_up(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "server", "serve"],
        env={**os.environ, "KEFU_WS_PORT": "http"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (result.returncode, result.stderr) == (
        2,
        "kefu: invalid value for KEFU_WS_PORT: 'http'\n",
    )
