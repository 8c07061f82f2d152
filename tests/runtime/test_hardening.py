"""Abuse that must not stall or lock out the server: idle sockets, descriptor exhaustion, a
library that cannot be read or loses a rule pack, half-open handshakes."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import resource
import shutil
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from server.runtime import library as library_module
from server.runtime.app import WATCHER
from tests.helpers import RunningServer, client, make_config, running_server
from tests.process import start_server

PHRASES = Path(__file__).parents[2] / "phrases"


async def healthz(server) -> tuple[int, dict]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(server.http_url + "/healthz") as resp,
    ):
        return resp.status, await resp.json()


@asynccontextmanager
async def with_library_copy(tmp_path: Path) -> AsyncIterator[tuple[RunningServer, Path]]:
    """A server on a copy of the phrase library, which the test may edit."""
    library = tmp_path / "phrases"
    shutil.copytree(PHRASES, library)
    async with running_server(make_config(phrases=str(library))) as server:
        yield server, library


@asynccontextmanager
async def dashboard_feed(server: RunningServer) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    """A supervisor's live feed, past its snapshot: an HTTP connection busy as long as it lives."""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{server.http_url}/dashboard/live?token=tok-sup") as feed,
    ):
        assert (await feed.receive_json())["type"] == "snapshot"
        yield feed


async def check(c, text: str) -> bool:
    return (await c.request({"type": "check", "id": "k", "text": text}))["ok"]


async def test_a_failing_library_poll_is_reported_and_the_watcher_keeps_reloading(
    tmp_path, monkeypatch
):
    async with with_library_copy(tmp_path) as (server, library):
        watcher = server.app[WATCHER]
        before = server.service.library.version

        def out_of_descriptors(directory):
            raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))

        # The edit is seen, but loading it fails: the process is out of descriptors.
        (library / "banned" / "rude.yaml").write_text("rules: []\n", encoding="utf-8")
        monkeypatch.setattr(library_module, "load", out_of_descriptors)
        await watcher.poll()
        status, health = await healthz(server)
        assert (status, health["library"], health["library_error"]) == (
            200, before, f"{library}: cannot read the library: too many open files",
        )  # fmt: skip
        monkeypatch.undo()
        await watcher.poll()  # no further edit: the failed one is loaded now
        status, health = await healthz(server)
        assert health["library_error"] is None
        assert health["library"] != before

        def broken(directory):
            raise RuntimeError("a bug")

        monkeypatch.setattr(library_module, "load", broken)
        (library / "banned" / "rude.yaml").write_text("rules: []\n\n", encoding="utf-8")
        await watcher.poll()
        assert (await healthz(server))[1]["library_error"] == (
            f"{library}: reload failed: RuntimeError"
        )


async def test_deleting_a_rule_pack_is_not_a_valid_reload(tmp_path):
    async with with_library_copy(tmp_path) as (server, library):
        watcher = server.app[WATCHER]
        before = server.service.library.version
        async with client(server.ws_url) as c:
            assert await check(c, "加我微信聊") is False
            (library / "banned" / "offsite.yaml").unlink()
            await watcher.poll()
            assert server.service.library.version == before
            assert await check(c, "加我微信聊") is False  # the offsite rules stay in force
            status, health = await healthz(server)
            assert health["library_error"] == (
                "offsite.yaml: rule pack removed; its rules stay in force until it is restored "
                "or the server restarts"
            )
            shutil.copy(PHRASES / "banned" / "offsite.yaml", library / "banned" / "offsite.yaml")
            await watcher.poll()
            assert (await healthz(server))[1]["library_error"] is None
            assert server.service.library.version == before


def idle_sockets(url: str, count: int) -> list[socket.socket]:
    """``count`` connections to the server at ``url`` that never send a byte."""
    host, port = url.split("://")[1].rstrip("/").split(":")
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            sock.connect((host, int(port)))
        sockets.append(sock)
    return sockets


def descriptors_512() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (512, 512))


