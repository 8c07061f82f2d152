"""Scenario 1: buyer-message pipeline throughput at 50 active connections, against a bare
``websockets`` echo server on the same loop with the same settings, measured in the same run.

Each buyer message is on a new conversation, so every one starts a reply round: the server
decodes it, starts the clock (tracker, KPI and conversation writes to SQLite, a ``timer`` push)
and answers with ``suggestions``. The echo server sends the frame back. The load generator is a
closed loop in its own process: 50 connections, ``WINDOW`` requests in flight on each. The
buyer lines are the suggester's 292 labelled real-looking questions (tests/data/suggest), taken in
turn, never one repeated text; the server caches no suggestions, so there is no hit rate to report.
Where ../shared/data/real is present, the kefu server runs once more (uvloop, the loop it picks)
on the real buyer messages there (JDDC and ECD, read in place, never copied), against the same
echo run: how an independent load run with real buyer lines would see it.
Server CPU per message is read from ``/proc`` over the timed window (every thread of the process).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from bench.common import (
    LoadGenerator,
    Spawned,
    buyer_messages,
    cpu_seconds,
    echo_server,
    figure,
    kefu_server,
    loops,
    ratio_figure,
    real_buyer_messages,
)

CONNECTIONS = 50
WINDOW = 4
TARGET_SHARE = 0.35  # issue 17


def measure(
    server: AbstractContextManager[Spawned],
    kind: str,
    tokens: list[str],
    quick: bool,
    messages: list[str],
) -> dict[str, Any]:
    """One closed-loop run; adds the server's CPU seconds per completed request."""
    spec = {
        "mode": "throughput",
        "kind": kind,
        "connections": CONNECTIONS,
        "tokens": tokens,
        "platform": "taobao",
        "window": WINDOW,
        "warmup_s": 1.0 if quick else 2.0,
        "duration_s": 2.0 if quick else 8.0,
        "messages": messages,
    }
    with server as spawned, tempfile.TemporaryDirectory() as workdir:
        spec["url"] = spawned.ws_url
        generator = LoadGenerator(spec, Path(workdir))
        try:
            generator.next_event()  # measure
            cpu_before = cpu_seconds(spawned.pid)
            generator.next_event()  # measured
            cpu_used = cpu_seconds(spawned.pid) - cpu_before
            result = generator.next_event()
        finally:
            generator.finish()
    if "error" in result:
        raise RuntimeError(f"{kind} load generator failed: {result['error']}")
    result["server_cpu_us"] = cpu_used / max(result["completed"], 1) * 1e6
    result["server_cpu_share"] = cpu_used / result["seconds"]
    return result


def share_of_echo(what: str, kefu: dict[str, Any], echo: dict[str, Any], loop: str) -> dict:
    """The pipeline's throughput against the echo's in the same run (the issue-17 target)."""
    return ratio_figure(
        f"buyer-message pipeline throughput, {what}",
        kefu["per_s"],
        "msg/s",
        baseline=echo["per_s"],
        baseline_label=f"bare websockets echo, {loop}, same run",
        at_least=TARGET_SHARE,
        digits=0,
    )


def run(quick: bool) -> list[dict]:
    tokens = [f"tok{n}" for n in range(CONNECTIONS)]
    rows = []
    servers: dict[str, Callable[[str], AbstractContextManager[Spawned]]] = {
        "echo": echo_server,
        "kefu": lambda loop: kefu_server(loop, CONNECTIONS),
    }
    labelled, real = buyer_messages(), real_buyer_messages()
    for loop in loops(quick):
        echo = measure(servers["echo"](loop), "echo", tokens, quick, labelled)
        kefu = measure(servers["kefu"](loop), "kefu", tokens, quick, labelled)
        rows += [
            share_of_echo(f"{CONNECTIONS} connections ({loop})", kefu, echo, loop),
            figure(
                f"server CPU per buyer message ({loop})",
                kefu["server_cpu_us"],
                "us",
                target=None,
                baseline=echo["server_cpu_us"],
                baseline_label=f"server CPU per echoed frame, {loop}",
                digits=1,
            ),
            figure(
                f"server CPU busy during the pipeline run ({loop})",
                kefu["server_cpu_share"] * 100,
                "%",
                target=None,
                baseline=echo["server_cpu_share"] * 100,
                baseline_label="during the echo run (100% = one core)",
                digits=0,
            ),
            figure(
                f"pipeline round trip p99, closed loop, window {WINDOW} ({loop})",
                kefu["latency_ms"]["p99"],
                "ms",
                target=None,
                baseline=echo["latency_ms"]["p99"],
                baseline_label="echo round trip p99, same load",
            ),
        ]
        if real and loop == "uvloop":
            on_real = measure(servers["kefu"](loop), "kefu", tokens, quick, real)
            lines = f"{len(real):,} real buyer lines (../shared/data/real)"
            rows += [
                share_of_echo(f"{lines}, {CONNECTIONS} connections ({loop})", on_real, echo, loop),
                figure(
                    f"server CPU per buyer message, real buyer lines ({loop})",
                    on_real["server_cpu_us"],
                    "us",
                    target=None,
                    baseline=kefu["server_cpu_us"],
                    baseline_label="the labelled lines, same run",
                    digits=1,
                ),
            ]
    return rows


if __name__ == "__main__":
    for row in run(quick=True):
        print(row)
