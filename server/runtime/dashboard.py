"""The supervisors' dashboard over HTTP: who may use it, the page, and its live feed.

``GET /dashboard`` serves the page, which holds no data. The page opens the live feed
``/dashboard/live`` (a websocket; the supervisor token in ``?token=``, since browsers cannot set
headers on a websocket, or ``Authorization: Bearer``), which a ``dashfeed.Feed`` serves: a
``snapshot`` of the shop, then its updates (docs/qa.md, "The live dashboard").
The audit-trail export, also a supervisor's, is server/runtime/audit_export.py.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

from aiohttp import WSCloseCode, web

from server import protocol
from server.errors import Forbidden, NotAuthenticated
from server.runtime.dashfeed import Feed
from server.runtime.http import SERVICE, STATIC, TOKENS, authenticate, shop_of
from server.settings import Token


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


async def page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "dashboard" / "index.html")


async def live(request: web.Request) -> web.WebSocketResponse:
    token = supervisor(request, query_token=True)
    shop = shop_of(request, token)
    check_origin(request)
    service = request.app[SERVICE]
    ws = web.WebSocketResponse(heartbeat=service.config.ping_interval_s)
    await ws.prepare(request)
    feed = Feed(service.view, shop, ws)
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
