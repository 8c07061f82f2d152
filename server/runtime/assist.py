"""Suggestions for a buyer line and checks of an agent's draft, each within its budget.

Both run the loaded library's core code (the suggester, the wording rules) inline on the event
loop, so each is timed: a missed suggestion budget gives no suggestions rather than a stall, a
missed check budget (or a failed checker) is ``check_unavailable``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from server.core.checker import CheckContext, Violation
from server.core.suggest import SuggestContext, Suggester, Suggestion
from server.errors import CheckUnavailable
from server.runtime.library import Library
from server.runtime.metrics import Metrics
from server.runtime.registry import Peer
from server.settings import Config

log = logging.getLogger("kefu.service")


class Assist:
    def __init__(self, config: Config, metrics: Metrics) -> None:
        self.config = config
        self.metrics = metrics
        self.library: Library | None = None

    def matcher(self) -> Suggester | None:
        """The current library's suggester: a reload changes which phrase a reply is nearest."""
        return self.library.suggester if self.library else None

    def suggest(self, session: Peer, text: str, context: SuggestContext) -> list[Suggestion]:
        if self.library is None:
            return []
        # A buyer line may be a pasted page (25,000 characters cost ~116 ms of the loop): the
        # suggester reads only its start (intent.MAX_CHARS), and a missed budget gives no
        # suggestions rather than a stall. Either way the line itself is taken: its clock was
        # started before this.
        started = time.perf_counter()
        try:
            found = self.library.suggester.suggest(text, context)
        except Exception:
            log.exception("suggestions failed", extra=session.labels())
            self.metrics.suggestions_skipped.labels("failed").inc()
            return []
        elapsed_ms = (time.perf_counter() - started) * 1000
        if elapsed_ms > self.config.suggest_budget_ms:
            log.warning(
                "suggestions overran their budget",
                extra={**session.labels(), "elapsed_ms": round(elapsed_ms, 1), "chars": len(text)},
            )
            self.metrics.suggestions_skipped.labels("budget").inc()
            return []
        return found

    def check_context(self, shop: str, platform: str, message: dict[str, Any]) -> CheckContext:
        """What the checker is told besides the draft: the frame's flags, or the shop's settings.

        ``free_shipping`` and ``cash_on_delivery`` come from the ``check`` frame (the console
        reads them off the item and order card) or from KEFU_FREE_SHIPPING_SHOPS / KEFU_COD_SHOPS;
        order frames carry no payment method, so they cannot tell.
        """
        return CheckContext(
            platform=platform,
            free_shipping=bool(message.get("free_shipping"))
            or shop in self.config.free_shipping_shops,
            cash_on_delivery=bool(message.get("cash_on_delivery")) or shop in self.config.cod_shops,
        )

    def check(self, text: str, context: CheckContext) -> list[Violation]:
        """Run the checker within its budget; anything else is ``check_unavailable``."""
        if self.library is None:
            raise CheckUnavailable("the wording rules are not loaded")
        started = time.perf_counter()
        try:
            violations = self.library.rules.check(text, context)
        except Exception as exc:
            log.exception("check failed")
            raise CheckUnavailable(f"the checker failed: {type(exc).__name__}") from None
        elapsed_ms = (time.perf_counter() - started) * 1000
        if elapsed_ms > self.config.check_budget_ms:
            raise CheckUnavailable(
                f"the checker overran its budget: {elapsed_ms:.1f} ms > "
                f"{self.config.check_budget_ms:g} ms"
            )
        return violations

    def check_sent(self, text: str, context: CheckContext) -> list[Violation]:
        """A line as it reached the buyer, checked as ``kefu qa`` checks every line; a check
        that cannot run (logged above) finds nothing: the wait counts all the same."""
        try:
            return self.check(text, context)
        except CheckUnavailable:
            return []
