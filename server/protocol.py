"""Protocol v1: every message type, its fields, and the decoding of client frames.

Client frames are validated against :data:`CLIENT_MESSAGES` and come out as plain dicts whose
fields are guaranteed present (when required) and of the right JSON type. Server frames are built
by the small constructors at the bottom and encoded with orjson. docs/protocol.md documents every
type here; ``tests/test_docs.py`` fails when one is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

import orjson

from server.core.nudgebook import NudgeAction
from server.core.nudges import OrderStatus
from server.core.penalties.ledger import duration_text, rule_label
from server.core.penalties.rules import PenaltyRules
from server.core.platforms import PLATFORMS, Timers
from server.errors import (
    BadField,
    BadJSON,
    KefuError,
    MissingField,
    ProtocolError,
    UnknownType,
    one_of,
    quote,  # also protocol.quote, for the runtime's messages
)
from server.qa.labels import CATEGORY_LABELS
from server.settings import Config

F = TypeVar("F", bound=Callable[..., dict[str, Any]])

if TYPE_CHECKING:
    from server.core.checker import Violation
    from server.core.deadlines import Clock
    from server.core.kpi import KpiDay
    from server.core.nudgebook import Nudge, NudgeDue
    from server.core.nudges import Order
    from server.core.suggest import Suggestion
    from server.core.tracker import TimerChanged
    from server.storage import AuditRecord


class Session(Protocol):
    """Whom a ``welcome`` is for (a runtime session); read only, as a session's shop and agent
    come from its token."""

    @property
    def platform(self) -> str: ...
    @property
    def agent(self) -> str: ...
    @property
    def shop(self) -> str: ...


_JSON_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    list: "a list",
    dict: "an object",
}


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a client message."""

    name: str
    kind: type
    required: bool = False
    choices: tuple[str, ...] = ()
    max_len: int = 0  # for strings; 0 = no limit beyond the frame size
    number_ok: bool = False  # a string field that also takes a JSON number (kept as its text)


def _id(required: bool = False) -> Field:
    return Field("id", str, required, max_len=128)


_CONVERSATION = Field("conversation", str, True, max_len=256)
# In the order error messages have always listed them (tests and clients quote them).
_ORDER_STATUSES = (OrderStatus.CREATED, OrderStatus.PAID, OrderStatus.CLOSED, OrderStatus.SHIPPED)

CLIENT_MESSAGES: Mapping[str, tuple[Field, ...]] = {
    "hello": (
        Field("token", str, True, max_len=256),
        Field("agent", str, max_len=128),
        Field("shop", str, max_len=128),
        Field("platform", str, True, choices=PLATFORMS),
        Field("client", str, max_len=128),
        Field("resume", int),
        _id(),
    ),
    "message": (
        _id(),
        _CONVERSATION,
        Field("buyer", str, True, max_len=256),
        Field("from", str, True, choices=("buyer", "agent")),
        Field("text", str, True),
        Field("auto", bool),
        Field("ts", float),
    ),
    "check": (
        _id(),
        Field("text", str, True),
        Field("conversation", str, max_len=256),
        Field("final", bool),
        Field("free_shipping", bool),
        Field("cash_on_delivery", bool),
    ),
    "order": (
        _id(),
        Field("order", str, True, max_len=128),
        Field("buyer", str, True, max_len=256),
        Field("status", str, True, choices=_ORDER_STATUSES),
        Field("conversation", str, max_len=256),
        Field("amount", str, max_len=32, number_ok=True),
        Field("ts", float),
    ),
    "focus": (_id(), _CONVERSATION),
    "nudge_ack": (
        _id(),
        Field("nudge", str, True, max_len=128),
        Field("action", str, True, choices=tuple(NudgeAction)),
        Field("snooze_s", float),
    ),
    "suggestion_used": (_id(), Field("phrase", str, True, max_len=128), _CONVERSATION),
    "ping": (_id(),),
    "state": (_id(), Field("after", str, max_len=400)),
    "get_adapters": (_id(),),
    "adapter_health": (
        _id(),
        Field("adapter", str, True, max_len=64),
        Field("broken", list, True),
        Field("hits", dict),
    ),
}

