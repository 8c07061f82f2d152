from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import RunningServer, running_server
from tests.redis_server import RedisServer


@pytest.fixture
async def server() -> RunningServer:
    async with running_server() as running:
        yield running


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One server for the contract suite: no persistence, each test flushes it first."""
    server = RedisServer(tmp_path_factory.mktemp("redis"), "--appendonly", "no").start()
    yield server
    server.kill()


@pytest.fixture
def make_redis(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """Start a server of the test's own with extra options; every one is killed at the end."""
    servers: list[RedisServer] = []

    def start(*options: str) -> RedisServer:
        directory = tmp_path / f"redis-{len(servers)}"
        directory.mkdir()
        servers.append(RedisServer(directory, *options).start())
        return servers[-1]

    yield start
    for server in servers:
        server.kill()
