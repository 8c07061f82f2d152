"""Nudge delivery: order intake under one lock, store commits, nudge frames pushed after them.

Orders and nudges are durable before they are acknowledged or delivered: an order event is
prepared, stored and only then committed to memory (one at a time, under ``order_lock``); a
due nudge is claimed in the store and pushed only once that claim succeeded, so two processes
never deliver the same nudge.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from server import protocol
from server.core.nudgebook import Deliver, Nudge, NudgeBook, SaveNudges
from server.core.nudges import OrderEvent
from server.errors import KefuError
from server.runtime.registry import Registry
from server.storage import Store

log = logging.getLogger("kefu.service")


class NudgeDelivery:
    def __init__(
        self,
        nudges: NudgeBook,
        store: Store,
        registry: Registry,
        clock: Callable[[], float],
        changed: Callable[[str, str], None],
    ) -> None:
        self.nudges = nudges
        self.store = store
        self.registry = registry
        self.clock = clock
        self.changed = changed  # told (shop, order) whenever an order or one of its nudges changed
        self.order_lock = asyncio.Lock()  # one order event at a time: prepare, store, commit
        self.deliveries: set[asyncio.Task[None]] = set()

    def apply(self, effect: SaveNudges | Deliver) -> None:
        """Store a change; push a delivery only once the store has committed it."""
        if isinstance(effect, SaveNudges):
            self._orders_changed(effect.nudges)
            self.store.save_nudges(effect.nudges, effect.order)
        else:
            self._orders_changed([effect.nudge])
            claimed = self.store.claim_delivery(effect.nudge)  # queued now, in order
            task = asyncio.get_running_loop().create_task(self._deliver(claimed, effect))
            self.deliveries.add(task)
            task.add_done_callback(self.deliveries.discard)

    async def take_order(self, event: OrderEvent) -> bool:
        """Apply an order event durably; returns whether it changed anything."""
        async with self.order_lock:
            if not self.nudges.knows(event.shop, event.order):
                # It may have left memory once settled: a repeat or stale event must still
                # meet the order as stored, not start an unpaid one afresh.
                stored = await self.store.load_order(event.shop, event.order)
                if stored is not None:
                    self.nudges.reload(stored)
            change = self.nudges.prepare(event, self.clock())
            if change is None:
                return False
            await self.store.save_nudges(change.nudges, change.order)
            self.nudges.commit(change)
        self.changed(event.shop, event.order)
        return True

    async def ack(self, shop: str, agent: str, message: dict[str, Any]) -> None:
        """An agent's answer to a nudge (done, snooze, dismiss), stored before it is acked."""
        saved = self.nudges.ack(
            shop, agent, message["nudge"], message["action"], message.get("snooze_s"), self.clock()
        )
        await self.store.save_nudges(saved.nudges, saved.order)
        self._orders_changed(saved.nudges)

    async def stop(self) -> None:
        if self.deliveries:
            await asyncio.gather(*self.deliveries, return_exceptions=True)

    def _orders_changed(self, nudges: Iterable[Nudge]) -> None:
        for shop, order in {(nudge.shop, nudge.order) for nudge in nudges}:
            self.changed(shop, order)

    async def _deliver(self, claimed: Awaitable[bool], delivery: Deliver) -> None:
        try:
            if not await claimed:
                log.warning("nudge fired by another process", extra={"nudge": delivery.nudge.id})
                return
        except KefuError:
            return  # logged by the store; still pending there, so it fires after a restart
        self.registry.push(delivery.nudge.shop, delivery.agent, protocol.nudge(delivery.due))
