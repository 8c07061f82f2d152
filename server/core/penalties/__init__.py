"""The shop's own fines and platform points per agent and month (docs/penalties.md)."""

from __future__ import annotations

from server.core.penalties.book import ShopBook
from server.core.penalties.ledger import (
    Event,
    Idle,
    Ledger,
    Missed,
    Verdict,
    Wait,
    next_text,
    rule_label,
)
from server.core.penalties.rules import DEFAULT_RULES, PenaltyRules, parse_penalties

__all__ = [
    "DEFAULT_RULES",
    "Event",
    "Idle",
    "Ledger",
    "Missed",
    "PenaltyRules",
    "ShopBook",
    "Verdict",
    "Wait",
    "next_text",
    "parse_penalties",
    "rule_label",
]
