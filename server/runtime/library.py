"""The wording library the server runs on: quick phrases, rule packs, and the suggester built
from them, loaded as one unit and reloaded when a file under ``phrases/`` changes.

A reload is all or nothing: if any file is invalid, the last good library stays in force and the
error (file, line, reason) is logged and shown on ``/healthz``. Removing a rule pack is such an
error too: the pack's rules stay in force (a deleted ``offsite.yaml`` would otherwise let 加我微信
pass without a word); removing one takes a restart. A poll that fails for another reason (``EMFILE``
when the process is out of descriptors) is logged and shown the same way, and the watcher keeps
polling: the next poll that can read the files reloads them. Loading runs in a worker thread so
building the suggester's index never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from server.core.checker import RuleSet, load_rules
from server.core.phrases import PhraseLibrary, load_library
from server.core.suggest import Suggester
from server.errors import LibraryError, PhraseLibraryError, RulePackError

log = logging.getLogger("kefu.library")

POLL_S = 0.5  # "edits take effect within a second"


@dataclass(frozen=True, slots=True)
class Library:
    rules: RuleSet
    phrases: PhraseLibrary
    suggester: Suggester

    @property
    def version(self) -> str:
        return f"{self.phrases.version[:8]}.{self.rules.version[:8]}"


def load(directory: Path) -> Library:
    """Load ``directory/*.yaml`` (phrases) and ``directory/banned/*.yaml`` (rule packs)."""
    if not directory.is_dir():
        raise PhraseLibraryError(str(directory), 0, "phrase library directory does not exist")
    rules = load_rules(directory / "banned")
    phrases = load_library(directory)
    return Library(rules, phrases, Suggester(phrases))


def _snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    files = [*directory.glob("*.yaml"), *directory.glob("banned/*.yaml")]
    snapshot = {}
    for path in files:
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue  # deleted between glob and stat: the next poll sees it gone
        snapshot[str(path)] = (stat.st_mtime_ns, stat.st_size)
    return snapshot


def _packs(snapshot: dict[str, tuple[int, int]], directory: Path) -> set[str]:
    return {path for path in snapshot if Path(path).parent == directory / "banned"}


class LibraryWatcher:
    """Polls the library's files and swaps in a new :class:`Library` when they change."""

    def __init__(
        self,
        directory: Path,
        on_change: Callable[[Library], None],
        on_error: Callable[[LibraryError | None], None],
    ) -> None:
        self.directory = directory
        self.on_change = on_change
        self.on_error = on_error  # the failed reload, or None once the files are valid again
        self.current: Library | None = None
        self._seen: dict[str, tuple[int, int]] = {}
        self._packs: set[str] = set()  # the rule pack files of the library in force

    async def load_first(self) -> Library:
        """The library at start-up: an invalid one stops the server with a clear error."""
        self._seen = _snapshot(self.directory)
        self.current = await asyncio.to_thread(load, self.directory)
        self._packs = _packs(self._seen, self.directory)
        return self.current

    async def poll_once(self) -> None:
        seen = _snapshot(self.directory)
        if seen == self._seen:
            return
        self._seen = seen
        try:
            removed = sorted(self._packs - _packs(seen, self.directory))
            if removed:
                raise RulePackError(
                    Path(removed[0]).name, 0, "rule pack removed; its rules stay in force until "
                    "it is restored or the server restarts",
                )  # fmt: skip
            library = await asyncio.to_thread(load, self.directory)
        except LibraryError as exc:
            self.on_error(exc)
            log.error(
                "library reload failed; keeping the last good one",
                extra={"file": exc.file, "line": exc.line, "reason": exc.reason},
            )
            return
        self.on_error(None)
        self._packs = _packs(seen, self.directory)
        if self.current is None or library.version != self.current.version:
            self.current = library
            log.info("library reloaded", extra={"version": library.version})
            self.on_change(library)

    async def poll(self) -> None:
        """One poll that never ends the watcher: an error is reported and the next poll retries."""
        try:
            await self.poll_once()
        except OSError as exc:
            self._seen = {}  # whatever changed meanwhile is reloaded once the files can be read
            self._failed(f"cannot read the library: {(exc.strerror or str(exc)).lower()}")
        except Exception as exc:  # a bug in a loader: report it, retry at the next change
            log.exception("library reload crashed")
            self._failed(f"reload failed: {type(exc).__name__}")

    def _failed(self, reason: str) -> None:
        self.on_error(PhraseLibraryError(str(self.directory), 0, reason))
        log.error("library poll failed; retrying", extra={"reason": reason})

    async def run(self) -> None:
        while True:
            await asyncio.sleep(POLL_S)
            await self.poll()
