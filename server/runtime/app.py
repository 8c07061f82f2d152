"""The server process: one aiohttp application owns the store, the service and the websocket
server through ``cleanup_ctx``, so start-up and shutdown run in one order and unwind in reverse.

SIGTERM and SIGINT close every websocket with 1001, flush the store and exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import gc
import logging
import secrets
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TextIO

from aiohttp import web

from server import logs
from server.errors import SettingsError
from server.runtime import audit_export, dashboard, http, listener
from server.runtime.adapters import ADAPTERS, AdapterWatcher
from server.runtime.cluster import Cluster
from server.runtime.library import LibraryWatcher
from server.runtime.metrics import Metrics
from server.runtime.service import Service
from server.runtime.signing import Nonces
from server.runtime.ws import WebsocketServer
from server.settings import Config, Token
from server.storage import Store, open_store

log = logging.getLogger("kefu.app")

CONFIG = web.AppKey("config", Config)
STORE = web.AppKey("store", Store)
WS = web.AppKey("ws", WebsocketServer)
WS_PORT = web.AppKey("ws_port", int)
Clock = Callable[[], float]
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
WATCHER = web.AppKey("watcher", LibraryWatcher)
CAPS = web.AppKey("caps", tuple)  # (websocket, http) connection caps


def resolve_tokens(config: Config) -> dict[str, Token]:
    """The configured tokens, or a demo token when none are set and only loopback listens."""
    if config.tokens:
        return {token.token: token for token in config.tokens}
    if not config.loopback_only:
        raise SettingsError(
            f"no KEFU_TOKENS configured and KEFU_HOST {config.host!r} is not loopback: "
            "refusing to start without credentials"
        )
    demo = Token(_demo_token(config.db), "demo", "demo", supervisor=True)
    return {demo.token: demo}


def _demo_token(db: str) -> str:
    """A demo token kept next to the database, so the extension's saved token survives restarts."""
    if db == ":memory:":
        return "demo-" + secrets.token_urlsafe(12)
    path = Path(db + ".demo-token")
    if path.exists():
        return path.read_text().strip()
    token = "demo-" + secrets.token_urlsafe(12)
    path.write_text(token + "\n")
    path.chmod(0o600)
    return token


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    store = open_store(app[CONFIG].db, app[CONFIG].redis_url)
    await store.open()
    app[STORE] = store
    yield
    await store.close()


async def _service_ctx(app: web.Application) -> AsyncIterator[None]:
    service = Service(app[CONFIG], app[STORE], Metrics(), app[CLOCK])
    watcher = LibraryWatcher(
        Path(app[CONFIG].phrases), service.library_changed, service.library_failed
    )
    service.assist.library = await watcher.load_first()
    # An invalid adapter set at start-up is logged and left out: the extension's own sets work.
    adapters = AdapterWatcher(Path(app[CONFIG].adapters), service.adapters_changed)
    service.adapters = await asyncio.to_thread(adapters.poll)
    config = app[CONFIG]
    cluster = Cluster(config.redis_url, app[http.TOKENS], service) if config.redis_url else None
    await service.start(cluster)
    if cluster is not None:
        await cluster.start()
    # Everything loaded so far (the library, the dictionaries) lives as long as the process:
    # keep it out of the collector's way, or each full collection walks it (31-37 ms measured).
    gc.freeze()
    app[http.SERVICE] = service
    app[WATCHER] = watcher
    app[ADAPTERS] = adapters
    pollers = [asyncio.create_task(watcher.run()), asyncio.create_task(adapters.run())]
    yield
    for polling in pollers:
        polling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await polling
    if cluster is not None:
        await cluster.stop()
    await service.stop()


async def _websocket_ctx(app: web.Application) -> AsyncIterator[None]:
    ws = WebsocketServer(app[CONFIG], app[http.SERVICE], app[http.TOKENS], app[CAPS][0])
    app[WS_PORT] = await ws.start()
    app[WS] = ws
    yield
    await ws.stop()


def create_app(
    config: Config, tokens: dict[str, Token], clock: Callable[[], float] = time.time
) -> web.Application:
    app = web.Application(
        middlewares=[listener.mark_busy, http.errors_as_frames], client_max_size=256 * 1024
    )
    app[CONFIG] = config
    app[listener.BUSY] = set()
    app[CAPS] = listener.connection_caps(config)
    app[CLOCK] = clock
    app[http.TOKENS] = tokens
    app[http.NONCES] = Nonces(config.order_max_age_s)
    app.cleanup_ctx.extend([_store_ctx, _service_ctx, _websocket_ctx])
    app.add_routes(routes())
    app.on_shutdown.append(dashboard.close_feeds)
    return app


def routes() -> list[web.AbstractRouteDef]:
    """Every HTTP route, in the order aiohttp matches them."""
    table = [
        web.get("/", http.index),
        web.get("/healthz", http.healthz),
        web.get("/metrics", http.metrics),
        web.get("/api/kpi", http.kpi),
        web.get("/api/penalties", http.penalties),
        web.post("/api/orders", http.post_order),
        web.post("/api/check", http.post_check),
        web.get("/api/nudges/outcomes", http.nudge_outcomes),
        web.get("/api/audit", audit_export.audit_export),
        web.get("/dashboard", dashboard.page),
        web.get("/dashboard/live", dashboard.live),
        web.static("/dashboard/assets/", http.STATIC / "dashboard"),
        web.get("/demo", http.demo_redirect),
        web.get("/demo/", http.demo_index),
    ]
    if (http.STATIC / "demo").is_dir():
        table.append(web.static("/demo/", http.STATIC / "demo"))
    return table


def banner(config: Config, ws_port: int, http_port: int, tokens: dict[str, Token]) -> str:
    host = config.host
    lines = [
        "Kefu Assist ready",
        f"  websocket  ws://{host}:{ws_port}",
        f"  http       http://{host}:{http_port}/",
        f"  demo       http://{host}:{http_port}/demo",
        f"  dashboard  http://{host}:{http_port}/dashboard",
    ]
    if config.tokens:  # configured credentials are never printed: stdout ends up in logs
        lines.append(f"  tokens     {len(tokens)} configured (KEFU_TOKENS, not shown)")
    else:
        lines += [
            f"  token      {t.token}  (agent {t.agent}, shop {t.shop})" for t in tokens.values()
        ]
    return "\n".join(lines)


async def serve(config: Config, out: TextIO = sys.stdout) -> None:
    """Run until SIGTERM or SIGINT."""
    tokens = resolve_tokens(config)
    # A fatal signal (SIGBUS from a storage mapping, SIGSEGV) still leaves a line on stderr.
    faulthandler.enable()
    logs.configure(config.log_level, secrets=list(tokens) + list(config.order_secrets.values()))
    listener.raise_descriptor_limit()
    app = create_app(config, tokens)
    ws_cap, http_cap = app[CAPS]
    http_side = listener.HttpListener(app, http_cap, config.http_timeout_s)
    try:
        http_port = await http_side.start(config.host, config.http_port)
        log.info(
            "listening", extra={"ws_max_connections": ws_cap, "http_max_connections": http_cap}
        )
        print(banner(config, app[WS_PORT], http_port, tokens), file=out, flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        log.info("stopping")
    finally:
        await http_side.stop()
    log.info("stopped")
