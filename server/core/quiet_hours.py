"""Wall-clock arithmetic for the shop's quiet hours, in the shop's own time zone.

Instants are float epoch seconds; the wall clock is only used to ask "is it night there?" and
"when is the next 10:00 there?". Everything goes through :mod:`zoneinfo`, so days that are 23 or
25 hours long (DST) come out right: we add calendar days to a local date, never 86,400 seconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")


def parse_clock(text: str) -> time | None:
    """``"9:05"`` or ``"09:05"`` as a :class:`time`; ``None`` when it is not a valid HH:MM."""
    match = _CLOCK.fullmatch(text)
    if match is None:
        return None
    hour, minute = int(match[1]), int(match[2])
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily window ``[start, end)`` of local time; it crosses midnight when ``start > end``."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start == self.end:
            # Ambiguous (empty or the whole day?): refuse rather than guess.
            raise ValueError(f"quiet hours start and end are equal: {self.start:%H:%M}")

    def contains(self, clock: time) -> bool:
        if self.start < self.end:
            return self.start <= clock < self.end
        return clock >= self.start or clock < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True, slots=True)
class ShopClock:
    """Quiet hours, the time nudges resume, and the zone both are read in."""

    quiet: QuietHours
    wake_at: time
    zone: ZoneInfo

    def local_day(self, instant: float) -> date:
        return datetime.fromtimestamp(instant, self.zone).date()

    def at(self, day: date, clock: time) -> float:
        """The instant the local wall clock shows ``clock`` on ``day``.

        A wall time skipped by a DST jump resolves to the same offset past the jump (02:30 on a
        spring-forward night is 03:30), which keeps it after the previous wall time.
        """
        return datetime.combine(day, clock, tzinfo=self.zone).timestamp()

    def is_quiet(self, instant: float) -> bool:
        return self.quiet.contains(datetime.fromtimestamp(instant, self.zone).time())

    def next_wake(self, instant: float) -> float:
        """The first ``wake_at`` strictly after ``instant``."""
        day = self.local_day(instant)
        wake = self.at(day, self.wake_at)
        return wake if wake > instant else self.at(day + timedelta(days=1), self.wake_at)

    def previous_wake(self, instant: float) -> float:
        """The last ``wake_at`` strictly before ``instant``."""
        day = self.local_day(instant)
        wake = self.at(day, self.wake_at)
        return wake if wake < instant else self.at(day - timedelta(days=1), self.wake_at)

    def wake_on_next_day(self, instant: float) -> float:
        """``wake_at`` on the local calendar day after the one ``instant`` falls on."""
        return self.at(self.local_day(instant) + timedelta(days=1), self.wake_at)

    def next_allowed(self, instant: float) -> float:
        """``instant`` itself outside quiet hours, else the next ``wake_at``.

        ``wake_at`` is validated to lie outside quiet hours, so one move is enough except when a
        DST jump shifts that day's ``wake_at`` into them; the next day's is then fine, so this loop
        runs at most twice.
        """
        while self.is_quiet(instant):
            instant = self.next_wake(instant)
        return instant
