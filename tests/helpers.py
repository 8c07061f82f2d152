"""Shared test helpers: a real server on port 0, a protocol client, and the one error assertion."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from aiohttp import web
from websockets.asyncio.client import ClientConnection, connect

from server.runtime import http
from server.runtime.app import CAPS, WS_PORT, create_app
from server.runtime.listener import HttpListener
from server.runtime.service import Service
from server.settings import Config, Token, load_config

TOKENS = (
    Token("tok-a1", "alice", "shop-a"),
    Token("tok-a2", "amy", "shop-a"),
    Token("tok-b1", "bob", "shop-b"),
    Token("tok-sup", "lead", "shop-a", supervisor=True),
)


# The budgets guard a live server against a stalled checker or suggester; a test that is not about
# them gets roomy ones, so that a loaded CI machine (PYTHONASYNCIODEBUG=1, two cores) does not turn
# a slow first check into ``check_unavailable``. tests/runtime/test_budgets.py sets its own.
ROOMY_BUDGETS = {"check_budget_ms": 2000.0, "suggest_budget_ms": 2000.0}


def make_config(**overrides: Any) -> Config:
    base = load_config({"KEFU_DB": ":memory:", "KEFU_WS_PORT": "0", "KEFU_HTTP_PORT": "0"})
    return dataclasses.replace(base, **{"tokens": TOKENS, **ROOMY_BUDGETS, **overrides})


@dataclasses.dataclass
class RunningServer:
    app: web.Application
    ws_url: str
    http_url: str

    @property
    def service(self) -> Service:
        return self.app[http.SERVICE]


class FakeClock:
    """Epoch time that moves only when a test says so."""

    def __init__(self, now: float = 1_795_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def jump(self, seconds: float) -> None:
        self.now += seconds


@asynccontextmanager
async def running_server(
    config: Config | None = None, clock: Callable[[], float] = time.time
) -> AsyncIterator[RunningServer]:
    config = config or make_config()
    tokens = {t.token: t for t in config.tokens}
    app = create_app(config, tokens, clock)
    http_side = HttpListener(app, app[CAPS][1], config.http_timeout_s)
    try:
        http_port = await http_side.start(config.host, 0)
        yield RunningServer(
            app, f"ws://{config.host}:{app[WS_PORT]}", f"http://{config.host}:{http_port}"
        )
    finally:
        await http_side.stop()


class Client:
    """A protocol client: sends dicts, receives dicts, and never waits forever."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        self.welcome: dict[str, Any] = {}
        self.state: dict[str, Any] = {}
        self.replayed: list[dict[str, Any]] = []  # missed pushes resent after welcome
        self.kpi: dict[str, Any] = {}  # today's kpi, sent after state
        self.pending: list[dict[str, Any]] = []  # frames received while waiting for an answer

    async def send(self, frame: dict[str, Any] | str | bytes) -> None:
        await self.conn.send(
            frame if isinstance(frame, (str, bytes)) else orjson.dumps(frame).decode()
        )

    async def recv(self, wait_s: float = 5.0) -> dict[str, Any]:
        if self.pending:
            return self.pending.pop(0)
        return orjson.loads(await asyncio.wait_for(self.conn.recv(), wait_s))

    async def recv_type(self, kind: str, wait_s: float = 5.0) -> dict[str, Any]:
        """The next frame of type ``kind``, skipping others (e.g. pushes racing an answer)."""
        while True:
            frame = await self.recv(wait_s)
            if frame["type"] == kind:
                return frame

    async def request(self, frame: dict[str, Any]) -> dict[str, Any]:
        """Send a frame with an id and return the frame whose ``ref`` answers it."""
        await self.send(frame)
        skipped = []
        while True:
            answer = orjson.loads(await asyncio.wait_for(self.conn.recv(), 5.0))
            if answer.get("ref") == frame["id"]:
                self.pending += skipped
                return answer
            skipped.append(answer)


@asynccontextmanager
async def client(
    url: str, token: str = "tok-a1", platform: str = "taobao", **hello: Any
) -> AsyncIterator[Client]:
    async with connect(url, compression=None) as conn:
        c = Client(conn)
        await c.send({"type": "hello", "token": token, "platform": platform, **hello})
        c.welcome = await c.recv()
        assert c.welcome["type"] == "welcome", c.welcome
        for _ in range(c.welcome["resumed"]):
            c.replayed.append(await c.recv())
        c.state = await c.recv()
        assert c.state["type"] == "state", c.state
        c.kpi = await c.recv()
        assert c.kpi["type"] == "kpi", c.kpi
        yield c


def assert_error(frame: dict[str, Any], code: str, error: str, ref: Any = None) -> None:
    """The one check of an error frame, for websocket and HTTP alike."""
    expected = {"type": "error", "code": code, "error": error}
    if ref is not None:
        expected["ref"] = ref
    got = {k: v for k, v in frame.items() if k != "seq"}
    assert got == expected
