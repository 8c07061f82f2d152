"""The load generator: websocket clients in a process of their own, on uvloop.

``python -m bench.loadgen SPEC.json``; the spec's ``mode`` picks one of:

- ``throughput``: closed loop. Every connection keeps ``window`` buyer messages in flight, each
  on a new conversation (so each starts a reply round); a request is done when its answer arrives
  (kefu: the ``suggestions`` frame with its ``ref``; echo: the frame itself).
- ``latency``: many connected agents, open-loop buyer traffic at ``background_rate`` per second
  spread over all but the probes, and ``probes`` connections timing ``check`` and ``ping`` round
  trips one at a time. Every ``warn`` timer that arrives is compared with its due time.
- ``hold``: connect and authenticate every connection, report ``ready``, hold them idle until
  stdin closes.

Progress goes to stdout as JSON lines: ``{"event": "measure"}`` when the timed window opens,
``{"event": "ready"}`` when a holding generator is connected, and the result as the last line.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import uvloop
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.common import raise_open_files

# Per process. The server listens with asyncio's default backlog of 100: more handshakes in flight
# from all generators together overflow its accept queue and the kernel resets connections.
HANDSHAKES_AT_ONCE = 40


def emit(report: dict[str, Any]) -> None:
    print(json.dumps(report), flush=True)


async def open_connection(url: str, token: str | None, platform: str) -> ClientConnection:
    """A client connection; with a token, authenticated (``welcome`` and ``state`` received)."""
    ws = await connect(url, compression=None, max_size=None, ping_interval=None, open_timeout=120)
    if token is None:
        return ws
    await ws.send(orjson.dumps({"type": "hello", "token": token, "platform": platform}), text=True)
    while True:
        frame = orjson.loads(await ws.recv())
        if frame["type"] == "state":
            return ws
        if frame["type"] == "error":
            raise RuntimeError(f"hello refused: {frame}")


async def open_all(url: str, tokens: list[str | None], platform: str) -> list[ClientConnection]:
    gate = asyncio.Semaphore(HANDSHAKES_AT_ONCE)

    async def one(token: str | None) -> ClientConnection:
        async with gate:
            return await open_connection(url, token, platform)

    return list(await asyncio.gather(*(one(token) for token in tokens)))


async def close_all(connections: list[ClientConnection]) -> None:
    await asyncio.gather(*(ws.close() for ws in connections), return_exceptions=True)


def summary_ms(samples: list[float]) -> dict[str, float | int]:
    ordered = sorted(samples)
    if not ordered:
        return {"count": 0}

    def at(fraction: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] * 1000, 3)

    return {"count": len(ordered), "p50": at(0.5), "p99": at(0.99), "max": at(1.0)}


class Window:
    """The timed window: samples count only between ``open`` and ``close``."""

    def __init__(self) -> None:
        self.opened_at = 0.0
        self.closed_at = 0.0
        self.measuring = False
        self.stopping = False

    async def run(self, warmup_s: float, duration_s: float) -> None:
        await asyncio.sleep(warmup_s)
        self.opened_at, self.measuring = time.perf_counter(), True
        emit({"event": "measure"})
        await asyncio.sleep(duration_s)
        self.closed_at, self.measuring, self.stopping = time.perf_counter(), False, True
        emit({"event": "measured"})

    @property
    def seconds(self) -> float:
        return self.closed_at - self.opened_at


# --- throughput -----------------------------------------------------------------------------


async def throughput(spec: dict[str, Any]) -> dict[str, Any]:
    kefu = spec["kind"] == "kefu"
    tokens: list[str | None] = list(spec["tokens"]) if kefu else [None] * spec["connections"]
    connections = await open_all(spec["url"], tokens, spec["platform"])
    texts = spec["messages"]
    window = Window()
    done = [0]
    latencies: list[float] = []

    async def drive(index: int, ws: ClientConnection) -> None:
        sent_at: dict[str, float] = {}
        numbers = itertools.count()

        async def send_one() -> None:
            n = next(numbers)
            ref = str(n)
            frame = {
                "type": "message",
                "id": ref,
                "conversation": f"c{index}-{n}",
                "buyer": f"b{index}-{n}",
                "from": "buyer",
                "text": texts[(index + n) % len(texts)],
            }
            sent_at[ref] = time.perf_counter()
            await ws.send(orjson.dumps(frame), text=True)

        for _ in range(spec["window"]):
            await send_one()
        async for data in ws:
            reply = orjson.loads(data)
            ref = reply.get("ref") if kefu else reply.get("id")
            if ref is None or (kefu and reply["type"] != "suggestions"):
                continue  # timer pushes and other frames the pipeline sends along
            began = sent_at.pop(ref)
            if window.measuring:
                done[0] += 1
                latencies.append(time.perf_counter() - began)
            if window.stopping:
                return
            await send_one()

    drivers = [asyncio.create_task(drive(i, ws)) for i, ws in enumerate(connections)]
    cpu_before = time.process_time()
    await window.run(spec["warmup_s"], spec["duration_s"])
    cpu_used = time.process_time() - cpu_before
    await asyncio.wait(drivers, timeout=10)
    for task in drivers:
        task.cancel()
    await close_all(connections)
    return {
        "completed": done[0],
        "seconds": window.seconds,
        "per_s": done[0] / window.seconds,
        "latency_ms": summary_ms(latencies),
        "client_cpu_share": cpu_used / (spec["warmup_s"] + spec["duration_s"]),
    }


# --- latency under background traffic -------------------------------------------------------


async def latency(spec: dict[str, Any]) -> dict[str, Any]:
    connections = await open_all(spec["url"], list(spec["tokens"]), spec["platform"])
    probes, background = connections[: spec["probes"]], connections[spec["probes"] :]
    warn_s: float = spec["warn_s"]
    window = Window()
    waiting: dict[ClientConnection, asyncio.Future[float]] = {}
    check_rtt: list[float] = []
    ping_rtt: list[float] = []
    lateness: list[float] = []
    answered = [0]

    async def read(ws: ClientConnection) -> None:
        async for data in ws:
            received = time.time()
            frame = orjson.loads(data)
            kind = frame["type"]
            if kind == "timer" and frame["level"] == "warn" and window.measuring:
                lateness.append(received - (frame["started_at"] + warn_s))
            elif kind == "suggestions":
                answered[0] += 1
            elif kind in ("check_result", "pong", "error") and ws in waiting:
                waiting.pop(ws).set_result(time.perf_counter())

    async def probe(ws: ClientConnection, drafts: list[str]) -> None:
        loop = asyncio.get_running_loop()
        rng = random.Random(id(ws))
        for n in itertools.count():
            frames: list[tuple[list[float], dict[str, Any]]] = [
                (check_rtt, {"type": "check", "id": f"k{n}", "text": rng.choice(drafts)}),
                (ping_rtt, {"type": "ping", "id": f"p{n}"}),
            ]
            for samples, frame in frames:
                answer: asyncio.Future[float] = loop.create_future()
                waiting[ws] = answer
                began = time.perf_counter()
                await ws.send(orjson.dumps(frame), text=True)
                finished = await answer
                if window.measuring:
                    samples.append(finished - began)
            await asyncio.sleep(rng.uniform(0.005, 0.02))

    async def buyers() -> None:
        """Open loop: ``background_rate`` buyer messages a second, round-robin, on new
        conversations, whatever the server's pace."""
        rate, tick = spec["background_rate"], 0.01
        texts = spec["messages"]
        started = time.perf_counter()
        sent = 0
        targets = itertools.cycle(enumerate(background))
        while not window.stopping:
            due = int((time.perf_counter() - started) * rate)
            for _ in range(due - sent):
                index, ws = next(targets)
                frame = {
                    "type": "message",
                    "conversation": f"bg{index}-{sent}",
                    "buyer": f"b{index}-{sent}",
                    "from": "buyer",
                    "text": texts[sent % len(texts)],
                }
                sent += 1
                await ws.send(orjson.dumps(frame), text=True)
            await asyncio.sleep(tick)

    readers = [asyncio.create_task(read(ws)) for ws in connections]
    workers = [asyncio.create_task(probe(ws, spec["drafts"])) for ws in probes]
    workers.append(asyncio.create_task(buyers()))
    await window.run(spec["warmup_s"], spec["duration_s"])
    for task in [*workers, *readers]:
        task.cancel()
    await close_all(connections)
    return {
        "check_ms": summary_ms(check_rtt),
        "ping_ms": summary_ms(ping_rtt),
        "warn_lateness_ms": summary_ms(lateness),
        "suggestions": answered[0],
        "seconds": window.seconds,
    }


# --- idle connections -----------------------------------------------------------------------


async def hold(spec: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    connections = await open_all(spec["url"], list(spec["tokens"]), spec["platform"])
    emit({"event": "ready", "connected": len(connections), "s": time.perf_counter() - started})
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    alive = sum(1 for ws in connections if ws.close_code is None)
    await close_all(connections)
    return {"alive_at_release": alive}


MODES: dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]] = {
    "throughput": throughput,
    "latency": latency,
    "hold": hold,
}


async def main(spec: dict[str, Any]) -> None:
    try:
        result = await MODES[spec["mode"]](spec)
    except (ConnectionClosed, OSError) as exc:
        result = {"error": f"{type(exc).__name__}: {exc}"}
    emit(result)


if __name__ == "__main__":
    raise_open_files(65536)
    uvloop.run(main(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))))
