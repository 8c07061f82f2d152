"""Reading rule packs: YAML text in, validated :class:`Rule` objects out.

The YAML is composed into nodes rather than loaded into plain data so that every error can name
the line it comes from; the format itself is documented in ``phrases/banned/README.md``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import TypeVar

import yaml

from server.core.checker.firstchars import char_class, first_chars, max_width
from server.core.checker.literals import literal_strings
from server.core.checker.model import (
    CATEGORIES,
    CONDITIONS,
    PLATFORMS,
    SEVERITIES,
    CueFamily,
    Rule,
    Term,
)
from server.core.checker.normalize import BOUNDARIES, compact
from server.errors import RulePackError

_RULE_ID = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)*")
_BOOL_TAG = "tag:yaml.org,2002:bool"
_INT_TAG = "tag:yaml.org,2002:int"
_FIELDS = frozenset(
    {
        "id",
        "category",
        "severity",
        "platforms",
        "message",
        "suggestion",
        "terms",
        "patterns",
        "raw_patterns",
        "triggers",
        "exceptions",
        "exception_patterns",
        "when",
        "shorter_than",
        "only_chars",
        "compose",
        "ordered",
        "window",
        "across",
        "unless",
        "unless_across",
        "despite",
    }
)
_MATCHERS = ("terms", "patterns", "raw_patterns", "shorter_than", "only_chars", "compose")
_FAMILY = re.compile(r"[a-z][a-z0-9_]*")

T = TypeVar("T")


class _Pack:
    """One file being read: turns nodes into values or a RulePackError naming file and line."""

    def __init__(self, file: str) -> None:
        self.file = file

    def error(self, node: yaml.Node | None, reason: str) -> RulePackError:
        return RulePackError(self.file, node.start_mark.line + 1 if node else 0, reason)

    def mapping(self, node: yaml.Node, what: str) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """A mapping node as {key: (key node, value node)}, refusing duplicate keys."""
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, f"expected a mapping for {what}")
        result: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = self.string(key_node, what)
            if key in result:
                raise self.error(key_node, f"duplicate field: {key!r}")
            result[key] = (key_node, value_node)
        return result

    def items(self, node: yaml.Node, field: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.error(node, f"expected a list for {field!r}")
        return list(node.value)

    def string(self, node: yaml.Node, field: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.tag == _BOOL_TAG or not node.value:
            raise self.error(node, f"expected text for {field!r}")
        return str(node.value)

    def flag(self, node: yaml.Node, field: str) -> bool:
        if not isinstance(node, yaml.ScalarNode) or node.tag != _BOOL_TAG:
            raise self.error(node, f"expected true or false for {field!r}")
        return str(node.value).lower() in ("true", "yes", "on")

    def count(self, node: yaml.Node, field: str) -> int:
        if not isinstance(node, yaml.ScalarNode) or node.tag != _INT_TAG or int(node.value) < 1:
            raise self.error(node, f"expected a positive whole number for {field!r}")
        return int(node.value)

    def each(self, node: yaml.Node, field: str, read: Callable[[yaml.Node], T]) -> tuple[T, ...]:
        return tuple(read(item) for item in self.items(node, field))

    def choice(self, node: yaml.Node, field: str, allowed: tuple[str, ...]) -> str:
        value = self.string(node, field)
        if value not in allowed:
            raise self.error(node, f"unknown {field}: {value!r}")
        return value

    def normalized(self, node: yaml.Node, field: str) -> str:
        text = self.string(node, field)
        folded = compact(text)
        if not folded:
            raise self.error(node, f"{field} is empty after normalisation: {text!r}")
        return folded

    def regex(self, node: yaml.Node, field: str, flags: int = 0) -> re.Pattern[str]:
        source = self.string(node, field)
        try:
            return re.compile(source, flags)
        except re.error as exc:
            raise self.error(node, f"bad regex {source!r}: {exc.msg}") from None

    def term(self, node: yaml.Node) -> Term:
        """``- 缺货`` or, with its own rewrite, ``- 缺货: 断码``."""
        if isinstance(node, yaml.MappingNode):
            pairs = self.mapping(node, "a term with its rewrite")
            if len(pairs) != 1:
                raise self.error(node, "a term with its rewrite must be one 'term: rewrite' pair")
            ((text, (key_node, value_node)),) = pairs.items()
            return Term(text, self.normalized(key_node, "term"), self.string(value_node, "rewrite"))
        return Term(self.string(node, "term"), self.normalized(node, "term"), None)

    def conditions(self, node: yaml.Node) -> tuple[tuple[str, bool], ...]:
        pairs = self.mapping(node, "'when'")
        result = []
        for name, (key_node, value_node) in pairs.items():
            if name not in CONDITIONS:
                raise self.error(key_node, f"unknown condition: {name!r}")
            result.append((name, self.flag(value_node, name)))
        return tuple(result)

    def rule(self, node: yaml.Node) -> tuple[Rule, yaml.Node]:
        """The rule and the node of its id (where a duplicate id is reported)."""
        fields = self.mapping(node, "a rule")
        for name, (key_node, _) in fields.items():
            if name not in _FIELDS:
                raise self.error(key_node, f"unknown field: {name!r}")
        for required in ("id", "category", "severity", "message"):
            if required not in fields:
                raise self.error(node, f"missing field: {required!r}")
        if not any(name in fields for name in _MATCHERS):
            raise self.error(node, f"rule matches nothing: give one of {', '.join(_MATCHERS)}")

        def get(name: str, read: Callable[[yaml.Node], T], default: T) -> T:
            return read(fields[name][1]) if name in fields else default

        def regexes(name: str, flags: int = 0) -> tuple[re.Pattern[str], ...]:
            return get(name, lambda n: self.each(n, name, lambda p: self.regex(p, name, flags)), ())

        def normalized(name: str) -> tuple[str, ...]:
            return get(name, lambda n: self.each(n, name, lambda t: self.normalized(t, name)), ())

        def platform(node: yaml.Node) -> str:
            return self.choice(node, "platform", PLATFORMS)

        rule_id = self.string(fields["id"][1], "id")
        if not _RULE_ID.fullmatch(rule_id):
            raise self.error(fields["id"][1], f"bad rule id: {rule_id!r}")
        if "triggers" in fields and "patterns" not in fields and "raw_patterns" not in fields:
            raise self.error(fields["triggers"][0], "'triggers' gate patterns, and there are none")

        def exception_pattern(node: yaml.Node) -> re.Pattern[str]:
            # Capturing groups would shift the group numbers of the joined exception regex.
            pattern = self.regex(node, "exception_patterns")
            if pattern.groups:
                raise self.error(
                    node, f"exception patterns cannot capture, use (?:...): {pattern.pattern!r}"
                )
            return pattern

        def family(node: yaml.Node) -> str:
            name = self.string(node, "cue family")
            if not _FAMILY.fullmatch(name):
                raise self.error(node, f"bad cue family name: {name!r}")
            return name

        def alternative(node: yaml.Node) -> tuple[str, ...]:
            names = self.each(node, "compose", family)
            if len(names) != 2:
                raise self.error(node, f"a composition is a pair of cue families, got {len(names)}")
            return names

        def composition(node: yaml.Node) -> tuple[tuple[str, ...], ...]:
            items = self.items(node, "compose")
            if items and all(isinstance(item, yaml.ScalarNode) for item in items):
                return (alternative(node),)  # one alternative, written flat
            return tuple(alternative(item) for item in items)

        def across(node: yaml.Node, field: str = "across") -> str:
            chars = self.string(node, field)
            if any(char not in BOUNDARIES for char in chars):
                raise self.error(
                    node, f"{field!r} takes clause punctuation {BOUNDARIES}: {chars!r}"
                )
            return chars

        for name in ("ordered", "window", "across"):
            if name in fields and "compose" not in fields:
                raise self.error(fields[name][0], f"{name!r} shapes 'compose', and there is none")
        for name in ("despite", "unless_across"):
            if name in fields and "unless" not in fields:
                raise self.error(fields[name][0], f"{name!r} shapes 'unless': there is none")

        exceptions = normalized("exceptions")
        no_patterns: tuple[re.Pattern[str], ...] = ()
        exception_patterns = get(
            "exception_patterns",
            lambda n: self.each(n, "exception_patterns", exception_pattern),
            no_patterns,
        )
        # Exceptions that spell out to a few strings are automaton terms; the rest stay regexes.
        literals = list(exceptions)
        regexes_left = []
        for pattern in exception_patterns:
            spelled = literal_strings(pattern.pattern)
            if spelled is None:
                regexes_left.append(pattern)
            else:
                literals += spelled
        left = tuple(regexes_left)
        gate = _gate(left)
        by_char = _by_first_char(left)
        rule = Rule(
            id=rule_id,
            category=self.choice(fields["category"][1], "category", CATEGORIES),
            severity=self.choice(fields["severity"][1], "severity", SEVERITIES),
            platforms=frozenset(
                get("platforms", lambda n: self.each(n, "platforms", platform), PLATFORMS)
            ),
            message=self.string(fields["message"][1], "message"),
            suggestion=get("suggestion", lambda n: self.string(n, "suggestion"), None),
            terms=get("terms", lambda n: self.each(n, "terms", self.term), ()),
            patterns=regexes("patterns"),
            raw_patterns=regexes("raw_patterns", re.IGNORECASE),
            triggers=normalized("triggers"),
            exception_literals=tuple(dict.fromkeys(literals)),
            exception_regex=_joined(left),
            exception_gate=gate,
            exception_first=char_class(frozenset(by_char)) if by_char else None,
            exception_by_char=by_char,
            exception_width=max(
                (width for entries in (by_char or {}).values() for _, width in entries), default=0
            ),
            when=get("when", self.conditions, ()),
            shorter_than=get("shorter_than", lambda n: self.count(n, "shorter_than"), None),
            only_chars=get("only_chars", lambda n: self.normalized(n, "only_chars"), None),
            compose=get("compose", composition, ()),
            ordered=get("ordered", lambda n: self.flag(n, "ordered"), False),
            window=get("window", lambda n: self.count(n, "window"), 8),
            across=get("across", across, ""),
            unless=get("unless", lambda n: self.each(n, "unless", family), ()),
            unless_across=get("unless_across", lambda n: across(n, "unless_across"), ""),
            despite=get("despite", lambda n: self.each(n, "despite", family), ()),
            file=self.file,
            line=node.start_mark.line + 1,
        )
        return rule, fields["id"][1]

    def families(self, node: yaml.Node) -> Iterator[CueFamily]:
        """The ``cues`` mapping: family name → terms."""
        for name, (key_node, value_node) in self.mapping(node, "'cues'").items():
            if not _FAMILY.fullmatch(name):
                raise self.error(key_node, f"bad cue family name: {name!r}")
            terms = self.each(value_node, name, lambda t: self.normalized(t, "cue"))
            yield CueFamily(name, terms, self.file, key_node.start_mark.line + 1)

    def read(self, text: str) -> tuple[list[tuple[Rule, yaml.Node]], list[CueFamily]]:
        """Every rule of the file with the node of its id, and its cue families, in file order."""
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else 0
            raise RulePackError(
                self.file, line, f"bad yaml: {exc.problem or exc.context}"
            ) from None
        except yaml.YAMLError as exc:
            raise RulePackError(self.file, 0, f"bad yaml: {exc}") from None
        if root is None:
            raise RulePackError(self.file, 0, "empty rule pack")
        top = self.mapping(root, "the pack (a mapping with 'rules')")
        for name, (key_node, _) in top.items():
            if name not in ("rules", "cues"):
                raise self.error(key_node, f"unknown field: {name!r}")
        if not top:
            raise self.error(root, "missing field: 'rules'")
        items = self.items(top["rules"][1], "rules") if "rules" in top else []
        families = list(self.families(top["cues"][1])) if "cues" in top else []
        rules = [self.rule(item) for item in items]
        return rules, families


def _by_first_char(
    patterns: tuple[re.Pattern[str], ...],
) -> dict[str, tuple[tuple[re.Pattern[str], int], ...]] | None:
    """Each exception compiled alone with its widest span, filed under its first characters.

    None when some exception's first characters are unknown (the joined regex is searched then).
    """
    table: dict[str, list[tuple[re.Pattern[str], int]]] = {}
    for pattern in patterns:
        alternative = pattern.pattern
        chars = first_chars(alternative)
        if chars is None:
            return None
        entry = (re.compile(alternative), max_width(alternative))
        for char in chars:
            table.setdefault(char, []).append(entry)
    return {char: tuple(found) for char, found in table.items()} or None


def _gate(patterns: tuple[re.Pattern[str], ...]) -> re.Pattern[str] | None:
    """Any one exception: where a match of ``_joined`` may start."""
    return re.compile("|".join(f"(?:{p.pattern})" for p in patterns)) if patterns else None


def _joined(patterns: tuple[re.Pattern[str], ...]) -> re.Pattern[str] | None:
    """All exceptions in one regex: a gate needing one of them, then each in a lookahead group."""
    if not patterns:
        return None
    gate = "|".join(f"(?:{pattern.pattern})" for pattern in patterns)
    captures = "".join(f"(?:(?=({pattern.pattern})))?" for pattern in patterns)
    return re.compile(f"(?=(?:{gate})){captures}")


def parse_packs(sources: Mapping[str, str]) -> tuple[tuple[Rule, ...], tuple[CueFamily, ...]]:
    """Validate every pack (in file-name order): their rules and cue families.

    Rule ids and family names are unique overall; a family may be used in any pack.
    """
    rules: list[Rule] = []
    first_seen: dict[str, Rule] = {}
    families: dict[str, CueFamily] = {}
    for file in sorted(sources):
        pack = _Pack(file)
        read_rules, read_families = pack.read(sources[file])
        for family in read_families:
            earlier_family = families.get(family.name)
            if earlier_family is not None:
                raise RulePackError(
                    file,
                    family.line,
                    f"duplicate cue family: {family.name!r} "
                    f"(first in {earlier_family.file}:{earlier_family.line})",
                )
            families[family.name] = family
        for rule, id_node in read_rules:
            earlier = first_seen.get(rule.id)
            if earlier is not None:
                raise pack.error(
                    id_node,
                    f"duplicate rule id: {rule.id!r} (first in {earlier.file}:{earlier.line})",
                )
            first_seen[rule.id] = rule
            rules.append(rule)
    for rule in rules:
        composed = {name for names in rule.compose for name in names}
        for name in sorted(composed | set(rule.unless) | set(rule.despite)):
            if name not in families:
                raise RulePackError(rule.file, rule.line, f"unknown cue family: {name!r}")
    return tuple(rules), tuple(families.values())