Renderer = Callable[..., dict[str, Any]]

# Every server frame type, by channel, to the function in this module that builds it: the
# renderers register themselves (``@renders``), so docs/protocol.md's test reads the real set.
AGENT_FRAMES: dict[str, Renderer] = {}
DASHBOARD_FRAMES: dict[str, Renderer] = {}


def renders(kind: str, channel: dict[str, Renderer] = AGENT_FRAMES) -> Callable[[F], F]:
    """Register the decorated function as the one that builds ``kind`` frames on ``channel``."""

    def register(renderer: F) -> F:
        if kind in channel:
            raise ValueError(f"two renderers for {kind!r} frames")
        channel[kind] = renderer
        return renderer

    return register


class CloseCode(IntEnum):
    """Why the server closes a websocket (docs/protocol.md "Close codes")."""

    meaning: str

    def __new__(cls, code: int, meaning: str) -> CloseCode:
        member = int.__new__(cls, code)
        member._value_ = code
        member.meaning = meaning
        return member

    GOING_AWAY = 1001, "server going away"
    POLICY = 1008, "policy violation: rate limit exceeded or client too slow"
    TOO_BIG = 1009, "frame too big"
    MOVED = (
        1012,
        "the shop moved to another server process (Redis deployments): reconnect and resume",
    )
    NOT_AUTHENTICATED = 4401, "not authenticated"


CLOSE_CODES = {code.value: code.meaning for code in CloseCode}


def decode(frame: str | bytes) -> dict[str, Any]:
    """Parse and validate one client frame; raise a :class:`ProtocolError` subclass if it is bad."""
    return validate(parse(frame))


def parse(frame: str | bytes) -> Any:
    """The JSON document of a frame, or :class:`BadJSON`."""
    try:
        return orjson.loads(frame)
    except orjson.JSONDecodeError:
        raise BadJSON(f"frame is not valid json: {quote(frame)}") from None


def validate(message: Any) -> dict[str, Any]:
    """A parsed frame checked against :data:`CLIENT_MESSAGES` (see :func:`decode`)."""
    if not isinstance(message, dict):
        raise ProtocolError(f"frame is not a json object: {quote(message)}")
    if "type" not in message:
        raise MissingField("missing field: 'type'")
    kind = message["type"]
    fields = CLIENT_MESSAGES.get(kind) if isinstance(kind, str) else None
    if fields is None:
        raise UnknownType(f"unknown message type: {quote(kind)}")
    for spec in fields:
        value = message.get(spec.name)
        if value is None:
            if spec.required:
                raise MissingField(f"missing field {spec.name!r} in {kind!r}")
            continue
        if spec.number_ok and type(value) in (int, float):
            message[spec.name] = value = _number_text(kind, spec, value)
        _check_field(kind, spec, value)
    return message


def _number_text(kind: str, spec: Field, value: float) -> str:
    """A money amount sent as a JSON number, as the text an order card shows: ``199.0`` and
    ``199`` are ``"199.00"``."""
    if not 0 <= value < 1e12:
        raise BadField.must_be(spec.name, kind, "a number from 0 to 1e12", value)
    return f"{value:.2f}"


def _check_field(kind: str, spec: Field, value: Any) -> None:
    # JSON has one number type: a float field takes integers too (but never booleans).
    ok = type(value) in (int, float) if spec.kind is float else type(value) is spec.kind
    if not ok:
        raise BadField.must_be(spec.name, kind, _JSON_TYPE_NAMES[spec.kind], value)
    if spec.choices and value not in spec.choices:
        raise BadField.must_be(spec.name, kind, one_of(spec.choices), value)
    if spec.max_len and len(value) > spec.max_len:
        raise BadField.must_be(spec.name, kind, f"at most {spec.max_len} characters", value)


def ref_of(frame: str | bytes) -> Any:
    """The ``id`` of a frame that failed validation, if one can be read, for the error's ``ref``."""
    try:
        message = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return None
    if isinstance(message, dict):
        ref = message.get("id")
        if isinstance(ref, (str, int)) and not isinstance(ref, bool):
            return ref
    return None


# --- server frames --------------------------------------------------------------------------


