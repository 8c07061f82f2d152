"""The page adapters the server serves the extension, and what extensions report of their health.

Consoles change their markup without notice; a shop must be able to fix a selector the same day,
without a new extension release. The adapters directory (``KEFU_ADAPTERS``, by default the
extension's own bundled ``extension/adapters/``) holds one JSON selector set per console.
``welcome`` carries the set's version; a client whose copy differs asks with ``get_adapters``,
and every session is sent the new set (an ``adapters`` frame) whenever a file changes. The
extension validates it and lays it over its bundled sets.

A reload is all or nothing, like the phrase library's: an invalid file keeps the last good set in
force and the error is logged and shown on ``/healthz``. The extension does the selector-level
validation (it has a DOM); the server checks the shape, so a typo never reaches the agents.

Extensions report ``adapter_health``: the required parts of the page (message list, lines,
input, send control, current conversation) their adapter has matched nothing for a few seconds.
Supervisors see the broken ones on ``/dashboard``; ``/metrics`` counts them by adapter and key.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from server import protocol
from server.errors import AdapterSetError, BadField
from server.runtime.metrics import Metrics

log = logging.getLogger("kefu.adapters")

POLL_S = 0.5
HEALTH_KEYS = ("messageList", "lines", "input", "sendButton", "conversation")
MAX_FILE_BYTES = 64 * 1024  # a selector set is a few kilobytes
MAX_HITS = 32  # selector keys an adapter has, with room to grow
_ENTRY_KEYS = {
    "id",
    "name",
    "platform",
    "hosts",
    "pathPrefix",
    "experimental",
    "enabled",
    "selectors",
}


@dataclass(frozen=True, slots=True)
class AdapterSet:
    adapters: tuple[dict[str, Any], ...]
    version: str  # content hash: equal files, equal version, on every server of a cluster

    def frame(self) -> dict[str, Any]:
        return protocol.adapters(self.version, self.adapters)


def _entry(path: Path) -> dict[str, Any]:
    name = path.name
    if path.stat().st_size > MAX_FILE_BYTES:
        raise AdapterSetError(name, 0, f"larger than {MAX_FILE_BYTES} bytes")
    try:
        entry = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise AdapterSetError(name, exc.lineno, f"not valid JSON: {exc.msg}") from None
    if not isinstance(entry, dict):
        raise AdapterSetError(name, 0, "an adapter is a JSON object")
    unknown = sorted(set(entry) - _ENTRY_KEYS)
    if unknown:
        raise AdapterSetError(name, 0, f"unknown key {unknown[0]!r}")
    if not isinstance(entry.get("id"), str) or not entry["id"]:
        raise AdapterSetError(name, 0, "missing 'id'")
    if not isinstance(entry.get("selectors"), dict):
        raise AdapterSetError(name, 0, "'selectors' must be an object")
    hosts = entry.get("hosts", [])
    if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        raise AdapterSetError(name, 0, "'hosts' must be a list of host names")
    return entry


def load(directory: Path) -> AdapterSet:
    """Read ``directory/*.json``; raise :class:`AdapterSetError` naming the first bad file."""
    if not directory.is_dir():
        raise AdapterSetError(str(directory), 0, "adapters directory does not exist")
    entries = [_entry(path) for path in sorted(directory.glob("*.json"))]
    ids = [entry["id"] for entry in entries]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise AdapterSetError(str(directory), 0, f"adapter {twice[0]!r} defined twice")
    digest = hashlib.sha256(orjson.dumps(entries, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return AdapterSet(tuple(entries), digest[:12])


class AdapterWatcher:
    """Polls the directory; calls ``on_change`` (on the event loop) with each new valid set."""

    def __init__(self, directory: Path, on_change: Callable[[AdapterSet], None]) -> None:
        self.directory = directory
        self.on_change = on_change
        self.current: AdapterSet | None = None
        self.error: AdapterSetError | None = None  # the failed reload, until the files are fixed
        self._stamp: tuple[tuple[str, int, int], ...] = ()

    def _files(self) -> tuple[tuple[str, int, int], ...]:
        stamp = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue  # deleted between glob and stat: the next poll sees it gone
            stamp.append((path.name, stat.st_mtime_ns, stat.st_size))
        return tuple(stamp)

    def poll(self) -> AdapterSet | None:
        """Load if a file changed; the new set when it differs. An invalid one keeps the last."""
        stamp = self._files()
        if stamp == self._stamp and (self.current or self.error):
            return None
        self._stamp = stamp
        try:
            loaded = load(self.directory)
        except AdapterSetError as exc:
            self.error = exc
            log.error(
                "adapter set invalid; keeping the last good one",
                extra={"file": exc.file, "line": exc.line, "reason": exc.reason},
            )
            return None
        self.error = None
        if self.current is not None and loaded.version == self.current.version:
            return None
        self.current = loaded
        log.info("adapter set loaded", extra={"version": loaded.version})
        return loaded

    async def poll_once(self) -> None:
        loaded = await asyncio.to_thread(self.poll)
        if loaded is not None:
            self.on_change(loaded)  # on the loop: it sends frames

    async def run(self) -> None:
        while True:
            await asyncio.sleep(POLL_S)
            await self.poll_once()


ADAPTERS: web.AppKey[AdapterWatcher] = web.AppKey("adapters")


@dataclass(frozen=True, slots=True)
class Broken:
    """One session's console whose adapter matches nothing for some required key."""

    shop: str
    agent: str
    adapter: str
    keys: tuple[str, ...]
    hits: dict[str, str]
    since: float

    def item(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "adapter": self.adapter,
            "keys": list(self.keys),
            "hits": self.hits,
            "since": self.since,
        }


class HealthBook:
    """The latest ``adapter_health`` of every session, and the ``kefu_adapter_broken`` gauge."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.sessions: dict[str, Broken] = {}
        self._labels: set[tuple[str, str]] = set()  # gauge children ever set, so they drop to 0

    def report(
        self, session: str, shop: str, agent: str, message: dict[str, Any], now: float
    ) -> None:
        keys = message["broken"]
        if not all(isinstance(key, str) and key in HEALTH_KEYS for key in keys):
            keys_from = f"a list of keys from {', '.join(HEALTH_KEYS)}"
            raise BadField.must_be("broken", "adapter_health", keys_from, keys)
        hits = message.get("hits") or {}
        if len(hits) > MAX_HITS or not all(isinstance(value, str) for value in hits.values()):
            selectors = f"an object of at most {MAX_HITS} selector strings"
            raise BadField.must_be("hits", "adapter_health", selectors, hits)
        previous = self.sessions.get(session)
        if not keys:
            self.sessions.pop(session, None)
        else:
            same = (
                previous and previous.keys == tuple(keys) and previous.adapter == message["adapter"]
            )
            since = previous.since if same and previous else now
            self.sessions[session] = Broken(
                shop, agent, message["adapter"], tuple(keys), hits, since
            )
        self._count()

    def forget(self, session: str) -> None:
        if self.sessions.pop(session, None) is not None:
            self._count()

    def broken(self, shop: str) -> list[dict[str, Any]]:
        items = [b.item() for b in self.sessions.values() if b.shop == shop]
        return sorted(items, key=lambda item: (item["agent"], item["adapter"], item["since"]))

    def _count(self) -> None:
        counts: dict[tuple[str, str], int] = {}
        for broken in self.sessions.values():
            for key in broken.keys:
                counts[(broken.adapter, key)] = counts.get((broken.adapter, key), 0) + 1
        self._labels |= set(counts)
        for labels in self._labels:
            self.metrics.adapter_broken.labels(*labels).set(counts.get(labels, 0))
