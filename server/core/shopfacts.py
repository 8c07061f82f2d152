"""Shop facts: what the phrase library's fact placeholders say for each shop.

The library never promises a shipping time, a cut-off, 包邮, washing, a warranty or authenticity
for every shop (``{ship_within}``, ``{cutoff}``, ``{free_shipping}``, ``{washing}``,
``{warranty}``, ``{authenticity}``); the ``shop_facts`` section of ``KEFU_CONFIG`` says what is true
for each shop, ``default`` for every shop that does not say, and the suggester fills them like
any other known value (a fact nobody set stays 【label】 for the agent to type).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from server.errors import SettingsError

FACTS = ("ship_within", "cutoff", "free_shipping", "washing", "warranty", "authenticity")
DEFAULT = "default"


def parse_shop_facts(raw: Any) -> dict[str, dict[str, str]]:
    """``{shop or "default": {fact: text}}``; a SettingsError names the bad key."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise SettingsError(f"shop_facts: expected a mapping, got {raw!r}")
    parsed = {}
    for shop, facts in raw.items():
        where = f"shop_facts.{shop}"
        if not isinstance(facts, dict):
            raise SettingsError(f"{where}: expected a mapping, got {facts!r}")
        for fact, text in facts.items():
            if fact not in FACTS:
                raise SettingsError(f"{where}: unknown fact: {fact!r}")
            if not isinstance(text, str) or not text.strip():
                raise SettingsError(f"{where}.{fact}: expected text, got {text!r}")
        parsed[str(shop)] = {fact: text.strip() for fact, text in facts.items()}
    return parsed


def facts_for(facts: Mapping[str, Mapping[str, str]], shop: str) -> dict[str, str]:
    """The placeholder values for ``shop``: its own facts over the defaults."""
    return {**facts.get(DEFAULT, {}), **facts.get(shop, {})}
