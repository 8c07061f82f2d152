"""One timer for every clock and nudge of the process.

The pure core keeps its deadlines in heaps; this arms a single ``loop.call_at`` for the earliest
of them and, when it comes, hands the core the current time. Re-arming happens only when a new
deadline is earlier than the armed one (or the clock jumped past it), so a clock reset in the hot
path costs two comparisons. Deadlines still to come are grouped into ticks of ``TICK_S``.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable

log = logging.getLogger("kefu.scheduler")

# A deadline still to come fires at the end of its tick, at most this late, with every other
# deadline of the tick. Under load a buyer line's first threshold falls due every few hundred
# microseconds: one loop timer each (armed, cancelled, run, three heaps peeked) cost ~20 us of
# every buyer line (issue 17). 50 ms is far below what a panel's clock shows (seconds) and the
# 1 s past which a threshold reports the wait at firing time (tracker.LATE_S).
TICK_S = 0.05


class Scheduler:
    def __init__(
        self,
        next_wake: Callable[[], float | None],
        fire: Callable[[float], None],
        clock: Callable[[], float],
    ) -> None:
        self._next_wake = next_wake
        self._fire = fire
        self._clock = clock
        self._handle: asyncio.TimerHandle | None = None
        self._armed_at: float | None = None
        self.stopped = False

    def poke(self) -> None:
        """Re-arm if the core now has an earlier deadline than the armed one, or if the clock
        already passed the armed one: it jumped ahead of the loop's monotonic time (a machine
        back from suspend, an NTP step, a test's injected clock), so the loop's timer is late."""
        if self.stopped:
            return
        wake = self._next_wake()
        if wake is None:
            return
        now = self._clock()
        if wake > now:  # to come: the end of its tick (a due one fires at once)
            wake = max(wake, math.ceil(wake / TICK_S) * TICK_S)
        armed = self._armed_at
        if armed is not None and armed <= wake and now < armed:
            return
        if self._handle is not None:
            self._handle.cancel()
        loop = asyncio.get_running_loop()
        self._armed_at = wake
        self._handle = loop.call_at(loop.time() + max(0.0, wake - now), self._run)

    def _run(self) -> None:
        self._handle = None
        self._armed_at = None
        try:
            self._fire(self._clock())
        except Exception:
            # A bug in one deadline must not stop every other clock of the process.
            log.exception("scheduled work failed")
        self.poke()

    def stop(self) -> None:
        self.stopped = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
