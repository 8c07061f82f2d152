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
from server.core.floor import Effect, Floor, Overridden, Suggested
from server.core.handover import HandedOver
from server.core.learn import load_books
from server.core.nudgebook import Deliver, Nudge, NudgeBook, SaveNudges
from server.core.nudges import OrderEvent
from server.core.penalties.desk import DeadlineChanged, Desk, IdleChanged, LedgerChanged
from server.core.tracker import (
    Conversation,
    KpiChanged,
    Limits,
    SaveConversation,
    SaveKpi,
    TimerChanged,
    Tracker,
)
from server.errors import KefuError
from server.runtime.adapters import AdapterSet, HealthBook
from server.runtime.assist import Assist
from server.runtime.audit import AuditTrail
from server.runtime.delivery import NudgeDelivery
from server.runtime.library import Library
from server.runtime.sessions import Sessions
from server.runtime.writebehind import WriteBehind

if TYPE_CHECKING:
    from server.runtime.cluster import Cluster
from server.runtime.metrics import Metrics
from server.runtime.penalties import PenaltyDesk
from server.runtime.registry import Peer, Registry
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
        self.assist = Assist(config, metrics)
        desk = Desk(
            config.penalties,
            config.deadlines,
            config.timezone,
            config.idle_alert_s,
            self.tracker,
            clock,
        )
        self.floor = Floor(
            self.tracker,
            self.nudges,
            desk,
            config.shop_facts,
            self.assist.matcher,
            self.registry.online_agents,
            clock,
        )
        self.scheduler = Scheduler(self.floor.next_wake, self._on_time, clock)
        self.delivery = NudgeDelivery(self.nudges, store, self.registry, clock, self._order_changed)
        self.writes = WriteBehind(store, clock, self.floor.sweep)
        self.audit = AuditTrail(store, clock, self.notify)
        self.penalties = PenaltyDesk(config, desk, self.registry, store, self.notify)
        self.writes.also.append(self.penalties.flush)
        self.adapter_health = HealthBook(metrics)
        self.view = ShopView(
            config, self.floor, self.penalties, store, self._owns, clock,
            self.registry.online_agents, self.adapter_health.broken,
        )  # fmt: skip
        # Each effect the core returns, rendered and sent, saved, or handed on (apply).
        self._effects: dict[type, Callable[[Any], None]] = {
            TimerChanged: self._timer,
            KpiChanged: self._kpi,
            SaveConversation: self._save,
            SaveKpi: self._save,
            SaveNudges: self.delivery.apply,
            Deliver: self.delivery.apply,
            DeadlineChanged: self.penalties.apply,
            LedgerChanged: self.penalties.apply,
            IdleChanged: self.penalties.apply,
            HandedOver: self._handed_over,
        }
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
        self.floor.usage = await self.store.load_usage()
        self.floor.learning.books.update(load_books(Path(self.config.phrases) / "learned"))
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
        self.floor.forget(shop)
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

    def apply(
        self, effects: Iterable[Effect], session: Peer | None = None, ref: Any = None
    ) -> None:
        """Each effect in order: rendered here, at send time (the core hands back values,
        protocol.py the frames), sent, saved or handed on. ``session``: the one whose frame
        caused them (suggestions answer it, ``ref`` its frame's id; an override is its agent's)."""
        handlers = self._effects
        for effect in effects:
            handler = handlers.get(type(effect))
            if handler is not None:
                handler(effect)
            elif isinstance(effect, Suggested):
                assert session is not None, "suggestions answer a session"
                items = protocol.suggestion_items(effect.found)
                self.registry.reply(session, protocol.suggestions(effect.conversation, ref, items))
            elif isinstance(effect, Overridden):
                assert session is not None, "an override is a session's line"
                self.audit.record(
                    session, "override", effect.conversation, effect.draft, effect.violations
                )

    def _timer(self, effect: TimerChanged) -> None:
        self.notify("effect", effect)
        self.registry.push(effect.shop, effect.agent, protocol.timer(effect))

    def _kpi(self, effect: KpiChanged) -> None:
        self.notify("effect", effect)
        kpi = effect.kpi
        self.registry.push(kpi.shop, kpi.agent, protocol.kpi(kpi, effect.target_rate))

    def _save(self, effect: SaveConversation | SaveKpi) -> None:
        self.notify("effect", effect)
        self.writes.take(effect)

    def _handed_over(self, effect: HandedOver) -> None:
        frame = protocol.handover(
            effect.conversation, effect.buyer, effect.from_agent, effect.note, effect.pending
        )
        self.registry.push(effect.shop, effect.agent, frame)

    def flush(self) -> None:
        self.writes.flush()

    def _owns(self, shop: str) -> bool:
        return self.cluster is None or self.cluster.owns(shop)

    def _order_changed(self, shop: str, order: str) -> None:
        self.notify("order", (shop, order))

    def _on_time(self, now: float) -> None:
        if self.cluster is not None:
            self.cluster.check_acting()  # a paused owner hands its shops back before firing
        self.apply(self.floor.advance(now))

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
            self.apply(self.floor.order_taken(event, ts))
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