def encode(frame: Mapping[str, Any]) -> bytes:
    return orjson.dumps(frame)


@renders("error")
def error(exc: KefuError, ref: Any = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "code": exc.code, "error": str(exc)}
    if ref is not None:
        frame["ref"] = ref
    return frame


@renders("ack")
def ack(ref: Any, changed: bool | None = None) -> dict[str, Any]:
    """``changed``: whether an order event changed anything (``POST /api/orders`` says)."""
    frame: dict[str, Any] = {"type": "ack", "ref": ref}
    if changed is not None:
        frame["changed"] = changed
    return frame


@renders("welcome")
def welcome(
    session: str,
    server_time: float,
    who: Session,
    timers: Timers,
    config: Config,
    library: str | None,
    adapters: str | None,
    replay: list[Any] | None,
) -> dict[str, Any]:
    """``welcome`` for ``who`` (a session: platform, agent, shop); ``replay`` is what is
    resent, None when too much was missed (the client resyncs)."""
    return {
        "type": "welcome",
        "session": session,
        "server_time": server_time,
        "platform": who.platform,
        "agent": who.agent,
        "shop": who.shop,
        "settings": {
            "timers": {
                "warn_s": timers.warn_s,
                "due_s": timers.due_s,
                "overdue_s": timers.overdue_s,
                "follow_up_s": timers.follow_up_s,
                "target_s": timers.target_s,
            },
            "fail_closed": config.fail_closed,
            "check_timeout_ms": 300,
            "target_rate": config.target_rate,
        },
        "library": library,
        "adapters": adapters,
        "resumed": len(replay) if replay is not None else 0,
        "resync": replay is None,
    }


@renders("state")
def state(
    conversations: Iterable[TimerChanged],
    waiting_total: int,
    next_page: str | None,
    nudges: Iterable[NudgeDue],
    nudges_total: int,
    day: KpiDay,
    target_rate: float,
    penalties: Mapping[str, Any],
    deadlines: Iterable[Mapping[str, Any]],
) -> dict[str, Any]:
    """A page of the agent's panel: its items have the fields of ``timer``, ``nudge`` and
    ``deadline`` frames (``deadlines`` are such frames) without their ``type``; ``day`` is the
    agent's KPIs today."""
    return {
        "type": "state",
        "conversations": [timer_fields(change) for change in conversations],
        "waiting_total": waiting_total,
        "next": next_page,
        "nudges": [nudge_fields(due) for due in nudges],
        "nudges_total": nudges_total,
        "kpi": day.report(target_rate),
        "penalties": penalties,
        "deadlines": [
            {key: value for key, value in frame.items() if key != "type"} for frame in deadlines
        ],
    }


def timer_fields(change: TimerChanged) -> dict[str, Any]:
    """A ``timer`` frame but its ``type``: an entry of ``state``'s ``conversations``."""
    return {
        "conversation": change.conversation,
        "buyer": change.buyer,
        "level": change.level,
        "waited_s": round(change.waited_s, 3),
        "target_s": change.target_s,
        "started_at": change.started_at,
    }


@renders("timer")
def timer(change: TimerChanged) -> dict[str, Any]:
    """Pushed on every buyer line that opens a round: the fields' dict gets its ``type``
    rather than being copied into a second one (key order means nothing in JSON)."""
    frame = timer_fields(change)
    frame["type"] = "timer"
    return frame


def nudge_fields(due: NudgeDue) -> dict[str, Any]:
    """A ``nudge`` frame but its ``type``: an entry of ``state``'s ``nudges``."""
    return {
        "nudge": due.nudge,
        "order": due.order,
        "buyer": due.buyer,
        "conversation": due.conversation,
        "attempt": due.attempt,
        "due_at": due.due_at,
        "amount": due.amount,
        "text": due.text,
    }


@renders("nudge")
def nudge(due: NudgeDue) -> dict[str, Any]:
    frame = nudge_fields(due)
    frame["type"] = "nudge"
    return frame


@renders("kpi")
def kpi(day: KpiDay, target_rate: float) -> dict[str, Any]:
    return {"type": "kpi", **day.report(target_rate)}


