"""Completing a write's future from whichever backend ran it, and never losing its failure."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger("kefu.store")


def settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def log_unawaited_failure(future: asyncio.Future[Any]) -> None:
    # Marks the exception as retrieved (fire-and-forget writes would otherwise warn at GC) and
    # makes sure a failed write is never silent, whether or not someone awaits it.
    if not future.cancelled() and (exc := future.exception()) is not None:
        log.error("store write failed", extra={"error": str(exc)})
