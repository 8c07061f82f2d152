"""Overrides: an agent line equal to a draft that a final check flagged, sent soon after.

Such a line was sent against the checker's advice and goes to the audit trail. Pure: the
caller passes the time of each check and each line.
"""

from __future__ import annotations

from server.core.checker import Violation

# A flagged draft sent within this long after its check counts as an override.
OVERRIDE_WINDOW_S = 300.0


class Overrides:
    """The last flagged final check per (shop, agent, conversation)."""

    def __init__(self) -> None:
        self.flagged: dict[tuple[str, str, str], tuple[float, str, list[Violation]]] = {}

    def flag(self, key: tuple[str, str, str], now: float, draft: str, found: list[Violation]):
        self.flagged[key] = (now, draft.strip(), found)

    def sent(self, key: tuple[str, str, str], text: str, ts: float) -> list[Violation] | None:
        """The violations the line overrode, or None; a line always clears the flag."""
        flagged = self.flagged.pop(key, None)
        if flagged is None:
            return None
        checked_at, draft, violations = flagged
        if text.strip() == draft and ts - checked_at <= OVERRIDE_WINDOW_S:
            return violations
        return None

    def sweep(self, now: float) -> None:
        """Forget flags too old to be overridden, so the map does not only grow."""
        self.flagged = {
            key: flagged
            for key, flagged in self.flagged.items()
            if now - flagged[0] <= OVERRIDE_WINDOW_S
        }
