"""The supervisors' side of the HTTP server: the live dashboard and the audit-trail export.

``GET /dashboard`` serves the page, which holds no data. The page opens the live feed
``/dashboard/live`` (a websocket; the supervisor token in ``?token=``, since browsers cannot set
headers on a websocket, or ``Authorization: Bearer``). The feed sends one ``snapshot`` of the
shop, then updates: ``timer`` (a waiting conversation's clock; level ``cleared`` removes it),
``kpi`` (an agent's figures today), ``audit`` (a flagged final check or an override),
``agents`` (who is online), ``orders`` (the unpaid orders that changed, with their nudges,
and those no longer unpaid: never the whole list again, which was 6.3 MB at 20,000 orders),
``adapters`` (the agents' consoles whose page adapter has stopped matching) and ``ledger`` (this
month's fines and points per agent and the idle alerts, docs/penalties.md). Clock, KPI and audit
changes arrive from the service's observers as they happen; order and ledger changes are noted
as they happen and sent once a second, coalesced; presence and adapter health change at a human
pace with no single event to hook, so each feed compares them once a second.

``GET /api/audit`` exports the audit trail of a range of the shop's local dates as JSON or CSV.
Both need a supervisor token; an agent's token gets ``forbidden`` (HTTP 403).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import heapq
import io
from dataclasses import fields
from datetime import date, datetime, time, timedelta
from time import monotonic
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import orjson
from aiohttp import WSCloseCode, web

from server import protocol
from server.core.kpi import KpiDay
from server.core.nudges import Order, OrderStatus
from server.core.penalties import PenaltyRules, rule_label
from server.core.tracker import FOLLOW_UP, Push, SaveKpi
from server.errors import BadField, Forbidden, NotAuthenticated
from server.qa.labels import CATEGORY_LABELS
from server.runtime.http import (
    SERVICE,
    STATIC,
    TOKENS,
    authenticate,
    json_response,
    query_date,
    shop_of,
)
from server.runtime.service import Service
from server.settings import Token
from server.storage import AuditRecord

POLL_S = 1.0  # presence, orders and the date are compared this often
MAX_QUEUED = 2000  # updates waiting for one slow page; past this it gets a fresh snapshot
RECENT_AUDIT = 50  # audit records in a snapshot (today's latest)

Update = dict[str, Any] | KpiDay | AuditRecord

_LABELS = {"categories": dict(CATEGORY_LABELS)}


def _labels(rules: PenaltyRules) -> dict[str, dict[str, str]]:
    """Chinese names for the page: checker categories, and the shop's penalty rules."""
    names = {f.name: rule_label(f.name, rules) for f in fields(PenaltyRules)}
    return {**_LABELS, "rules": {name: label for name, label in names.items() if label}}


def supervisor(request: web.Request, *, query_token: bool = False) -> Token:
    """The request's token, which must be a supervisor's; ``?token=`` only where allowed."""
    credential = request.query.get("token") if query_token else None
    if credential:
        token = request.app[TOKENS].get(credential)
        if token is None:
            raise NotAuthenticated("unknown token")
    else:
        token = authenticate(request)
    if not token.supervisor:
        raise Forbidden(f"only a supervisor token may use {protocol.quote(request.path)}")
    return token


async def page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "dashboard" / "index.html")


# --- the live feed ---------------------------------------------------------------------------


def check_origin(request: web.Request) -> None:
    """A browser may open the feed only from the dashboard's own origin (or a ``KEFU_ORIGINS``
    one): another site's page must not read the shop live with a supervisor's token it got
    hold of. A client sending no Origin is not a browser, and still needs the token."""
    origin = request.headers.get("Origin")
    if origin is None or origin in request.app[SERVICE].config.origins:
        return
    parts = urlsplit(origin)
    if parts.scheme in ("http", "https") and parts.netloc == request.host:
        return
    raise Forbidden(f"origin {protocol.quote(origin)} may not open {protocol.quote(request.path)}")


