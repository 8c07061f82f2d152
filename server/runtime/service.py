"""The Service: lifecycle, the dispatcher (one handler per client message type) and the fan-out
of core effects. Each handler is decode → core → render → send; the parts it hands work to are
:mod:`~server.runtime.assist` (suggestions, checks), :mod:`~server.runtime.delivery` (orders and
nudges, durable first), :mod:`~server.runtime.writebehind` (clock state),
:mod:`~server.runtime.audit` and the read-only :mod:`~server.runtime.shopview`.

Handlers get an authenticated :class:`Peer` and a validated message dict. Everything they
read or write is keyed by the session's shop, which comes from the token and never from the
frame, so an agent cannot reach another shop's data.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from server import protocol
from server.core.aftersales import Complaints
from server.core.checker import Violation
from server.core.learn import load_books
from server.core.linetime import history_hold, line_time
from server.core.nudgebook import Nudge, NudgeBook
from server.core.nudges import OrderEvent, OrderStatus
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
from server.errors import BadField, KefuError, ProtocolError
from server.runtime.adapters import AdapterSet, HealthBook
from server.runtime.assist import Assist
from server.runtime.audit import AuditTrail
from server.runtime.delivery import NudgeDelivery
from server.runtime.handover import HandoverNotes
from server.runtime.library import Library
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

Handler = Callable[[Peer, dict[str, Any]], Awaitable[None]]
# A live view (the supervisors' dashboard) told what happens: ("effect", tracker Effect) for
# every clock and KPI change, ("audit", AuditRecord) for every flagged check and override,
# ("order", (shop, order number)) whenever an order or one of its nudges changed.
Observer = Callable[[str, Any], None]
# What an agent does at the keyboard, besides sending a line: it ends an idle span (空挂).
ACTIVITY = frozenset(("check", "focus", "suggestion_used", "nudge_ack"))


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
        self.view = ShopView(
            config, self.tracker, self.nudges, self.penalties, store, self._owns, clock
        )
        self.library_error: KefuError | None = None  # the last failed reload, if not fixed since
        self.observers: list[Observer] = []
        self.adapters: AdapterSet | None = None  # the page adapters served to extensions
        self.adapter_health = HealthBook(metrics)
        self.cluster: Cluster | None = None
        self.handlers: dict[str, Handler] = {
            "message": self.on_message,
            "order": self.on_order,
            "nudge_ack": self.on_nudge_ack,
            "check": self.on_check,
            "focus": self.on_focus,
            "suggestion_used": self.on_suggestion_used,
            "ping": self.on_ping,
            "state": self.on_state,
            "adapter_health": self.on_adapter_health,
            "get_adapters": self.on_get_adapters,
        }

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

    # --- session ----------------------------------------------------------------------------

    def welcome(self, session: Peer, resume: int | None) -> None:
        """Attach the session, say ``welcome``, replay what it missed, send the first state page."""
        channel = self.registry.attach(session)
        replay = self.registry.replay(channel, resume) if resume is not None else []
        frame = protocol.welcome(
            session.id,
            self.clock(),
            session,
            self.config.timers[session.platform],
            self.config,
            self.library.version if self.library else None,
            self.adapters.version if self.adapters else None,
            replay,
        )
        self.registry.reply(session, frame)
        for _, data, kind in replay or ():
            session.enqueue(data, kind)
        self.registry.reply(session, self.view.state_frame(session))
        kpi = self.tracker.kpi_today(session.shop, session.agent, self.clock())
        # issue 3: a kpi on hello
        self.registry.reply(session, protocol.kpi(kpi, self.config.target_rate))
        now = self.clock()
        connected = self.nudges.agent_connected(session.shop, session.agent, now, self.world)
        self.delivery.apply(connected)
        self.penalties.online(session.shop, session.agent, now)
        self.scheduler.poke()

    async def on_state(self, session: Peer, message: dict[str, Any]) -> None:
        """A page of the state: the one after the cursor ``after`` (a ``next`` it was sent)."""
        after = message.get("after")
        cursor = None
        if after is not None:
            started, _, conversation = after.partition(" ")
            try:
                cursor = (float(started), conversation)
            except ValueError:
                raise BadField.must_be("after", "state", "a 'next' cursor", after) from None
        frame = self.view.state_frame(session, cursor)
        if "id" in message:
            frame["ref"] = message["id"]
        self.registry.reply(session, frame)

    def detach(self, session: Peer) -> None:
        self.registry.detach(session)
        self.adapter_health.forget(session.id)
        channel = self.registry.channels.get((session.shop, session.agent))
        if channel is None or not channel.sessions:
            self.penalties.offline(session.shop, session.agent, self.clock())

    async def handle(self, session: Peer, message: dict[str, Any]) -> None:
        await self.handlers[message["type"]](session, message)
        if message["type"] in ACTIVITY:
            self.penalties.active(session.shop, session.agent, self.clock())

    async def receive(self, session: Peer, frame: str | bytes) -> str:
        """Decode and handle one client frame; a bad one gets an error frame. Returns its type."""
        kind = "invalid"
        try:
            message = protocol.decode(frame)
            kind = message["type"]
            if kind == "hello":
                raise ProtocolError("already authenticated: 'hello' is sent once")
            await self.handle(session, message)
        except KefuError as exc:
            self.error(session, exc, protocol.ref_of(frame))
        return kind

    # --- handlers ---------------------------------------------------------------------------

    def _line_time(self, message: dict[str, Any]) -> float:
        return line_time(message.get("ts"), self.clock())

    async def _known(self, shop: str, conversation: str) -> bool:
        """Whether the conversation exists: in memory, or reloaded now from the store (it left
        memory when idle). Raises ``limit_exceeded`` when its shop cannot take it back."""
        key = (shop, conversation)
        if key in self.tracker.conversations:
            return True
        # Left memory since the last flush: the unwritten copy is the newest.
        conv = self.writes.unwritten(key) or await self.store.load_conversation(*key)
        if key in self.tracker.conversations:
            return True  # another connection took it back while the store answered
        if conv is None:
            return False
        self.tracker.reload(conv, self.clock())
        return True

    async def on_message(self, session: Peer, message: dict[str, Any]) -> None:
        known = await self._known(session.shop, message["conversation"])
        ts = self._line_time(message)
        conv = self.tracker.conversations.find(session.shop, message["conversation"])
        moved_from = conv.agent if conv is not None and conv.agent != session.agent else None
        args = (
            session.shop,
            message["conversation"],
            message["buyer"],
            session.platform,
            session.agent,
            ts,
        )
        if message["from"] == "buyer":
            first = not known
            not_before = history_hold(ts, self.clock())
            self.apply(self.tracker.buyer_message(*args, not_before))
            self.penalties.buyer_line(
                session.shop, message["conversation"], session.agent, message["text"], ts
            )
            self.handover.buyer_line(session.shop, message["conversation"], message["text"])
            self.complaints.buyer_line(session.shop, message["conversation"], message["text"], ts)
            self.assist.learning.buyer_line(session.shop, message["conversation"], message["text"])
            items = self.assist.suggest(session, message, first)
            frame = protocol.suggestions(message["conversation"], message.get("id"), items)
            self.registry.reply(session, frame)
        else:
            started = conv.round_started_at if conv is not None else None  # the round it ends
            self.apply(
                self.tracker.agent_message(*args, message["text"], bool(message.get("auto")))
            )
            if not message.get("auto"):
                self.nudges.conversation_answered(session.shop, message["conversation"], ts)
                overridden = self._record_override(session, message, ts)
                self.penalties.agent_line(session, message, ts, started, overridden)
                learning = self.assist.learning
                learning.agent_reply(session.shop, message["conversation"], message["text"])
            self._ack(session, message)
        if moved_from is not None:
            self.handover.moved(session.shop, message["conversation"], moved_from, ts)
        self.scheduler.poke()

    def order_event(self, shop: str, message: dict[str, Any]) -> OrderEvent:
        return OrderEvent(
            shop,
            message["order"],
            message["buyer"],
            OrderStatus(message["status"]),
            message.get("conversation"),
            message.get("amount"),
            self._line_time(message) if "ts" in message else None,
        )

    async def on_order(self, session: Peer, message: dict[str, Any]) -> None:
        await self.take_order(self.order_event(session.shop, message))
        self._ack(session, message)

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

    async def on_nudge_ack(self, session: Peer, message: dict[str, Any]) -> None:
        await self.delivery.ack(session.shop, session.agent, message)
        self.scheduler.poke()
        self._ack(session, message)

    # --- suggestions and checks -------------------------------------------------------------

    async def on_check(self, session: Peer, message: dict[str, Any]) -> None:
        text = message["text"]
        context = self.assist.check_context(session.shop, session.platform, message)
        violations = self.assist.check(text, context)
        if message.get("final") and violations:
            self.audit.record(session, "check", message.get("conversation"), text, violations)
            key = (session.shop, session.agent, message.get("conversation") or "")
            self.overrides.flag(key, self.clock(), text, violations)
        self.registry.reply(session, protocol.check_result(message.get("id"), violations))

    def _record_override(
        self, session: Peer, message: dict[str, Any], ts: float
    ) -> list[Violation] | None:
        """Audit a line equal to a flagged draft sent soon after; its violations, or None."""
        key = (session.shop, session.agent, message["conversation"])
        overridden = self.overrides.sent(key, message["text"], ts)
        if overridden is not None:
            draft = message["text"].strip()
            self.audit.record(session, "override", message["conversation"], draft, overridden)
        return overridden

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

    async def on_get_adapters(self, session: Peer, message: dict[str, Any]) -> None:
        frame = self.adapters.frame() if self.adapters else protocol.adapters(None)
        if "id" in message:
            frame["ref"] = message["id"]
        self.registry.reply(session, frame)

    async def on_adapter_health(self, session: Peer, message: dict[str, Any]) -> None:
        now = self.clock()
        self.adapter_health.report(session.id, session.shop, session.agent, message, now)
        self._ack(session, message)

    async def on_focus(self, session: Peer, message: dict[str, Any]) -> None:
        session.focus = message["conversation"]
        self._ack(session, message)

    async def on_suggestion_used(self, session: Peer, message: dict[str, Any]) -> None:
        counts = self.assist.usage.setdefault(session.shop, {})
        counts[message["phrase"]] = counts.get(message["phrase"], 0) + 1
        self.assist.learning.phrase_used(session.shop, message["conversation"], message["phrase"])
        await self.store.add_usage(session.shop, message["phrase"])
        self._ack(session, message)

    async def on_ping(self, session: Peer, message: dict[str, Any]) -> None:
        self.registry.reply(session, protocol.pong(message.get("id")))

    def _ack(self, session: Peer, message: dict[str, Any]) -> None:
        if "id" in message:
            self.registry.reply(session, protocol.ack(message["id"]))

    def error(self, session: Peer, exc: KefuError, ref: Any = None) -> None:
        self.metrics.errors.labels(exc.code).inc()
        self.registry.reply(session, protocol.error(exc, ref))
