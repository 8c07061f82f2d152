"""The answers to the questions the nudge book asks (:class:`server.core.nudgebook.World`).

Built from core state only: the tracker's open rounds and owners, the complaints heard, and
the set of agents online (which the runtime's registry keeps, passed in as a plain lookup),
so the nudge book never calls back into the runtime.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from server.core.aftersales import Complaints
from server.core.tracker import Tracker


class ShopWorld:
    def __init__(
        self,
        tracker: Tracker,
        complaints: Complaints,
        online: Callable[[str], Iterable[str]],
        clock: Callable[[], float],
    ) -> None:
        self.tracker = tracker
        self.complaints = complaints
        self.online = online
        self.clock = clock

    def question_open(self, shop: str, conversation: str | None) -> bool:
        conv = self.tracker.conversations.find(shop, conversation or "")
        return conv is not None and conv.round_started_at is not None

    def after_sales_open(self, shop: str, conversation: str | None) -> bool:
        return self.complaints.open(shop, conversation, self.clock())

    def owner(self, shop: str, conversation: str | None) -> str | None:
        conv = self.tracker.conversations.find(shop, conversation or "")
        return conv.agent if conv is not None else None

    def online_agents(self, shop: str) -> list[str]:
        return sorted(self.online(shop))
