"""Real redis-server processes on free loopback ports (the Redis store and cluster tests)."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import redis

START_DEADLINE_S = 10.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """One redis-server child process; ``restart`` keeps its port and data directory."""

    def __init__(self, directory: Path, *options: str) -> None:
        self.directory = directory
        self.options = options
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        if shutil.which("redis-server") is None:
            pytest.fail("redis-server is not installed: run scripts/ensure_redis.sh")
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.directory),
                "--save",
                "",
                "--maxmemory-policy",
                "noeviction",
                *self.options,
            ],  # fmt: skip
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_until_it_answers()
        return self

    def _wait_until_it_answers(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_DEADLINE_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"redis-server exited with {self.process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(64).startswith(b"+PONG"):  # not "-LOADING" while reading its AOF
                        return
            except OSError:
                pass
            time.sleep(0.01)  # a poll interval, not a wait for something to have happened
        pytest.fail(f"redis-server on port {self.port} did not answer within {START_DEADLINE_S} s")

    def command(self, *args: Any) -> Any:
        with redis.Redis(port=self.port) as client:
            return client.execute_command(*args)

    def kill(self) -> None:
        """SIGKILL: a crash, with no chance to save anything on the way out."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def restart(self) -> None:
        self.kill()
        self.start()


async def until_stored(url: str, shop: str, conversation: str) -> None:
    """Until the store holds the conversation (a server writes every 100 ms): what a process
    killed before that loses is documented, not what the failover tests and bench measure.
    Woken by Redis's keyspace notifications, subscribed to before the first look."""
    import orjson
    import redis.asyncio as aioredis

    field = orjson.dumps([shop, conversation])
    async with aioredis.from_url(url) as client, client.pubsub() as pubsub:
        await client.config_set("notify-keyspace-events", "Kh")
        await pubsub.subscribe("__keyspace@0__:kefu:conversations")
        while not await client.hexists("kefu:conversations", field):  # type: ignore[misc]
            await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
