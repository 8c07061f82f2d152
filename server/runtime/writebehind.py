"""The write-behind of clock state: conversations and KPI days, coalesced and flushed.

A conversation or an agent's day changed many times within ``FLUSH_S`` is written once. A
crash loses at most that much clock state; orders and nudges are never written behind (they
are acknowledged after their commit, see :mod:`server.runtime.delivery`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from server.core.kpi import KpiDay
from server.core.tracker import Conversation, Effect, SaveConversation, SaveKpi
from server.storage import Store

FLUSH_S = 0.1
SWEEP_EVERY = 600  # flushes: a minute


class WriteBehind:
    def __init__(self, store: Store, clock: Callable[[], float], sweep: Callable[[float], None]):
        self.store = store
        self.clock = clock
        self.sweep = sweep  # called every SWEEP_EVERY flushes, to forget what is too old
        self.conversations: dict[tuple[str, str], Conversation] = {}
        self.kpis: dict[tuple[str, str, str], KpiDay] = {}
        self.also: list[Callable[[], None]] = []  # other parts' write-behind, flushed with this
        self._loop: asyncio.Task[None] | None = None

    def take(self, effect: Effect) -> None:
        """Mark what a save effect names as changed; other effects are not this part's."""
        if isinstance(effect, SaveConversation):
            self.conversations[effect.conversation.key] = effect.conversation
        elif isinstance(effect, SaveKpi):
            self.kpis[effect.kpi.key] = effect.kpi

    def unwritten(self, key: tuple[str, str]) -> Conversation | None:
        """A conversation changed since the last flush: newer than the store's copy."""
        return self.conversations.get(key)

    def flush(self) -> None:
        """Queue the writes of every conversation and KPI day changed since the last flush."""
        if self.conversations:
            self.store.save_conversations(list(self.conversations.values()))
        if self.kpis:
            self.store.save_kpis(list(self.kpis.values()))
        self.conversations.clear()
        self.kpis.clear()
        for flush in self.also:
            flush()

    def start(self) -> None:
        self._loop = asyncio.get_running_loop().create_task(self._flush_loop())

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
        self.flush()

    async def _flush_loop(self) -> None:
        rounds = 0
        while True:
            await asyncio.sleep(FLUSH_S)
            self.flush()
            rounds += 1
            if rounds % SWEEP_EVERY == 0:
                self.sweep(self.clock())
