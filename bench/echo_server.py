"""The baseline server: a bare ``websockets`` echo with the settings the kefu server uses
(compression off, the same ``max_size``, ping interval and write limit), on a chosen loop.

``python -m bench.echo_server --loop uvloop|asyncio [--max-size N]`` prints ``port N`` once it
listens and echoes every frame until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed


async def echo(conn: ServerConnection) -> None:
    try:
        async for frame in conn:
            await conn.send(frame)
    except ConnectionClosed:
        pass


async def main(max_size: int) -> None:
    async with serve(
        echo,
        "127.0.0.1",
        0,
        compression=None,
        max_size=max_size,
        ping_interval=20,
        ping_timeout=20,
        close_timeout=2,
        write_limit=1048576,
    ) as server:
        print("port", server.sockets[0].getsockname()[1], flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), required=True)
    parser.add_argument("--max-size", type=int, default=65536)
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(main(args.max_size))
    else:
        asyncio.run(main(args.max_size))
