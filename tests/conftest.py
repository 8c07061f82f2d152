import pytest

from tests.helpers import RunningServer, running_server


@pytest.fixture
async def server() -> RunningServer:
    async with running_server() as running:
        yield running
