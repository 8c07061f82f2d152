"""What the server does with each client message: decode → core → carry out the effects.

Handlers get an authenticated :class:`Session` and a validated message dict. Everything they
read or write is keyed by the session's shop, which comes from the token and never from the
frame, so an agent cannot reach another shop's data.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from server import protocol
from server.core.tracker import Effect, Push, SaveConversation, SaveKpi, Tracker
from server.errors import KefuError
from server.runtime.metrics import Metrics
from server.runtime.registry import Registry, Session
from server.runtime.scheduler import Scheduler
from server.settings import Config
from server.storage import Store

log = logging.getLogger("kefu.service")

Handler = Callable[[Session, dict[str, Any]], Awaitable[None]]

# A line's own timestamp is trusted back to this far (history shown when the console opens);
# anything older, or in the future, is taken as seen now.
MAX_BACKDATE_S = 86400.0


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
        self.registry = Registry(clock())
        self.tracker = Tracker(config.timers, config.timezone, config.target_rate)
        self.scheduler = Scheduler(self.tracker.next_wake, self._on_time, clock)
        self.library_version = "none"
        self.handlers: dict[str, Handler] = {
            "message": self.on_message,
            "focus": self.on_focus,
            "suggestion_used": self.on_suggestion_used,
            "ping": self.on_ping,
        }

    async def start(self) -> None:
        now = self.clock()
        conversations = await self.store.load_conversations()
        kpis = await self.store.load_kpis(None, self.tracker.days.date_of(now))
        self.tracker.restore(conversations, kpis)
        self.scheduler.poke()
        log.info("service started", extra={"open_conversations": len(conversations)})

    def stop(self) -> None:
        self.scheduler.stop()

    # --- effects ----------------------------------------------------------------------------

    def apply(self, effects: Iterable[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Push):
                self.registry.push(effect.shop, effect.agent, effect.frame)
            elif isinstance(effect, SaveConversation):
                self.store.save_conversation(effect.conversation)
            elif isinstance(effect, SaveKpi):
                self.store.save_kpi(effect.kpi)

    def _on_time(self, now: float) -> None:
        self.apply(self.tracker.advance(now))

    # --- session ----------------------------------------------------------------------------

    def welcome(self, session: Session, resume: int | None) -> None:
        """Attach the session, say ``welcome``, replay what it missed, and send the full state."""
        channel = self.registry.attach(session)
        replay = self.registry.replay(channel, resume) if resume is not None else []
        timers = self.config.timers[session.platform]
        self.registry.reply(
            session,
            {
                "type": "welcome",
                "session": str(session.conn.id),
                "server_time": self.clock(),
                "platform": session.platform,
                "agent": session.agent,
                "shop": session.shop,
                "settings": {
                    "timers": {
                        "warn_s": timers.warn_s,
                        "due_s": timers.due_s,
                        "overdue_s": timers.overdue_s,
                        "follow_up_s": timers.follow_up_s,
                        "target_s": timers.target_s,
                    },
                    "fail_closed": self.config.fail_closed,
                    "check_timeout_ms": 300,
                    "target_rate": self.config.target_rate,
                },
                "library": self.library_version,
                "resumed": len(replay) if replay is not None else 0,
                "resync": replay is None,
            },
        )
        for _, data, kind in replay or ():
            session.enqueue(data, kind)
        self.registry.reply(session, self.state_frame(session))

    def state_frame(self, session: Session) -> dict[str, Any]:
        now = self.clock()
        conversations = [
            self.tracker.timer_frame(conv, self.tracker.level_of(conv), now)
            for conv in self.tracker.waiting(session.shop, session.agent)
        ]
        for frame in conversations:
            del frame["type"]
        kpi = self.tracker.kpi_today(session.shop, session.agent, now)
        return {
            "type": "state",
            "conversations": sorted(conversations, key=lambda c: c["started_at"]),
            "nudges": [],
            "kpi": kpi.report(self.config.target_rate),
        }

    async def handle(self, session: Session, message: dict[str, Any]) -> None:
        await self.handlers[message["type"]](session, message)

    # --- handlers ---------------------------------------------------------------------------

    def _line_time(self, message: dict[str, Any]) -> float:
        now = self.clock()
        ts = message.get("ts")
        if ts is None or not now - MAX_BACKDATE_S <= ts <= now:
            return now
        return float(ts)

    async def on_message(self, session: Session, message: dict[str, Any]) -> None:
        ts = self._line_time(message)
        args = (
            session.shop,
            message["conversation"],
            message["buyer"],
            session.platform,
            session.agent,
            ts,
        )
        if message["from"] == "buyer":
            self.apply(self.tracker.buyer_message(*args))
            self.registry.reply(
                session,
                {
                    "type": "suggestions",
                    "conversation": message["conversation"],
                    "ref": message.get("id"),
                    "items": [],
                },
            )
        else:
            self.apply(
                self.tracker.agent_message(*args, message["text"], bool(message.get("auto")))
            )
            self._ack(session, message)
        self.scheduler.poke()

    async def on_focus(self, session: Session, message: dict[str, Any]) -> None:
        session.focus = message["conversation"]
        self._ack(session, message)

    async def on_suggestion_used(self, session: Session, message: dict[str, Any]) -> None:
        await self.store.add_usage(session.shop, message["phrase"])
        self._ack(session, message)

    async def on_ping(self, session: Session, message: dict[str, Any]) -> None:
        frame: dict[str, Any] = {"type": "pong"}
        if "id" in message:
            frame["ref"] = message["id"]
        self.registry.reply(session, frame)

    def _ack(self, session: Session, message: dict[str, Any]) -> None:
        if "id" in message:
            self.registry.reply(session, {"type": "ack", "ref": message["id"]})

    def error(self, session: Session, exc: KefuError, ref: Any = None) -> None:
        self.metrics.errors.labels(exc.code).inc()
        self.registry.reply(session, protocol.error(exc, ref))