async def live(request: web.Request) -> web.WebSocketResponse:
    token = supervisor(request, query_token=True)
    shop = shop_of(request, token)
    check_origin(request)
    service = request.app[SERVICE]
    ws = web.WebSocketResponse(heartbeat=service.config.ping_interval_s)
    await ws.prepare(request)
    feed = Feed(service, shop, ws)
    service.observers.append(feed)
    pump = asyncio.create_task(feed.pump())
    try:
        async for _ in ws:
            pass  # the page only listens; reading answers pings and notices the close
    finally:
        service.observers.remove(feed)
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
    return ws


async def close_feeds(app: web.Application) -> None:
    """On shutdown: close every live feed with 1001 (going away), as the agents' sockets are,
    instead of letting open pages hold the server until its shutdown timeout."""
    for observer in list(app[SERVICE].observers):
        if isinstance(observer, Feed):
            await observer.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")


class Feed:
    """One dashboard connection, an observer of the service: the updates waiting for it, and
    what it was last sent."""

    def __init__(self, service: Service, shop: str, ws: web.WebSocketResponse) -> None:
        self.service = service
        self.shop = shop
        self.ws = ws
        self.zone = ZoneInfo(service.config.timezone)
        self.queue: asyncio.Queue[Update] = asyncio.Queue(MAX_QUEUED)
        self.overflowed = False
        self.date = ""
        self.online: list[str] = []
        self.shown: set[str] = set()  # the unpaid orders the page lists
        self.closing: list[tuple[float, str]] = []  # when shown orders auto-close
        self.changed: set[str] = set()  # orders changed since the last poll
        self.adapters: list[dict[str, Any]] = []
        self.ledger_changed = False  # fines, points or idle alerts changed since the last poll

    def __call__(self, event: str, payload: Any) -> None:
        """Called inside the service's handlers: filter and queue, nothing slow."""
        update: Update
        if event == "order":
            if payload[0] == self.shop:
                self.changed.add(payload[1])
            return
        if event in ("penalties", "idle"):
            self.ledger_changed = self.ledger_changed or payload == self.shop
            return
        if event == "audit" and payload.shop == self.shop:
            update = payload
        elif isinstance(payload, SaveKpi) and payload.kpi.shop == self.shop:
            update = payload.kpi  # reported when sent, so a burst of changes shows the latest
        elif isinstance(payload, Push) and payload.shop == self.shop:
            frame = payload.frame
            if frame["type"] != "timer" or frame["level"] == FOLLOW_UP:
                return  # the panel's follow-up reminders are not waiting buyers
            update = {
                "type": "timer",
                "conversation": frame["conversation"],
                "buyer": frame["buyer"],
                "agent": payload.agent,
                "level": frame["level"],
                "started_at": frame["started_at"],
                "target_s": frame["target_s"],
            }
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
        service = self.service
        now = service.clock()
        today = service.tracker.days.date_of(now)
        start = _midnight(date.fromisoformat(today), self.zone)
        records = await service.store.list_audit(self.shop, start, now + 1.0)
        outcomes = await service.view.nudge_outcomes(self.shop, today)
        # From here on nothing awaits: the snapshot reflects every update queued so far, except
        # audit records stored after list_audit read, which stay queued.
        known = set(records)
        pending = [self.queue.get_nowait() for _ in range(self.queue.qsize())]
        for update in pending:
            if isinstance(update, AuditRecord) and update not in known:
                self.queue.put_nowait(update)
        self.overflowed = False
        self.date = today
        self.online = sorted(service.registry.online_agents(self.shop))
        self.shown.clear()
        self.closing.clear()
        self.changed.clear()
        unpaid = self.unpaid_orders(now)
        self.adapters = service.adapter_health.broken(self.shop)
        waiting = [
            self.timer_item(conv.conversation, now) for conv in service.tracker.waiting(self.shop)
        ]
        kpis = [
            kpi
            for kpi in service.tracker.kpis.values()
            if kpi.shop == self.shop and kpi.date == today
        ]
        return {
            "type": "snapshot",
            "shop": self.shop,
            "date": today,
            "server_time": now,
            "timezone": service.config.timezone,
            "target_rate": service.config.target_rate,
            "labels": _labels(service.config.penalties),
            "waiting": sorted(waiting, key=lambda item: item["started_at"]),
            "online": self.online,
            "kpis": [self.frame(kpi) for kpi in sorted(kpis, key=lambda k: k.agent)],
            "audit": [audit_item(record, self.zone) for record in records[-RECENT_AUDIT:]],
            "orders": {"unpaid": unpaid, "today": _today(outcomes)},
            "adapters": self.adapters,
            **self.ledger(),
        }

    def ledger(self) -> dict[str, Any]:
        """The month's fines and points per agent and the idle alerts (docs/penalties.md)."""
        self.ledger_changed = False
        view = self.service.view
        return {"penalties": view.penalties_now(self.shop), "idle": view.idle_alerts(self.shop)}

    def timer_item(self, conversation: str, now: float) -> dict[str, Any]:
        tracker = self.service.tracker
        conv = tracker.conversations[(self.shop, conversation)]
        frame = tracker.timer_frame(conv, tracker.level_of(conv), now)
        return {
            "conversation": conv.conversation,
            "buyer": conv.buyer,
            "agent": conv.agent,
            "level": frame["level"],
            "started_at": frame["started_at"],
            "target_s": frame["target_s"],
        }

    def frame(self, update: Update) -> dict[str, Any]:
        if isinstance(update, KpiDay):
            return {"type": "kpi", **update.report(self.service.config.target_rate)}
        if isinstance(update, AuditRecord):
            return {"type": "audit", **audit_item(update, self.zone)}
        return update

    async def poll(self) -> list[dict[str, Any]]:
        """What changed without an event: the date (a new snapshot), presence, unpaid orders."""
        service = self.service
        now = service.clock()
        if service.tracker.days.date_of(now) != self.date:
            return [await self.snapshot()]
        frames: list[dict[str, Any]] = []
        online = sorted(service.registry.online_agents(self.shop))
        if online != self.online:
            self.online = online
            frames.append({"type": "agents", "online": online})
        changed, removed = self.order_changes(now)
        if changed or removed:
            today = {"today": _today(await service.view.nudge_outcomes(self.shop, self.date))}
            frames.append({"type": "orders", "changed": changed, "removed": removed} | today)
        adapters = service.adapter_health.broken(self.shop)
        if adapters != self.adapters:
            self.adapters = adapters
            frames.append({"type": "adapters", "broken": adapters})
        if self.ledger_changed:
            frames.append({"type": "ledger", **self.ledger()})
        return frames

    def order_changes(self, now: float) -> tuple[list[dict[str, Any]], list[str]]:
        """The unpaid orders that changed since the last poll, and the shown ones no longer
        unpaid (paid, closed, or past their auto-close): O(changes), not O(orders)."""
        changed: list[dict[str, Any]] = []
        gone: set[str] = set()
        book = self.service.nudges
        for number in sorted(self.changed):
            order = book.orders.get((self.shop, number))
            if order is not None and order.status is OrderStatus.CREATED and order.closes_at > now:
                changed.append(self.show(order))
            elif number in self.shown:
                gone.add(number)
        self.changed.clear()
        while self.closing and self.closing[0][0] <= now:
            gone.add(heapq.heappop(self.closing)[1])
        removed = sorted(number for number in gone if number in self.shown)
        self.shown.difference_update(removed)
        return changed, removed

    def unpaid_orders(self, now: float) -> list[dict[str, Any]]:
        unpaid = sorted(
            (
                order
                for (shop, _), order in self.service.nudges.orders.items()
                if shop == self.shop
                and order.status is OrderStatus.CREATED
                and order.closes_at > now
            ),
            key=lambda order: (order.created_at, order.order),
        )
        return [self.show(order) for order in unpaid]

    def show(self, order: Order) -> dict[str, Any]:
        """An unpaid order as the page lists it, remembered as shown until it leaves."""
        if order.order not in self.shown:
            self.shown.add(order.order)
            heapq.heappush(self.closing, (order.closes_at, order.order))
        nudges = self.service.nudges.order_nudges(self.shop, order.order)
        return {
            "order": order.order,
            "buyer": order.buyer,
            "conversation": order.conversation,
            "amount": order.amount,
            "created_at": order.created_at,
            "closes_at": order.closes_at,
            "nudges": [
                {
                    "attempt": n.attempt,
                    "due_at": n.due_at,
                    "state": n.state,
                    "agent": n.agent,
                    "outcome": n.outcome,
                }
                for n in sorted(nudges, key=lambda n: n.attempt)
            ],
        }


