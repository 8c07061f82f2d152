"""When a line happened: its own timestamp, trusted within bounds, and the grace for history.

A console opening a conversation replays its history, each line with the time it was sent.
"""

from __future__ import annotations

# A line's own timestamp is trusted back to this far (history shown when the console opens);
# anything older, or in the future, is taken as seen now.
MAX_BACKDATE_S = 86400.0
# A history line's passed thresholds wait this long for the rest of the history (the agent's
# reply) to arrive, so a round answered in the past is not counted as missed.
HISTORY_GRACE_S = 2.0


def line_time(ts: float | None, now: float) -> float:
    """The time a line is taken to have happened."""
    if ts is None or not now - MAX_BACKDATE_S <= ts <= now:
        return now
    return float(ts)


def history_hold(ts: float, now: float) -> float | None:
    """Until when a history line's passed thresholds are held back, or None for a live line."""
    return now + HISTORY_GRACE_S if ts < now - HISTORY_GRACE_S else None
