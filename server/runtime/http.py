"""The HTTP side (aiohttp): health, metrics, JSON APIs, and the demo and dashboard pages.

Errors are the same frame as on the websocket (``{"type": "error", "code", "error"}``) with an
HTTP status that matches the code. API calls authenticate with ``Authorization: Bearer <token>``;
the shop always comes from the token.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from server import __version__, protocol
from server.core.platforms import PLATFORMS
from server.errors import (
    BadField,
    BadSignature,
    BadValue,
    Forbidden,
    KefuError,
    NotAuthenticated,
    RequestTimeout,
    one_of,
)
from server.protocol import check_result
from server.runtime import signing
from server.runtime.adapters import ADAPTERS
from server.runtime.service import Service
from server.settings import Token

STATIC = Path(__file__).parent / "static"

SERVICE = web.AppKey("service", Service)
TOKENS = web.AppKey("tokens", dict)
NONCES = web.AppKey("nonces", signing.Nonces)

# Dates a query may name: past these the shop's local midnight overflows (9999-12-31 + 1 day).
FIRST_DATE, LAST_DATE = dt.date(2000, 1, 1), dt.date(2999, 12, 31)


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


@web.middleware
async def errors_as_frames(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except KefuError as exc:
        request.app[SERVICE].metrics.errors.labels(exc.code).inc()
        return json_response(protocol.error(exc), exc.status)


async def read_body(request: web.Request) -> bytes:
    """The request's body, if it arrives within ``KEFU_HTTP_TIMEOUT_S`` (a slow sender would
    hold a connection and a handler for as long as it likes)."""
    timeout = request.app[SERVICE].config.http_timeout_s
    try:
        async with asyncio.timeout(timeout):
            return await request.read()
    except TimeoutError:
        raise RequestTimeout(f"request body not received within {timeout:g} s") from None


def query_date(request: web.Request, name: str, default: str) -> dt.date:
    """The date in query parameter ``name`` (``YYYY-MM-DD``), or ``default``; else ``bad_value``."""
    raw = request.query.get(name) or default
    try:
        day = dt.date.fromisoformat(raw) if len(raw) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise BadValue.must_be(f"query {name!r}", "YYYY-MM-DD", raw)
    if not FIRST_DATE <= day <= LAST_DATE:
        span = f"from {FIRST_DATE.isoformat()} to {LAST_DATE.isoformat()}"
        raise BadValue.must_be(f"query {name!r}", span, raw)
    return day


def authenticate(request: web.Request) -> Token:
    header = request.headers.get("Authorization", "")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential:
        raise NotAuthenticated("missing 'Authorization: Bearer <token>' header")
    token = request.app[TOKENS].get(credential.strip())
    if token is None:
        raise NotAuthenticated("unknown token")
    return token


def shop_of(request: web.Request, token: Token) -> str:
    """The shop a request is about: the token's own; naming another one is forbidden."""
    shop = request.query.get("shop", token.shop)
    if shop != token.shop:
        raise Forbidden(f"token is not valid for shop {protocol.quote(shop)}")
    return shop


async def healthz(request: web.Request) -> web.Response:
    """200 ``ok`` while the process serves; 503 ``failing`` while the store refuses writes."""
    service = request.app[SERVICE]
    store_error = service.store.problem
    watcher = request.app.get(ADAPTERS)
    return json_response(
        {
            "status": "ok" if store_error is None else "failing",
            "version": __version__,
            "connections": sum(1 for _ in service.registry.sessions()),
            "library": service.library.version if service.library else None,
            "library_error": str(service.library_error) if service.library_error else None,
            "store_error": store_error,
            "adapters": service.adapters.version if service.adapters else None,
            "adapters_error": str(watcher.error) if watcher and watcher.error else None,
        },
        200 if store_error is None else 503,
    )


async def metrics(request: web.Request) -> web.Response:
    body = request.app[SERVICE].metrics.render()
    return web.Response(body=body, content_type="text/plain", charset="utf-8")


