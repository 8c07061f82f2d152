"""Scenario 3: memory per idle authenticated connection, at 10,000 connections.

The server's RSS is read from ``/proc`` once ``WARM`` connections are open (so lazily built
things are already there), then again after ``count`` more connections have said ``hello`` and
received ``welcome`` and ``state``; the difference is divided by ``count``. Each connection is a
different agent, as in a shop. The baseline is the same measurement against the bare
``websockets`` echo server on the same loop (connections that never authenticate). The client
connections are spread over several load-generator processes.
"""

from __future__ import annotations

import tempfile
import time
from contextlib import AbstractContextManager
from pathlib import Path

from bench.common import (
    LoadGenerator,
    Spawned,
    chunks,
    echo_server,
    figure,
    kefu_server,
    loops,
    raise_open_files,
    rss_bytes,
)

WARM = 100
SETTLE_S = 0.5


def bytes_per_connection(
    server: AbstractContextManager[Spawned], tokens: list[str | None], processes: int
) -> float:
    warm, rest = tokens[:WARM], tokens[WARM:]
    with server as spawned, tempfile.TemporaryDirectory() as workdir:
        holders: list[LoadGenerator] = []
        try:
            for group in [warm, *chunks(rest, processes)]:
                spec = {"mode": "hold", "url": spawned.ws_url, "tokens": group, "platform": "jd"}
                holders.append(LoadGenerator(spec, Path(workdir)))
                if group is warm:
                    holders[0].next_event()  # ready
                    time.sleep(SETTLE_S)
                    before = rss_bytes(spawned.pid)
            for holder in holders[1:]:
                ready = holder.next_event()
                if ready.get("event") != "ready":
                    raise RuntimeError(f"load generator failed: {ready}")
            time.sleep(SETTLE_S)
            after = rss_bytes(spawned.pid)
        finally:
            for holder in holders:
                holder.finish()
    return (after - before) / len(rest)


def run(quick: bool) -> list[dict]:
    count = 1000 if quick else 10000
    processes = 1 if quick else 2
    raise_open_files(count + WARM + 1024)
    tokens: list[str | None] = [f"tok{n}" for n in range(count + WARM)]
    anonymous: list[str | None] = [None] * (count + WARM)
    rows = []
    for loop in loops(quick):
        kefu = bytes_per_connection(kefu_server(loop, count + WARM), tokens, processes)
        bare = bytes_per_connection(echo_server(loop), anonymous, processes)
        rows.append(
            figure(
                f"memory per idle authenticated connection, {count:,} connections ({loop})",
                kefu / 1024,
                "KB",
                target=40,
                baseline=bare / 1024,
                baseline_label=f"bare websockets connection, echo server, {loop}",
                digits=1,
            )
        )
    return rows


if __name__ == "__main__":
    for row in run(quick=True):
        print(row)
