"""One supervisor's live feed (``/dashboard/live``): an observer of the service that queues the
shop's updates as they happen and a pump that sends them, with what has no event compared once
a second. The frames are rendered in server/protocol.py ("dashboard frames"); docs/qa.md lists them.

Clock, KPI and audit changes arrive from the service's observers as they happen; order and ledger
changes are noted as they happen and sent once a second, coalesced; presence and adapter health
change at a human pace with no single event to hook, so each feed compares them once a second.
"""

from __future__ import annotations

import asyncio
from time import monotonic
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from aiohttp import web

from server import protocol
from server.core.kpi import KpiDay
from server.core.tracker import SaveKpi, TimerChanged, TimerLevel
from server.runtime.dashorders import ShownOrders
from server.runtime.shopview import ShopView
from server.storage import AuditRecord

POLL_S = 1.0  # presence, orders and the date are compared this often
MAX_QUEUED = 2000  # updates waiting for one slow page; past this it gets a fresh snapshot

Update = dict[str, Any] | KpiDay | AuditRecord


class Feed:
    """One dashboard connection, an observer of the service: the updates waiting for it, and
    what it was last sent. ``online`` and ``broken`` read a shop's presence and adapter health."""

    def __init__(
        self,
        view: ShopView,
        shop: str,
        ws: web.WebSocketResponse,
    ) -> None:
        self.view = view
        self.config = view.config
        self.shop = shop
        self.ws = ws
        self.zone = ZoneInfo(view.config.timezone)
        self.queue: asyncio.Queue[Update] = asyncio.Queue(MAX_QUEUED)
        self.overflowed = False
        self.date = ""
        self.online: list[str] = []
        self.orders = ShownOrders(view, shop)
        self.adapters: list[dict[str, Any]] = []
        self.ledger_changed = False  # fines, points or idle alerts changed since the last poll

    def __call__(self, event: str, payload: Any) -> None:
        """Called inside the service's handlers: filter and queue, nothing slow."""
        update: Update
        if event == "order":
            if payload[0] == self.shop:
                self.orders.changed.add(payload[1])
            return
        if event in ("penalties", "idle"):
            self.ledger_changed = self.ledger_changed or payload == self.shop
            return
        if event == "audit" and payload.shop == self.shop:
            update = payload
        elif isinstance(payload, SaveKpi) and payload.kpi.shop == self.shop:
            update = payload.kpi  # reported when sent, so a burst of changes shows the latest
        elif isinstance(payload, TimerChanged) and payload.shop == self.shop:
            if payload.level is TimerLevel.FOLLOW_UP:
                return  # the panel's follow-up reminders are not waiting buyers
            update = protocol.feed_timer(payload)
        else:
            return
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(update)
        except asyncio.QueueFull:
            self.overflowed = True  # the pump sends a fresh snapshot instead

    async def pump(self) -> None:
        ws = self.ws
        try:
            await self._send(ws, await self.snapshot())
            next_poll = monotonic() + POLL_S
            while not ws.closed:
                timeout = max(0.0, next_poll - monotonic())
                try:
                    update = await asyncio.wait_for(self.queue.get(), timeout)
                except TimeoutError:
                    update = None
                if self.overflowed:
                    await self._send(ws, await self.snapshot())
                elif update is not None:
                    await self._send(ws, self.frame(update))
                if monotonic() >= next_poll:
                    next_poll = monotonic() + POLL_S
                    for frame in await self.poll():
                        await self._send(ws, frame)
        except ConnectionResetError:
            pass  # the page went away; the reader sees the close
        finally:
            await ws.close()

    @staticmethod
    async def _send(ws: web.WebSocketResponse, frame: dict[str, Any]) -> None:
        await ws.send_str(orjson.dumps(frame).decode())

    async def snapshot(self) -> dict[str, Any]:
        view = self.view
        now = view.clock()
        today = view.date_of(now)
        records = await view.audit_today(self.shop, now)
        outcomes = await view.nudge_outcomes(self.shop, today)
        # From here on nothing awaits: the snapshot reflects every update queued so far, except
        # audit records stored after audit_today read, which stay queued.
        known = set(records)
        pending = [self.queue.get_nowait() for _ in range(self.queue.qsize())]
        for update in pending:
            if isinstance(update, AuditRecord) and update not in known:
                self.queue.put_nowait(update)
        self.overflowed = False
        self.date = today
        self.online = sorted(self.view.online_agents(self.shop))
        self.adapters = self.view.broken_adapters(self.shop)
        self.ledger_changed = False
        return protocol.feed_snapshot(
            shop=self.shop,
            date=today,
            server_time=now,
            config=self.config,
            waiting=view.waiting(self.shop, now),
            online=self.online,
            kpis=[self.frame(kpi) for kpi in view.kpis_of_day(self.shop, today)],
            audit=records,
            unpaid=self.orders.all(now),
            today=protocol.nudged_today(outcomes),
            adapters=self.adapters,
            penalties=view.penalties_now(self.shop),
            idle=view.idle_alerts(self.shop),
        )

    def frame(self, update: Update) -> dict[str, Any]:
        if isinstance(update, KpiDay):
            return protocol.feed_kpi(update.report(self.config.target_rate))
        if isinstance(update, AuditRecord):
            return protocol.feed_audit(update, self.zone)
        return update

    async def poll(self) -> list[dict[str, Any]]:
        """What changed without an event: the date (a new snapshot), presence, unpaid orders,
        adapter health, and the ledger (noted by events, sent at most once a poll)."""
        view = self.view
        now = view.clock()
        if view.date_of(now) != self.date:
            return [await self.snapshot()]
        frames: list[dict[str, Any]] = []
        online = sorted(self.view.online_agents(self.shop))
        if online != self.online:
            self.online = online
            frames.append(protocol.feed_agents(online))
        changed, removed = self.orders.changes(now)
        if changed or removed:
            outcomes = await view.nudge_outcomes(self.shop, self.date)
            frames.append(protocol.feed_orders(changed, removed, protocol.nudged_today(outcomes)))
        adapters = self.view.broken_adapters(self.shop)
        if adapters != self.adapters:
            self.adapters = adapters
            frames.append(protocol.feed_adapters(adapters))
        if self.ledger_changed:
            self.ledger_changed = False
            penalties, idle = view.penalties_now(self.shop), view.idle_alerts(self.shop)
            frames.append(protocol.feed_ledger(penalties, idle))
        return frames
