"""The one timer: armed for the earliest deadline, re-armed only when that is no longer right."""

from __future__ import annotations

import asyncio
import math
import time

from server.runtime.scheduler import TICK_S, Scheduler
from tests.helpers import FakeClock


class Deadlines:
    """A core with one deadline, recording when the scheduler hands it the time."""

    def __init__(self, at: float) -> None:
        self.at: float | None = at
        self.fired: list[float] = []

    def next_wake(self) -> float | None:
        return self.at

    def fire(self, now: float) -> None:
        self.fired.append(now)
        if self.at is not None and now >= self.at:
            self.at = None


async def settle() -> None:
    """Let the loop run what is due now (a timer armed with no delay runs within a few turns)."""
    for _ in range(3):
        await asyncio.sleep(0)


async def test_a_clock_that_jumps_past_the_armed_deadline_fires_at_the_next_poke():
    clock = FakeClock()
    core = Deadlines(clock.now + 3600)
    scheduler = Scheduler(core.next_wake, core.fire, clock)
    scheduler.poke()
    clock.jump(1800)  # halfway: not due yet, the loop's timer is still the one that fires
    scheduler.poke()
    await settle()
    assert core.fired == []
    clock.jump(1800)  # slept past the deadline: the loop's timer would fire an hour late
    scheduler.poke()
    await settle()
    assert core.fired == [clock.now]
    scheduler.stop()


async def test_an_earlier_deadline_rearms():
    clock = FakeClock()
    core = Deadlines(clock.now + 3600)
    scheduler = Scheduler(core.next_wake, core.fire, clock)
    scheduler.poke()
    core.at = clock.now  # due now
    scheduler.poke()
    await settle()
    assert core.fired == [clock.now]
    scheduler.stop()


class ManyDeadlines:
    """A core with several deadlines; ``done`` is set once none is left."""

    def __init__(self, *at: float) -> None:
        self.left = sorted(at)
        self.fired: list[tuple[float, int]] = []  # (now, deadlines it was past)
        self.done = asyncio.Event()

    def next_wake(self) -> float | None:
        return self.left[0] if self.left else None

    def fire(self, now: float) -> None:
        due = [at for at in self.left if at <= now]
        self.fired.append((now, len(due)))
        self.left = self.left[len(due) :]
        if not self.left:
            self.done.set()


async def test_deadlines_within_one_tick_share_one_wake_up_at_its_end():
    # The real clock: this is about the loop's timer. Both deadlines fall in the tick that
    # starts a whole tick from now, so neither is due when armed.
    tick = math.ceil(time.time() / TICK_S) * TICK_S + TICK_S
    core = ManyDeadlines(tick + 0.001, tick + TICK_S * 0.6)
    scheduler = Scheduler(core.next_wake, core.fire, time.time)
    scheduler.poke()
    await asyncio.wait_for(core.done.wait(), timeout=5)
    [(now, due)] = core.fired
    assert due == 2 and now >= tick + TICK_S * 0.6
    scheduler.stop()
