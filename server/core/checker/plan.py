"""What a check runs for one context: the rules in force, and what each automaton match means.

A rule set serves a handful of contexts (four platforms, two promises). For each, the meaning of
every automaton pattern is filtered once to the rules in force and to the cue families they
use, so the check loop files a match without asking whether its rules apply, and a match that
matters to no rule in force (a 白条 cue on Taobao, a 包邮 cue where nothing ships free) is
dropped at the cost of one lookup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from server.core.checker.model import CheckContext, Rule

SLOW = -1  # the match has several roles: read them from ``Plan.roles``
SKIP = -2  # the match means nothing to the rules in force
# A match with one role for one rule (most of those that are not a cue: 保证金 an exception, 保证
# a term, 19 a trigger); ``Plan.roles`` holds the rule, or (rule, rewrite) for a term.
EXCEPTION, TERM, TRIGGER = -3, -4, -5

# What one automaton pattern means to the rules in force, a plain tuple because the check loop
# unpacks it: (starts with a Latin letter, cue families, (rule, rewrite) of the rules it is a term
# of, rules whose regexes it triggers, rules it is an exception of).
Roles = tuple[
    bool,
    tuple[int, ...],
    tuple[tuple[int, str | None], ...],
    tuple[int, ...],
    tuple[int, ...],
]


@dataclass(frozen=True, slots=True)
class Plan:
    """The rules in force for one context and the tables the check loop reads."""

    active: tuple[bool, ...]
    # Per automaton pattern: its one cue family (the fast path: most matches are a cue of one
    # family and nothing else), SLOW or SKIP.
    cue_family: tuple[int, ...]
    roles: tuple[Roles | tuple[int, str | None] | int | None, ...]  # per pattern: see above
    # The compositions of the rules in force: first family → ((second family, rule), ...).
    pairs: dict[int, tuple[tuple[int, int], ...]]
    patterns: tuple[tuple[int, re.Pattern[str]], ...]  # of rules without triggers: run every time
    raw_patterns: tuple[tuple[int, re.Pattern[str]], ...]  # likewise
    whole_reply: tuple[int, ...]  # rules that judge the reply as a whole


def build_plan(
    rules: tuple[Rule, ...],
    roles: tuple[Roles, ...],
    compose: tuple[tuple[tuple[int, ...], ...], ...],
    unless: tuple[tuple[int, ...], ...],
    context: CheckContext,
) -> Plan:
    """The plan for ``context``; ``roles`` are every pattern's roles for all rules.

    ``compose`` and ``unless`` are, per rule, its compositions and its unless and despite
    families, as family indices.
    """
    active = tuple(rule.applies(context) for rule in rules)
    in_force = [index for index in range(len(rules)) if active[index]]
    used = {family for index in in_force for pair in compose[index] for family in pair}
    used.update(family for index in in_force for family in unless[index])
    cue_family: list[int] = []
    filtered: list[Roles | tuple[int, str | None] | int | None] = []
    for latin, families, terms, triggers, exceptions in roles:
        kept: Roles = (
            latin,
            tuple(family for family in families if family in used),
            tuple(term for term in terms if active[term[0]]),
            tuple(index for index in triggers if active[index]),
            tuple(index for index in exceptions if active[index]),
        )
        _, families_kept, terms_kept, triggers_kept, exceptions_kept = kept
        others = terms_kept or triggers_kept or exceptions_kept
        if not (families_kept or others):
            cue_family.append(SKIP)
            filtered.append(None)
        elif len(families_kept) == 1 and not (latin or others):
            cue_family.append(families_kept[0])
            filtered.append(None)
        elif not families_kept and len(exceptions_kept) == 1 and not (terms_kept or triggers_kept):
            cue_family.append(EXCEPTION)
            filtered.append(exceptions_kept[0])
        elif not (families_kept or latin) and len(terms_kept) == 1 and not triggers_kept:
            if exceptions_kept:  # also an exception: the general path
                cue_family.append(SLOW)
                filtered.append(kept)
            else:
                cue_family.append(TERM)
                filtered.append(terms_kept[0])
        elif not families_kept and len(triggers_kept) == 1 and not (terms_kept or exceptions_kept):
            cue_family.append(TRIGGER)
            filtered.append(triggers_kept[0])
        else:
            cue_family.append(SLOW)
            filtered.append(kept)
    pairs: dict[int, list[tuple[int, int]]] = {}
    for index in in_force:
        for first, second in compose[index]:
            pairs.setdefault(first, []).append((second, index))
    return Plan(
        active=active,
        cue_family=tuple(cue_family),
        roles=tuple(filtered),
        pairs={first: tuple(seconds) for first, seconds in pairs.items()},
        patterns=tuple(
            (index, regex)
            for index in in_force
            if not rules[index].triggers
            for regex in rules[index].patterns
        ),
        raw_patterns=tuple(
            (index, regex)
            for index in in_force
            if not rules[index].triggers
            for regex in rules[index].raw_patterns
        ),
        whole_reply=tuple(
            index for index in in_force if rules[index].shorter_than or rules[index].only_chars
        ),
    )
