"""The audit trail: every flagged final check and every override, masked, stored and observed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from server.core.checker import Violation
from server.core.mask import mask
from server.runtime.registry import Peer
from server.storage import AuditRecord, Store


class AuditTrail:
    def __init__(
        self, store: Store, clock: Callable[[], float], notify: Callable[[str, Any], None]
    ) -> None:
        self.store = store
        self.clock = clock
        self.notify = notify  # live views are told ("audit", record)

    def record(
        self,
        session: Peer,
        kind: str,
        conversation: str | None,
        text: str,
        violations: list[Violation],
    ) -> None:
        severity = "block" if any(v.severity == "block" for v in violations) else "warn"
        record = AuditRecord(
            self.clock(),
            session.shop,
            session.agent,
            None if conversation is None else mask(conversation),  # ids may hold a phone
            kind,
            tuple(v.rule for v in violations),
            tuple(sorted({v.category for v in violations})),
            severity,
            mask(text),
        )
        self.store.add_audit(record)
        self.notify("audit", record)