async def kpi(request: web.Request) -> web.Response:
    token = authenticate(request)
    shop = shop_of(request, token)
    service = request.app[SERVICE]
    agent = request.query.get("agent", token.agent)
    if agent != token.agent and not token.supervisor:
        raise Forbidden(f"only a supervisor may read another agent's kpi: {protocol.quote(agent)}")
    date = query_date(request, "date", service.view.today())
    return json_response(await service.view.kpi_report(shop, agent, date.isoformat()))


MONTH = re.compile(r"[0-9]{4}-(?:0[1-9]|1[0-2])")


async def penalties(request: web.Request) -> web.Response:
    """``GET /api/penalties?month=YYYY-MM[&agent=]``: the shop's ledger for a month (this month
    by default). An agent reads its own row; a supervisor any agent's, or all of them."""
    token = authenticate(request)
    shop = shop_of(request, token)
    service = request.app[SERVICE]
    agent = request.query.get("agent") or (None if token.supervisor else token.agent)
    if agent != token.agent and not token.supervisor:
        raise Forbidden(
            f"only a supervisor may read another agent's penalties: {protocol.quote(agent)}"
        )
    month = request.query.get("month") or service.view.this_month()
    if MONTH.fullmatch(month) is None:
        raise BadValue.must_be("query 'month'", "YYYY-MM", month)
    return json_response(await service.view.penalties_report(shop, month, agent))


async def post_check(request: web.Request) -> web.Response:
    """``POST /api/check``: the ``check`` message over HTTP, for other tools of the shop.

    Body: ``{"text", "platform"?, "free_shipping"?, "cash_on_delivery"?}``; the answer is a
    ``check_result``."""
    token = authenticate(request)
    body = await read_body(request)
    message = _with_type(body, "check")
    platform = message.get("platform", "taobao")
    if platform not in PLATFORMS:
        raise BadField.must_be("platform", "check", one_of(PLATFORMS), platform)
    service = request.app[SERVICE]
    context = service.assist.check_context(token.shop, platform, message)
    violations = service.assist.check(message["text"], context)
    return json_response(check_result(message.get("id"), violations))


async def post_order(request: web.Request) -> web.Response:
    """An order event from an order system or ERP, signed with the shop's secret.

    ``POST /api/orders?shop=<shop>`` with the same JSON body as the ``order`` message and the
    headers of :mod:`server.runtime.signing` (timestamp, nonce, HMAC-SHA256 over both and the
    body). Answers after the commit.
    """
    service = request.app[SERVICE]
    shop = request.query.get("shop", "")
    body = await read_body(request)
    secret = service.config.order_secrets.get(shop)
    if secret is None:
        raise BadSignature(f"no order secret configured for shop {protocol.quote(shop)}")
    nonces = request.app[NONCES]
    nonce = signing.verify(secret, request.headers, body, service.clock(), nonces, shop)
    try:
        message = _with_type(body, "order")
        changed = await service.take_order(service.sessions.order_event(shop, message))
    except BaseException:
        nonces.release(shop, nonce)  # not taken: the sender may retry the same request
        raise
    return json_response(protocol.ack(message.get("id"), changed))


def _with_type(body: bytes, kind: str) -> dict[str, Any]:
    """The body validated exactly like the websocket message ``kind`` (its ``type`` added)."""
    document = protocol.parse(body)
    if isinstance(document, dict):
        document["type"] = kind
    return protocol.validate(document)


async def nudge_outcomes(request: web.Request) -> web.Response:
    token = authenticate(request)
    service = request.app[SERVICE]
    date = query_date(request, "date", service.view.today())
    outcomes = await service.view.nudge_outcomes(shop_of(request, token), date.isoformat())
    return json_response(outcomes)


async def index(request: web.Request) -> web.Response:
    links = "".join(
        f'<li><a href="{path}">{label}</a></li>'
        for path, label in (
            ("/demo/", "演示客服台"),
            ("/dashboard", "主管看板"),
            ("/healthz", "健康检查"),
        )
    )
    head = '<!doctype html><meta charset="utf-8"><title>客服助手</title>'
    page = f"{head}<h1>客服助手</h1><ul>{links}</ul>"
    return web.Response(text=page, content_type="text/html")


async def demo_redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound("/demo/")


async def demo_index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "demo" / "index.html")
