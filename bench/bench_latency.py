"""Scenario 2: ``check`` round trip at 1,000 connected agents with background buyer traffic, and
how late ``warn`` timers arrive under that load (issue 3).

The load generator holds every agent's connection in one process. All but ``PROBES`` agents
receive buyer messages on new conversations at ``BACKGROUND_RATE`` a second in total (open loop),
and each starts a reply round; the server is configured with ``warn_s = 1`` so those rounds fire
their warnings within the run. Each probe agent sends a ``check`` (a 200-character draft), waits
for ``check_result``, then an application ``ping`` and waits for ``pong``, then pauses 5-20 ms.
The ping round trip is the baseline: the same connections, loop and load, with no work behind it.
Warning lateness is the arrival time at the client minus ``started_at + warn_s``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench.bench_check import phrase_drafts
from bench.common import (
    LoadGenerator,
    buyer_messages,
    figure,
    kefu_server,
    loops,
    raise_open_files,
)

PROBES = 20
WARN_S = 1.0
# Every threshold of the bench platform within a few seconds, so warnings fire during the run.
TIMERS = {"jd": {"warn_s": WARN_S, "due_s": 2.0, "target_s": 3.0, "overdue_s": 4.0}}


def measure(loop: str, agents: int, rate: float, quick: bool) -> dict[str, Any]:
    spec = {
        "mode": "latency",
        "tokens": [f"tok{n}" for n in range(agents)],
        "platform": "jd",
        "probes": PROBES,
        "background_rate": rate,
        "warn_s": WARN_S,
        "warmup_s": 1.5,
        "duration_s": 3.0 if quick else 10.0,
        "messages": buyer_messages(),
        "drafts": phrase_drafts(200),
    }
    with kefu_server(loop, agents, TIMERS) as spawned, tempfile.TemporaryDirectory() as workdir:
        spec["url"] = spawned.ws_url
        generator = LoadGenerator(spec, Path(workdir))
        try:
            generator.next_event()  # measure
            generator.next_event()  # measured
            result = generator.next_event()
        finally:
            generator.finish()
    if "error" in result:
        raise RuntimeError(f"latency load generator failed: {result['error']}")
    return result


def run(quick: bool) -> list[dict]:
    agents = 200 if quick else 1000
    rate = 100.0 if quick else 200.0
    raise_open_files(agents * 2 + 1024)
    rows = []
    where = f"{agents:,} agents, {rate:g} buyer msg/s"
    for loop in loops(quick):
        result = measure(loop, agents, rate, quick)
        check, ping, late = result["check_ms"], result["ping_ms"], result["warn_lateness_ms"]
        rows += [
            figure(
                f"check round trip p50, {where} ({loop})",
                check["p50"],
                "ms",
                target=None,
                baseline=ping["p50"],
                baseline_label="ping round trip p50, same connections and load",
                digits=3,
            ),
            figure(
                f"check round trip p99, {where} ({loop})",
                check["p99"],
                "ms",
                target=5,
                baseline=ping["p99"],
                baseline_label="ping round trip p99, same connections and load",
                digits=3,
            ),
            figure(
                f"warning lateness p99, {where} ({loop})",
                late["p99"],
                "ms",
                target=None,
                baseline=late["p50"],
                baseline_label=f"lateness p50 ({late['count']} warnings)",
                digits=1,
            ),
        ]
    return rows


if __name__ == "__main__":
    for row in run(quick=True):
        print(row)
