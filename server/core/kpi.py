"""Response KPIs per agent and day, as the platforms count them, and the misses-left projection."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo


@dataclass(slots=True)
class KpiDay:
    """Counters of one agent's day. Only rounds that start inside the platform's counting window
    count (JD 09:00-23:00, Taobao 08:00-24:00); ``outside_window`` says how many did not.

    A round is *decided* when it is answered or when its target passes unanswered; the
    within-target rate is ``within_target / decided``, so an open round is not yet a miss.
    """

    shop: str
    agent: str
    date: str
    rounds: int = 0
    answered: int = 0
    decided: int = 0
    within_target: int = 0
    overdue: int = 0
    response_sum_s: float = 0.0
    first_rounds: int = 0
    first_response_sum_s: float = 0.0
    longest_wait_s: float = 0.0
    outside_window: int = 0

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.shop, self.agent, self.date)

    def record_answer(
        self, waited_s: float, first: bool, within: bool, decided_before: bool
    ) -> None:
        self.answered += 1
        self.response_sum_s += waited_s
        if waited_s > self.longest_wait_s:  # max() as a call cost a fifth of this method
            self.longest_wait_s = waited_s
        if first:
            self.first_rounds += 1
            self.first_response_sum_s += waited_s
        if not decided_before:
            self.decided += 1
            self.within_target += within

    def report(self, target_rate: float) -> dict[str, Any]:
        """The ``kpi`` frame body (also the JSON of ``GET /api/kpi``)."""
        rate = self.within_target / self.decided if self.decided else None
        return {
            "agent": self.agent,
            "date": self.date,
            "rounds": self.rounds,
            "answered": self.answered,
            "avg_response_s": _mean(self.response_sum_s, self.answered),
            "first_response_s": _mean(self.first_response_sum_s, self.first_rounds),
            "within_target_rate": None if rate is None else round(rate, 4),
            "overdue": self.overdue,
            "longest_wait_s": round(self.longest_wait_s, 3),
            "outside_window": self.outside_window,
            "target_rate": target_rate,
            "misses_left": misses_left(self.within_target, self.decided, target_rate),
        }


def _mean(total: float, count: int) -> float | None:
    return round(total / count, 3) if count else None


def misses_left(within: int, decided: int, target_rate: float) -> int:
    """How many more missed rounds today keep the rate at or above ``target_rate``.

    The largest ``m`` with ``within / (decided + m) >= target``; 0 when already below. Exact
    arithmetic, so 9 of 10 at 90% leaves 0, not -1e-16.
    """
    target = _fraction(target_rate)
    return max(0, int((Fraction(within) - target * decided) / target))


@functools.lru_cache(maxsize=8)
def _fraction(rate: float) -> Fraction:
    return Fraction(str(rate))  # "0.9", not the binary float's 0.90000000000000002220…


class LocalDays:
    """Maps epoch seconds to the shop's local date and the platforms' counting windows.

    Caches one day at a time, so the common case is two comparisons, and asks ``zoneinfo``
    for the exact epoch of each window edge, so DST days are right too.
    """

    def __init__(self, timezone: str, windows: dict[str, tuple[int, int]]) -> None:
        self.zone = ZoneInfo(timezone)
        self.windows = windows
        self._start = self._end = 0.0
        self._date = ""
        self._edges: dict[str, tuple[float, float]] = {}

    # Both test the cached day before calling _load: they run several times per chat line.
    def date_of(self, ts: float) -> str:
        if not self._start <= ts < self._end:
            self._load(ts)
        return self._date

    def in_window(self, platform: str, ts: float) -> bool:
        if not self._start <= ts < self._end:
            self._load(ts)
        start, end = self._edges[platform]
        return start <= ts < end

    def _load(self, ts: float) -> None:
        local = datetime.fromtimestamp(ts, self.zone)
        midnight = datetime(local.year, local.month, local.day, tzinfo=self.zone)
        self._date = midnight.date().isoformat()
        self._start = midnight.timestamp()
        self._end = (midnight + timedelta(days=1)).timestamp()  # wall-clock arithmetic: DST-safe
        self._edges = {
            platform: (self._hour(midnight, first), self._hour(midnight, last))
            for platform, (first, last) in self.windows.items()
        }

    def _hour(self, midnight: datetime, hour: int) -> float:
        if hour == 24:
            return self._end
        return midnight.replace(hour=hour).timestamp()