async def test_600_idle_sockets_per_port_at_512_descriptors_leave_handshakes_and_healthz_working(
    tmp_path,
):
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < 1024:
        pytest.skip("the test itself needs more than 600 descriptors")
    server = start_server(tmp_path, descriptors_512, KEFU_TOKENS="t1:alice:s1")
    try:
        idle = idle_sockets(server.urls["http"], 600) + idle_sockets(server.urls["websocket"], 600)
        for _ in range(3):  # three times over, with all 600 still open on our side
            async with (
                aiohttp.ClientSession() as session,
                session.get(server.urls["http"].rstrip("/") + "/healthz") as resp,
            ):
                assert (resp.status, (await resp.json())["status"]) == (200, "ok")
            async with connect(server.urls["websocket"]) as conn:
                await conn.send(orjson.dumps({"type": "hello", "token": "t1", "platform": "jd"}))
                assert orjson.loads(await conn.recv())["type"] == "welcome"
        for sock in idle:
            sock.close()
    finally:
        assert server.stop() == 0
    assert "Too many open files" not in (tmp_path / "server.log").read_text()


async def test_past_the_http_cap_the_oldest_idle_connection_makes_room_never_a_busy_one():
    async with running_server(make_config(http_max_connections=3)) as server:
        host, port = server.http_url.removeprefix("http://").split(":")
        async with dashboard_feed(server) as feed:
            first = await asyncio.open_connection(host, int(port))
            second = await asyncio.open_connection(host, int(port))
            assert (await healthz(server))[0] == 200  # room made by closing `first`
            assert await asyncio.wait_for(first[0].read(), 5) == b""
            third = await asyncio.open_connection(host, int(port))  # healthz's has gone: room
            fourth = await asyncio.open_connection(host, int(port))  # closes `second`
            assert await asyncio.wait_for(second[0].read(), 5) == b""
            assert not feed.closed
            fourth[1].write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (await fourth[0].readline()).startswith(b"HTTP/1.1 200")
            for _, writer in (first, second, third, fourth):
                writer.close()


async def test_when_every_held_http_connection_is_busy_the_new_one_gets_503():
    async with running_server(make_config(http_max_connections=1)) as server:
        host, port = server.http_url.removeprefix("http://").split(":")
        async with dashboard_feed(server) as feed:
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            refused = await asyncio.wait_for(reader.read(), 5)
            assert refused.split(b"\r\n")[0] == b"HTTP/1.1 503 Service Unavailable"
            writer.close()
            assert not feed.closed


async def test_slow_headers_are_cut_off_and_a_slow_body_gets_a_typed_408():
    async with running_server(make_config(http_timeout_s=0.3)) as server:
        host, port = server.http_url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            b"POST /api/check HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok-a1\r\n"
            b'Content-Length: 100\r\n\r\n{"text":'
        )
        answer = (await asyncio.wait_for(reader.readuntil(b'"}'), 5)).decode()
        writer.close()
        assert answer.startswith("HTTP/1.1 408 Request Timeout\r\n")
        assert answer.endswith(
            '{"type":"error","code":"request_timeout","error":"request body not received within '
            '0.3 s"}'
        )


async def test_past_the_websocket_cap_a_handshake_gets_503():
    async with running_server(make_config(ws_max_connections=1)) as server, client(server.ws_url):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(server.ws_url):
                pass
        assert refused.value.response.status_code == 503


async def test_past_the_websocket_cap_the_oldest_unauthenticated_socket_makes_room():
    config = make_config(ws_max_connections=3)
    async with running_server(config) as server, client(server.ws_url) as alice:
        host, port = server.ws_url.removeprefix("ws://").split(":")
        first = await asyncio.open_connection(host, int(port))
        second = await asyncio.open_connection(host, int(port))  # the cap: alice and two
        async with client(server.ws_url, token="tok-a2") as amy:  # makes room: `first` goes
            assert await asyncio.wait_for(first[0].read(), 5) == b""
            assert (await amy.request({"type": "ping", "id": "p"}))["type"] == "pong"
        assert (await alice.request({"type": "ping", "id": "p"}))["type"] == "pong"
        for _, writer in (first, second):
            writer.close()
