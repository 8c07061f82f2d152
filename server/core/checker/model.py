"""The checker's data: what a check is asked (context), what a rule is, what it reports."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from server.core.platforms import PLATFORMS
from server.errors import BadValue

CATEGORIES: tuple[str, ...] = (
    "offsite",
    "privacy",
    "invoice",
    "commitment",
    "ad_law",
    "cashback",
    "absolute",
    "rude",
    "dismissive",
    "terse",
    "competitor",
)
SEVERITIES: tuple[str, ...] = ("block", "warn")


@dataclass(frozen=True, slots=True)
class CheckContext:
    """What the checker must know about the shop and item besides the draft itself."""

    platform: str = "taobao"  # taobao | tmall | jd | pdd
    free_shipping: bool = (
        False  # the item or shop ships free (包邮): 不包邮/邮费自理 is a violation
    )
    cash_on_delivery: bool = False  # the shop offers 货到付款: refusing it is a violation

    def __post_init__(self) -> None:
        if self.platform not in PLATFORMS:
            raise BadValue.unknown("platform", self.platform)


# Context fields a rule's ``when`` may test (every boolean field of CheckContext).
CONDITIONS = tuple(field.name for field in fields(CheckContext) if field.type == "bool")


@dataclass(frozen=True, slots=True)
class Violation:
    """One piece of a draft that breaks a rule; offsets are UTF-16 units of the original text."""

    rule: str
    category: str
    severity: str  # "block" | "warn"
    start: int
    end: int
    match: str  # the original text between start and end
    message: str  # Chinese: what is wrong and what it costs
    suggestion: str | None  # a compliant rewrite of ``match``, or None


@dataclass(frozen=True, slots=True)
class Term:
    """A literal a rule looks for: as written in the pack, normalised, and its own rewrite."""

    text: str
    normalized: str
    suggestion: str | None


@dataclass(frozen=True, slots=True)
class CueFamily:
    """A named set of terms that means one thing (an object, a refusal, a reward…).

    Families are the words rules are composed of (``compose``) and the context that clears a hit
    (``unless``); their terms share the one automaton with every rule's terms.
    """

    name: str
    terms: tuple[str, ...]  # normalised
    file: str = ""
    line: int = 0


@dataclass(frozen=True, slots=True, eq=False)
class Rule:
    """One validated rule of a rule pack (the format is documented in phrases/banned/README.md)."""

    id: str
    category: str
    severity: str
    platforms: frozenset[str]
    message: str
    suggestion: str | None
    terms: tuple[Term, ...] = ()
    patterns: tuple[re.Pattern[str], ...] = ()  # searched in the compact text
    raw_patterns: tuple[re.Pattern[str], ...] = ()  # searched in the text as typed
    triggers: tuple[str, ...] = ()  # normalised; (raw) patterns run only when one occurs
    # The exception terms (normalised) and every exception pattern that spells out to a few
    # strings (``literals.literal_strings``): terms of the shared automaton, tried by comparing
    # spans. Nothing else of an exception is kept: the patterns left are in the regexes below.
    exception_literals: tuple[str, ...] = ()
    # The exception patterns left (lookarounds, open repeats, wide classes) in one regex:
    # alternative i captures as group i + 1 in a lookahead, so one match finds every exception
    # starting at a position; the gate is their plain alternation, which the regex engine can
    # search fast (a pattern opening with a lookahead gets no first-character scan) to find the
    # positions worth matching.
    exception_regex: re.Pattern[str] | None = None
    exception_gate: re.Pattern[str] | None = None
    # When every exception's first characters are known: a class finding them, and for each
    # first character the exceptions (compiled alone, with the most characters they can span)
    # that can start with it; an exception can only cover a hit if it starts that close to it.
    exception_first: re.Pattern[str] | None = None
    exception_by_char: dict[str, tuple[tuple[re.Pattern[str], int], ...]] | None = None
    exception_width: int = 0  # the widest of them
    when: tuple[tuple[str, bool], ...] = ()  # (context field, required value)
    shorter_than: int | None = None  # whole reply: fewer meaningful characters than this
    only_chars: str | None = None  # whole reply: made of nothing but these characters
    # Composition: each alternative is a pair of cue family names whose cues must both occur
    # within ``window`` characters, without a clause boundary other than those in ``across``,
    # and, when ``ordered``, in the listed order.
    compose: tuple[tuple[str, ...], ...] = ()
    ordered: bool = False
    window: int = 8
    across: str = ""
    unless: tuple[str, ...] = ()  # cue families: one near a hit (same clause) clears it
    unless_across: str = ""  # clause boundaries an unless cue may reach across
    despite: tuple[str, ...] = ()  # cue families: one right before a hit keeps it (加我微信零钱)
    file: str = ""
    line: int = 0

    def applies(self, context: CheckContext) -> bool:
        """Whether the rule is in force for a draft written in ``context``."""
        return context.platform in self.platforms and all(
            getattr(context, name) == value for name, value in self.when
        )
