"""The client frames of a session, one handler per type: decode → core → render → send.

Handlers get an authenticated :class:`Peer` and a validated message dict. Everything they read or
write is keyed by the session's shop, which comes from the token and never from the frame, so an
agent cannot reach another shop's data. A chat line is one call into the core
(:class:`~server.core.floor.Floor`), whose effects the service renders and sends
(``Service.apply``); the other parts belong to the :class:`~server.runtime.service.Service`:
:mod:`~server.runtime.assist` (the suggester and the checker within their budgets),
:mod:`~server.runtime.delivery` (orders and nudges, durable first),
:mod:`~server.runtime.writebehind` (clock state), :mod:`~server.runtime.audit` and the read-only
:mod:`~server.runtime.shopview`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from server import protocol
from server.core.floor import Line
from server.core.linetime import history_hold, line_time
from server.core.nudges import OrderEvent, OrderStatus
from server.errors import BadField, KefuError, ProtocolError
from server.runtime.registry import Peer

if TYPE_CHECKING:
    from server.runtime.service import Service

Handler = Callable[[Peer, dict[str, Any]], Awaitable[None]]
# What an agent does at the keyboard, besides sending a line: it ends an idle span (空挂).
ACTIVITY = frozenset(("check", "focus", "suggestion_used", "nudge_ack"))


class Sessions:
    def __init__(self, service: Service) -> None:
        self.service = service  # for what changes while it runs: the adapters, orders' owner
        self.config, self.clock, self.metrics = service.config, service.clock, service.metrics
        self.store, self.registry, self.floor = service.store, service.registry, service.floor
        self.tracker, self.delivery, self.assist = service.tracker, service.delivery, service.assist
        self.view, self.writes, self.scheduler = service.view, service.writes, service.scheduler
        self.audit = service.audit
        self.adapter_health, self.apply = service.adapter_health, service.apply
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
            self.assist.library.version if self.assist.library else None,
            self.service.adapters.version if self.service.adapters else None,
            replay,
        )
        self.registry.reply(session, frame)
        for _, data, kind in replay or ():
            session.enqueue(data, kind)
        self.registry.reply(session, self.view.state_frame(session))
        kpi = self.tracker.kpi_today(session.shop, session.agent, self.clock())
        # issue 3: a kpi on hello
        self.registry.reply(session, protocol.kpi(kpi, self.config.target_rate))
        self.apply(self.floor.agent_online(session.shop, session.agent, self.clock()))
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
            self.apply(self.floor.agent_offline(session.shop, session.agent, self.clock()))

    async def handle(self, session: Peer, message: dict[str, Any]) -> None:
        await self.handlers[message["type"]](session, message)
        if message["type"] in ACTIVITY:
            self.apply(self.floor.agent_active(session.shop, session.agent, self.clock()))

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
        line = Line(
            session.shop,
            message["conversation"],
            message["buyer"],
            session.platform,
            session.agent,
            ts,
            message["text"],
        )
        if message["from"] == "buyer":
            hold = history_hold(ts, self.clock())
            suggest = partial(self.assist.suggest, session)
            effects = self.floor.buyer_line(line, not known, hold, suggest)
            self.apply(effects, session, message.get("id"))
        else:
            context = self.assist.check_context(session.shop, session.platform, message)
            check = partial(self.assist.check_sent, context=context)
            self.apply(self.floor.agent_line(line, bool(message.get("auto")), check), session)
            self._ack(session, message)
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
        await self.service.take_order(self.order_event(session.shop, message))
        self._ack(session, message)

    async def on_nudge_ack(self, session: Peer, message: dict[str, Any]) -> None:
        await self.delivery.ack(session.shop, session.agent, message)
        self.scheduler.poke()
        self._ack(session, message)

    async def on_check(self, session: Peer, message: dict[str, Any]) -> None:
        text = message["text"]
        context = self.assist.check_context(session.shop, session.platform, message)
        violations = self.assist.check(text, context)
        if message.get("final") and violations:
            self.audit.record(session, "check", message.get("conversation"), text, violations)
            conversation = message.get("conversation") or ""
            self.floor.flagged(session.shop, session.agent, conversation, text, violations)
        self.registry.reply(session, protocol.check_result(message.get("id"), violations))

    async def on_get_adapters(self, session: Peer, message: dict[str, Any]) -> None:
        frame = self.service.adapters.frame() if self.service.adapters else protocol.adapters(None)
        if "id" in message:
            frame["ref"] = message["id"]
        self.registry.reply(session, frame)

    async def on_adapter_health(self, session: Peer, message: dict[str, Any]) -> None:
        now = self.clock()
        self.adapter_health.report(session.id, session.shop, session.agent, message, now)
        self._ack(session, message)

    async def on_focus(self, session: Peer, message: dict[str, Any]) -> None:
        # The agent is at the keyboard (ACTIVITY: it ends an idle span); nothing else reads it.
        self._ack(session, message)

    async def on_suggestion_used(self, session: Peer, message: dict[str, Any]) -> None:
        self.floor.phrase_used(session.shop, message["conversation"], message["phrase"])
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
