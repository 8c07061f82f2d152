"""The one timer: armed for the earliest deadline, re-armed only when that is no longer right."""

from __future__ import annotations

import asyncio

from server.runtime.scheduler import Scheduler
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