def _today(outcomes: dict[str, Any]) -> dict[str, int]:
    return {"nudged": outcomes["nudged"], "paid": outcomes["paid"]}


def audit_item(record: AuditRecord, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "time": datetime.fromtimestamp(record.ts, zone).isoformat(timespec="seconds"),
        "ts": record.ts,
        "agent": record.agent,
        "conversation": record.conversation,
        "kind": record.kind,
        "severity": record.severity,
        "categories": list(record.categories),
        "rules": list(record.rules),
        "text": record.text,
    }


def _midnight(day: date, zone: ZoneInfo) -> float:
    return datetime.combine(day, time(), tzinfo=zone).timestamp()


# --- the audit-trail export ------------------------------------------------------------------

CSV_COLUMNS = ("time", "agent", "conversation", "kind", "severity", "categories", "rules", "text")
# A cell starting with one of these is a formula to a spreadsheet: agents write these texts.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


async def audit_export(request: web.Request) -> web.Response:
    """``GET /api/audit?from=YYYY-MM-DD&to=YYYY-MM-DD&format=json|csv``: the shop's flagged final
    checks and overrides from ``from`` through ``to`` (local dates; default today), masked."""
    shop = shop_of(request, supervisor(request))
    service = request.app[SERVICE]
    today = service.tracker.days.date_of(service.clock())
    first = query_date(request, "from", today)
    last = query_date(request, "to", first.isoformat())
    if last < first:
        raise BadField(f"query 'to' is before 'from': {last.isoformat()!r} < {first.isoformat()!r}")
    kind = request.query.get("format", "json")
    if kind not in ("json", "csv"):
        raise BadField(f"query 'format' must be 'json' or 'csv', got {protocol.quote(kind)}")
    zone = ZoneInfo(service.config.timezone)
    records = await service.store.list_audit(
        shop, _midnight(first, zone), _midnight(last + timedelta(days=1), zone)
    )
    items = [audit_item(record, zone) for record in records]
    if kind == "json":
        return json_response(
            {
                "shop": shop,
                "from": first.isoformat(),
                "to": last.isoformat(),
                "timezone": service.config.timezone,
                "records": items,
            }
        )
    name = f"audit-{first.isoformat()}-{last.isoformat()}.csv"
    return web.Response(
        body=audit_csv(items).encode("utf-8"),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def audit_csv(items: list[dict[str, Any]]) -> str:
    """CSV with a byte-order mark (so spreadsheet programs read the Chinese as UTF-8)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for item in items:
        row = [";".join(v) if isinstance(v, list) else v for v in map(item.get, CSV_COLUMNS)]
        writer.writerow([_inert(cell) for cell in row])
    return out.getvalue()


def _inert(cell: Any) -> str:
    text = "" if cell is None else str(cell)
    return "'" + text if text.startswith(_FORMULA_START) else text