@renders("adapters")
def adapters(version: str | None, entries: Iterable[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The page adapter set ``version`` (None: the server serves none, and sends no entries)."""
    frame: dict[str, Any] = {"type": "adapters", "version": version}
    if version is not None:
        frame["adapters"] = list(entries)
    return frame


@renders("library")
def library(version: str) -> dict[str, Any]:
    return {"type": "library", "version": version}


@renders("pong")
def pong(ref: Any = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "pong"}
    if ref is not None:
        frame["ref"] = ref
    return frame


def suggestion_items(found: Iterable[Suggestion]) -> list[dict[str, Any]]:
    """The items of a ``suggestions`` frame (the CLI prints the same ones)."""
    return [
        {"phrase": s.phrase, "category": s.category, "text": s.text, "score": round(s.score, 3)}
        for s in found
    ]


@renders("suggestions")
def suggestions(conversation: str, ref: Any, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "suggestions", "conversation": conversation, "ref": ref, "items": items}


def offline(frame: dict[str, Any], text: str) -> dict[str, Any]:
    """What ``kefu check/suggest --json`` prints for one text: the frame the server would send,
    without the fields that tie it to a request or a conversation, with the text it answers."""
    kept = {key: value for key, value in frame.items() if key not in ("ref", "conversation")}
    return {**kept, "text": text}


@renders("check_result")
def check_result(ref: Any, violations: list[Violation]) -> dict[str, Any]:
    return {
        "type": "check_result",
        "ref": ref,
        "ok": not any(v.severity == "block" for v in violations),
        "violations": [
            {
                "rule": v.rule,
                "category": v.category,
                "severity": v.severity,
                "start": v.start,
                "end": v.end,
                "match": v.match,
                "message": v.message,
                "suggestion": v.suggestion,
            }
            for v in violations
        ],
    }


# What each process deadline asks of the agent, for the panel (docs/penalties.md).
DEADLINE_TEXT = {
    "order_confirm": "核对订单信息",
    "refund": "处理退款或售后",
    "wait_promise": "回复让买家稍等的会话",
    "unshipped": "跟进未发货订单",
}


@renders("deadline")
def deadline(clock: Clock, state: str, at: float, yuan: int) -> dict[str, Any]:
    """A process deadline changed: ``open`` (started), ``met`` or ``missed`` (at its due time).

    ``key`` is the conversation (``order_confirm``, ``refund``, ``wait_promise``) or the order
    (``unshipped``); ``yuan`` is what missing it costs (0: a reminder only)."""
    due_in = duration_text(clock.due_at - clock.started_at)
    return {
        "type": "deadline",
        "kind": clock.kind,
        "key": clock.key,
        "state": state,
        "started_at": clock.started_at,
        "due_at": clock.due_at,
        "at": at,
        "yuan": yuan,
        "text": f"{due_in}内{DEADLINE_TEXT[clock.kind]}",
    }


@renders("penalties")
def penalties(row: Mapping[str, Any], month: str) -> dict[str, Any]:
    """An agent's month in the ledger (a row of ``/api/penalties``), for the panel."""
    return {"type": "penalties", "month": month, **row}


@renders("handover")
def handover(
    conversation: str, buyer: str, from_agent: str, note: str, pending: list[str]
) -> dict[str, Any]:
    """A conversation moved to this agent: seed 001's handover note, filled, and what is pending."""
    return {
        "type": "handover",
        "conversation": conversation,
        "buyer": buyer,
        "from": from_agent,
        "text": note,
        "pending": pending,
    }


# --- dashboard frames -----------------------------------------------------------------------
# The supervisors' live feed (/dashboard/live, server/runtime/dashfeed.py; docs/qa.md's table).

RECENT_AUDIT = 50  # audit records in a snapshot (today's latest)


def feed_labels(rules: PenaltyRules) -> dict[str, dict[str, str]]:
    """Chinese names for the page: checker categories, and the shop's penalty rules."""
    names = {f.name: rule_label(f.name, rules) for f in fields(PenaltyRules)}
    return {
        "categories": dict(CATEGORY_LABELS),
        "rules": {name: label for name, label in names.items() if label},
    }


def waiting_item(change: TimerChanged) -> dict[str, Any]:
    """A waiting conversation as the page lists it: its clock as its agent's panel shows it."""
    return {
        "conversation": change.conversation,
        "buyer": change.buyer,
        "agent": change.agent,
        "level": change.level,
        "started_at": change.started_at,
        "target_s": change.target_s,
    }


def audit_item(record: AuditRecord, zone: ZoneInfo) -> dict[str, Any]:
    """An audit record as the page, the export's JSON and its CSV rows show it."""
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


def order_item(order: Order, nudges: Iterable[Nudge]) -> dict[str, Any]:
    """An unpaid order as the page lists it, with its nudges in the order they fire."""
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
            for n in nudges
        ],
    }


