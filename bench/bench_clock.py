"""Scenario 4 (in process): the reply clock's costs, on the real :class:`Tracker`.

- *clock reset*: moving one conversation's deadline while 100,000 other conversations have live
  deadlines, i.e. one push onto the tracker's heap (``Tracker._schedule``); the entry it replaces
  stays behind and is dropped when it reaches the top (lazy deletion). As in service, the new
  deadline (now + a threshold) is later than most pending ones. Baseline, same run: the
  same reset as ``loop.call_at`` plus cancelling the previous handle, on an asyncio loop holding
  100,000 timers (what a timer per conversation would cost).
- *round start + answer*: the whole event path of one round on a known conversation,
  ``buyer_message`` then ``agent_message``, effects included (report only).
- *bytes per live conversation*: tracemalloc's traced size after 100,000 buyer messages on
  distinct conversations, each with an open round and a heap entry, divided by 100,000. Baseline:
  the conversation id and buyer nickname strings alone, the floor any design pays.
"""

from __future__ import annotations

import asyncio
import gc
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable

from bench.common import figure
from server.core.tracker import Tracker
from server.settings import DEFAULT_TIMERS

LIVE = 100_000
SHOP, AGENT, PLATFORM = "shop-bench", "agent0", "jd"
NOW = 1_795_366_745.0  # a fixed epoch second: the core never reads the clock


def ids(n: int) -> tuple[str, str]:
    return f"c-{n:07d}", f"buyer{n:07d}"


def filled_tracker(count: int) -> Tracker:
    tracker = Tracker(DEFAULT_TIMERS, "Asia/Shanghai", 0.9)
    for n in range(count):
        conversation, buyer = ids(n)
        tracker.buyer_message(SHOP, conversation, buyer, PLATFORM, AGENT, NOW + n * 0.001)
    return tracker


REPEATS = 5  # timings are the median of this many runs: the machine is shared and noisy


def reset_us(tracker: Tracker, resets: int) -> float:
    conversations = list(tracker.conversations.values())
    rng = random.Random(3)
    picks = [rng.choice(conversations) for _ in range(resets)]
    # A reset moves a clock to now + a threshold: later than most pending deadlines, as here.
    deadlines = [NOW + LIVE * 0.001 + 20 + n * 0.001 for n in range(resets)]
    schedule = tracker._schedule  # the reset itself, without an event around it
    samples = []
    for repeat in range(REPEATS):
        batch = slice(repeat * resets // REPEATS, (repeat + 1) * resets // REPEATS)
        pairs = list(zip(picks[batch], deadlines[batch], strict=True))
        began = time.perf_counter()
        for conv, deadline in pairs:
            schedule(conv, deadline)
        samples.append((time.perf_counter() - began) / len(pairs) * 1e6)
    return statistics.median(samples)


def call_at_reset_us(live: int, resets: int) -> float:
    async def measure() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        handles = [loop.call_at(start + 100 + n * 0.001, int) for n in range(live)]
        rng = random.Random(3)
        picks = [rng.randrange(live) for _ in range(resets)]
        delays = [100 + live * 0.001 + 20 + n * 0.001 for n in range(resets)]
        samples = []
        for repeat in range(REPEATS):
            batch = slice(repeat * resets // REPEATS, (repeat + 1) * resets // REPEATS)
            pairs = list(zip(picks[batch], delays[batch], strict=True))
            began = time.perf_counter()
            for index, delay in pairs:
                handles[index].cancel()
                handles[index] = loop.call_at(start + delay, int)
            samples.append((time.perf_counter() - began) / len(pairs) * 1e6)
        for handle in handles:
            handle.cancel()
        return statistics.median(samples)

    return asyncio.run(measure())


def round_us(tracker: Tracker, rounds: int) -> float:
    conversations = list(tracker.conversations.values())[:1000]
    for conv in conversations:  # answer the open rounds, so each buyer line starts a new one
        tracker.agent_message(SHOP, conv.conversation, conv.buyer, PLATFORM, AGENT, NOW + 5, "好的")
    samples = []
    per_repeat = rounds // REPEATS
    for repeat in range(REPEATS):
        began = time.perf_counter()
        for n in range(repeat * per_repeat, (repeat + 1) * per_repeat):
            conv = conversations[n % len(conversations)]
            ts = NOW + 10 + n * 0.01
            tracker.buyer_message(SHOP, conv.conversation, conv.buyer, PLATFORM, AGENT, ts)
            tracker.agent_message(
                SHOP, conv.conversation, conv.buyer, PLATFORM, AGENT, ts + 3, "好的"
            )
        samples.append((time.perf_counter() - began) / per_repeat * 1e6)
    return statistics.median(samples)


def traced_bytes(build: Callable[[], object]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = build()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del kept
    return after - before


def run(quick: bool) -> list[dict]:
    resets = LIVE  # about one reset per live conversation: the heap stays near its real size
    tracker = filled_tracker(LIVE)
    reset = reset_us(tracker, resets)
    baseline_reset = call_at_reset_us(LIVE, resets)
    full_round = round_us(tracker, 20_000 if quick else 200_000)
    del tracker
    per_conversation = traced_bytes(lambda: filled_tracker(LIVE)) / LIVE
    floor = traced_bytes(lambda: [s for n in range(LIVE) for s in ids(n)]) / LIVE
    live = f"{LIVE:,} live conversations"
    return [
        figure(
            f"clock reset (heap push, lazy deletion), {live}",
            reset,
            "us",
            target=2,
            baseline=baseline_reset,
            baseline_label="loop.call_at + cancel, 100,000 live timers (asyncio)",
            digits=3,
        ),
        figure(
            f"round start + answer (buyer_message + agent_message), {live}",
            full_round,
            "us",
            target=None,
            baseline=reset,
            baseline_label="clock reset alone",
            digits=2,
        ),
        figure(
            f"bytes per live conversation, {live}",
            per_conversation,
            "B",
            target=400,
            baseline=floor,
            baseline_label="conversation id + buyer nickname strings alone",
            digits=0,
        ),
    ]


if __name__ == "__main__":
    for row in run(quick=True):
        print(row)
