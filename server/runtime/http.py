"""The HTTP side (aiohttp): health, metrics, JSON APIs, and the demo and dashboard pages.

Errors are the same frame as on the websocket (``{"type": "error", "code", "error"}``) with an
HTTP status that matches the code. API calls authenticate with ``Authorization: Bearer <token>``;
the shop always comes from the token.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from server import __version__, protocol
from server.errors import BadField, BadSignature, Forbidden, KefuError, NotAuthenticated
from server.runtime.adapters import ADAPTERS
from server.runtime.service import Service, check_result
from server.settings import PLATFORMS, Token

STATIC = Path(__file__).parent / "static"

SERVICE = web.AppKey("service", Service)
TOKENS = web.AppKey("tokens", dict)

STATUS_BY_CODE = {
    "bad_json": 400,
    "bad_frame": 400,
    "missing_field": 400,
    "bad_field": 400,
    "unknown_type": 400,
    "not_authenticated": 401,
    "bad_signature": 401,
    "forbidden": 403,
    "not_found": 404,
    "check_unavailable": 503,
    "store_unavailable": 503,
}

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


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
        return json_response(protocol.error(exc), STATUS_BY_CODE.get(exc.code, 500))


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
    service = request.app[SERVICE]
    watcher = request.app.get(ADAPTERS)
    return json_response(
        {
            "status": "ok",
            "version": __version__,
            "connections": sum(1 for _ in service.registry.sessions()),
            "library": service.library.version if service.library else None,
            "library_error": str(service.library_error) if service.library_error else None,
            "adapters": service.adapters.version if service.adapters else None,
            "adapters_error": str(watcher.error) if watcher and watcher.error else None,
        }
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
    date = request.query.get("date") or service.tracker.days.date_of(service.clock())
    if not _DATE.fullmatch(date):
        raise BadField(f"query 'date' must be YYYY-MM-DD, got {protocol.quote(date)}")
    return json_response(await service.kpi_report(shop, agent, date))


async def post_check(request: web.Request) -> web.Response:
    """``POST /api/check``: the ``check`` message over HTTP, for other tools of the shop.

    Body: ``{"text", "platform"?, "free_shipping"?}``; the answer is a ``check_result``."""
    authenticate(request)
    body = await request.read()
    message = protocol.decode(_with_type(body, "check"))
    platform = message.get("platform", "taobao")
    if platform not in PLATFORMS:
        raise BadField(f"field 'platform' of 'check' must be one of {', '.join(PLATFORMS)}, "
                       f"got {protocol.quote(platform)}")  # fmt: skip
    service = request.app[SERVICE]
    violations = service.check(message["text"], platform, bool(message.get("free_shipping")))
    return json_response(check_result(message.get("id"), violations))


SIGNATURE_HEADER = "X-Kefu-Signature"


async def post_order(request: web.Request) -> web.Response:
    """An order event from an order system or ERP, signed with the shop's secret.

    ``POST /api/orders?shop=<shop>`` with the same JSON body as the ``order`` message and
    ``X-Kefu-Signature: sha256=<hex HMAC-SHA256 of the body>``. Answers after the commit.
    """
    service = request.app[SERVICE]
    shop = request.query.get("shop", "")
    body = await request.read()
    secret = service.config.order_secrets.get(shop)
    if secret is None:
        raise BadSignature(f"no order secret configured for shop {protocol.quote(shop)}")
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(request.headers.get(SIGNATURE_HEADER, ""), expected):
        raise BadSignature(f"missing or wrong {SIGNATURE_HEADER} header")
    message = protocol.decode(_with_type(body, "order"))
    changed = await service.take_order(service.order_event(shop, message))
    return json_response({"type": "ack", "ref": message.get("id"), "changed": changed})


def _with_type(body: bytes, kind: str) -> bytes:
    """The body with ``type`` added, so it is validated exactly like that websocket message."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body  # decode() reports it
    if isinstance(document, dict):
        document["type"] = kind
        return orjson.dumps(document)
    return body


async def nudge_outcomes(request: web.Request) -> web.Response:
    token = authenticate(request)
    service = request.app[SERVICE]
    date = request.query.get("date") or service.tracker.days.date_of(service.clock())
    if not _DATE.fullmatch(date):
        raise BadField(f"query 'date' must be YYYY-MM-DD, got {protocol.quote(date)}")
    return json_response(await service.nudge_outcomes(shop_of(request, token), date))


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


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/kpi", kpi)
    app.router.add_post("/api/orders", post_order)
    app.router.add_post("/api/check", post_check)
    app.router.add_get("/api/nudges/outcomes", nudge_outcomes)
    app.router.add_get("/demo", demo_redirect)
    app.router.add_get("/demo/", demo_index)
    if (STATIC / "demo").is_dir():
        app.router.add_static("/demo/", STATIC / "demo")