def nudged_today(outcomes: Mapping[str, Any]) -> dict[str, int]:
    """The ``today`` of the ``orders`` figures, from ``ShopView.nudge_outcomes``."""
    return {"nudged": outcomes["nudged"], "paid": outcomes["paid"]}


@renders("snapshot", DASHBOARD_FRAMES)
def feed_snapshot(
    *,
    shop: str,
    date: str,
    server_time: float,
    config: Config,
    waiting: list[dict[str, Any]],
    online: list[str],
    kpis: list[dict[str, Any]],
    audit: list[AuditRecord],
    unpaid: list[dict[str, Any]],
    today: dict[str, int],
    adapters: list[dict[str, Any]],
    penalties: dict[str, Any],
    idle: list[dict[str, Any]],
) -> dict[str, Any]:
    """Everything the page shows of the shop: the feed's first frame, and again after a local
    midnight or when the page fell too far behind. ``audit``: today's records, of which the
    latest :data:`RECENT_AUDIT` are sent."""
    zone = ZoneInfo(config.timezone)
    return {
        "type": "snapshot",
        "shop": shop,
        "date": date,
        "server_time": server_time,
        "timezone": config.timezone,
        "target_rate": config.target_rate,
        "labels": feed_labels(config.penalties),
        "waiting": sorted(waiting, key=lambda item: item["started_at"]),
        "online": online,
        "kpis": kpis,
        "audit": [audit_item(record, zone) for record in audit[-RECENT_AUDIT:]],
        "orders": {"unpaid": unpaid, "today": today},
        "adapters": adapters,
        "penalties": penalties,
        "idle": idle,
    }


@renders("timer", DASHBOARD_FRAMES)
def feed_timer(change: TimerChanged) -> dict[str, Any]:
    """A waiting conversation's clock changed (level ``cleared`` removes it from the page)."""
    return {"type": "timer", **waiting_item(change)}


@renders("kpi", DASHBOARD_FRAMES)
def feed_kpi(report: Mapping[str, Any]) -> dict[str, Any]:
    """An agent's figures today changed: ``report`` is ``KpiDay.report``."""
    return {"type": "kpi", **report}


@renders("audit", DASHBOARD_FRAMES)
def feed_audit(record: AuditRecord, zone: ZoneInfo) -> dict[str, Any]:
    """A flagged final check or an override was recorded."""
    return {"type": "audit", **audit_item(record, zone)}


@renders("agents", DASHBOARD_FRAMES)
def feed_agents(online: list[str]) -> dict[str, Any]:
    return {"type": "agents", "online": online}


@renders("orders", DASHBOARD_FRAMES)
def feed_orders(
    changed: list[dict[str, Any]], removed: list[str], today: dict[str, int]
) -> dict[str, Any]:
    """The unpaid orders that changed (each whole) and those no longer unpaid."""
    return {"type": "orders", "changed": changed, "removed": removed, "today": today}


@renders("adapters", DASHBOARD_FRAMES)
def feed_adapters(broken: list[dict[str, Any]]) -> dict[str, Any]:
    """The agents' consoles whose page adapter stopped matching (``HealthBook.broken``)."""
    return {"type": "adapters", "broken": broken}


@renders("ledger", DASHBOARD_FRAMES)
def feed_ledger(penalties: dict[str, Any], idle: list[dict[str, Any]]) -> dict[str, Any]:
    """This month's fines and points per agent, and the idle alerts (docs/penalties.md)."""
    return {"type": "ledger", "penalties": penalties, "idle": idle}
