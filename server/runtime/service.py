"""The Service: the parts of one server process, built and wired once; their lifecycle (load
from the store, adopt and forget shops in a cluster, stop); the fan-out of core effects (rendered
by protocol.py, sent through the registry, saved through the write-behind); the one timer's
wake-ups; order intake; library and adapter changes. The client frames themselves are handled
by :mod:`~server.runtime.sessions`, one handler per type.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from server import protocol
from server.core.aftersales import Complaints
from server.core.learn import load_books
from server.core.nudgebook import Nudge, NudgeBook
from server.core.nudges import OrderEvent
from server.core.overrides import Overrides
from server.core.tracker import (
    Abandoned,
    Conversation,
    Effect,
    KpiChanged,
    Limits,
    TimerChanged,
    Tracker,
)
from server.core.world import ShopWorld
from server.errors import KefuError
from server.runtime.adapters import AdapterSet, HealthBook
from server.runtime.assist import Assist
from server.runtime.audit import AuditTrail
from server.runtime.delivery import NudgeDelivery
from server.runtime.handover import HandoverNotes
from server.runtime.library import Library
from server.runtime.sessions import Sessions
from server.runtime.writebehind import WriteBehind

if TYPE_CHECKING:
    from server.runtime.cluster import Cluster
from server.runtime.metrics import Metrics
from server.runtime.penalties import PenaltyDesk
from server.runtime.registry import Registry
from server.runtime.scheduler import Scheduler
from server.runtime.shopview import ShopView
from server.settings import Config
from server.storage import Store

log = logging.getLogger("kefu.service")

# A live view (the supervisors' dashboard) told what happens: ("effect", tracker Effect) for
# every clock and KPI change, ("audit", AuditRecord) for every flagged check and override,
# ("order", (shop, order number)) whenever an order or one of its nudges changed.
Observer = Callable[[str, Any], None]


class Service:
    def __init__(
        self,
        config: Config,
        store: Store,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.store = store
        self.metrics = metrics
        self.clock = clock
        self.registry = Registry(clock)
        limits = Limits(
            config.conversation_idle_s,
            config.round_expire_s,
            config.max_waiting_per_agent,
            config.max_conversations_per_shop,
        )
        self.tracker = Tracker(config.timers, config.timezone, config.target_rate, limits)
        self.nudges = NudgeBook(
            config.nudges,
            config.order_idle_s,
            config.max_orders_per_shop,
        )
        self.scheduler = Scheduler(self._next_wake, self._on_time, clock)
        self.complaints = Complaints()
        self.overrides = Overrides()  # the last flagged final check per agent and conversation
        self.world = ShopWorld(self.tracker, self.complaints, self.registry.online_agents, clock)
        self.delivery = NudgeDelivery(self.nudges, store, self.registry, clock, self._order_changed)
        self.writes = WriteBehind(store, clock, self.sweep)
        self.audit = AuditTrail(store, clock, self.notify)
        self.assist = Assist(config, metrics, self.nudges, self.complaints, clock)
        self.penalties = PenaltyDesk(
            config, self.tracker, self.registry, self.assist, store, clock, self.notify
        )
        self.writes.also.append(self.penalties.flush)
        self.handover = HandoverNotes(self.tracker, self.nudges, self.penalties, self.registry)
        self.adapter_health = HealthBook(metrics)
        self.view = ShopView(
            config, self.tracker, self.nudges, self.penalties, store, self._owns, clock,
            self.registry.online_agents, self.adapter_health.broken,
        )  # fmt: skip
        self.library_error: KefuError | None = None  # the last failed reload, if not fixed since
        self.observers: list[Observer] = []
        self.adapters: AdapterSet | None = None  # the page adapters served to extensions
        self.cluster: Cluster | None = None
        # The session's entry points (ws.py, the cluster): one handler per client frame type.
        self.sessions = Sessions(self)
        self.welcome = self.sessions.welcome
        self.receive = self.sessions.receive
        self.detach = self.sessions.detach

    async def start(self, cluster: Cluster | None = None) -> None:
        """Load what the store keeps; in a cluster, only shops this process comes to own."""
        self.assist.usage = await self.store.load_usage()
        self.assist.learning.books.update(load_books(Path(self.config.phrases) / "learned"))
        if cluster is None:
            conversations, nudges = await self._load(None)
        else:
            self.cluster = cluster
            conversations, nudges = [], []
        self.scheduler.poke()
        self.writes.start()
        log.info(
            "service started",
            extra={"open_conversations": len(conversations), "open_nudges": len(nudges)},
        )

    async def _load(self, shop: str | None) -> tuple[list[Conversation], list[Nudge]]:
        now = self.clock()
        conversations = await self.store.load_conversations(shop)
        kpis = await self.store.load_kpis(shop, self.tracker.days.date_of(now))
        self.tracker.restore(conversations, kpis)
        orders = await self.store.load_orders(now, shop)
        nudges = await self.store.load_open_nudges(shop)
        self.nudges.restore(orders, nudges)
        await self.penalties.load(shop, now)
        return conversations, nudges

    async def adopt(self, shop: str) -> None:
        """Take over a shop (cluster): its clocks resume from the store, due nudges fire."""
        await self._load(shop)
        self.scheduler.poke()

    def forget(self, shop: str) -> None:
        """Hand a shop back (cluster: the lease was lost); its connections must reconnect."""
        self.flush()
        self.tracker.forget(shop)
        self.nudges.forget(shop)
        self.penalties.forget(shop)
        for peer in self.registry.forget_shop(shop):
            peer.drop(protocol.CloseCode.MOVED, "shop moved to another process; reconnect")

    async def stop(self) -> None:
        self.scheduler.stop()
        self.writes.stop()
        await self.delivery.stop()

    @property
    def library(self) -> Library | None:
        return self.assist.library

    # --- effects ----------------------------------------------------------------------------

    def notify(self, event: str, payload: Any) -> None:
        for observer in self.observers:
            observer(event, payload)

    def apply(self, effects: Iterable[Effect]) -> None:
        for effect in effects:
            self.notify("effect", effect)
            # Rendered here, at send time: the core hands back values, protocol.py the frames.
            if isinstance(effect, TimerChanged):
                self.registry.push(effect.shop, effect.agent, protocol.timer(effect))
            elif isinstance(effect, KpiChanged):
                kpi = effect.kpi
                self.registry.push(kpi.shop, kpi.agent, protocol.kpi(kpi, effect.target_rate))
            elif isinstance(effect, Abandoned):
                self.penalties.abandoned(
                    effect.shop, effect.agent, effect.round_started_at, effect.at
                )
            else:
                self.writes.take(effect)

    def flush(self) -> None:
        self.writes.flush()

    def sweep(self, now: float) -> None:
        """Forget complaints, flagged drafts and KPI days too old to matter (no map only grows)."""
        self.complaints.sweep(now)
        self.overrides.sweep(now)
        self.tracker.forget_days_before(self.tracker.days.date_of(now - 86400.0))
        self.penalties.sweep(now)

    def _owns(self, shop: str) -> bool:
        return self.cluster is None or self.cluster.owns(shop)

    def _order_changed(self, shop: str, order: str) -> None:
        self.notify("order", (shop, order))

    def _next_wake(self) -> float | None:
        wakes = (self.tracker.next_wake(), self.nudges.next_wake(), self.penalties.next_wake())
        return min((w for w in wakes if w is not None), default=None)

    def _on_time(self, now: float) -> None:
        if self.cluster is not None:
            self.cluster.check_acting()  # a paused owner hands its shops back before firing
        self.apply(self.tracker.advance(now))
        self.delivery.apply(self.nudges.advance(now, self.world))
        self.penalties.advance(now)

    # --- orders ------------------------------------------------------------------------------

    async def take_order(self, event: OrderEvent) -> bool:
        """Apply an order event durably: acknowledged only after the store committed it.

        Returns whether it changed anything (False for a repeat). In a cluster, an order for a
        shop another process owns is handed to that process."""
        if self.cluster is not None and not self.cluster.owns(event.shop):
            return await self.cluster.request_order(event)
        return await self.apply_order(event)

    async def apply_order(self, event: OrderEvent) -> bool:
        """Take an order event this process owns (the cluster hands them over here too)."""
        changed = await self.delivery.take_order(event)
        if changed:
            ts = event.ts if event.ts is not None else self.clock()
            self.penalties.order(event.shop, event.order, event.conversation, event.status, ts)
            self.scheduler.poke()
        return changed

    # --- library and adapters ----------------------------------------------------------------

    def library_failed(self, error: KefuError | None) -> None:
        self.library_error = error

    def library_changed(self, library: Library) -> None:
        self.assist.library = library
        for (shop, agent), channel in self.registry.channels.items():
            if channel.sessions:
                self.registry.push(shop, agent, protocol.library(library.version))

    def adapters_changed(self, adapters: AdapterSet) -> None:
        self.adapters = adapters
        frame = adapters.frame()
        for session in self.registry.sessions():
            self.registry.reply(session, frame)
