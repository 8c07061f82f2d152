"""The quick-phrase library: YAML files in ``phrases/``, parsed and validated.

Each file holds a YAML list of phrases (schema in ``phrases/README.md``). Validation walks YAML's
node tree rather than the loaded objects so every problem carries the line it is on, and so
duplicate keys, which PyYAML would silently collapse, are caught.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import orjson
import yaml

from server.core.platforms import PLATFORMS
from server.errors import PhraseLibraryError

CATEGORIES = (
    "welcome",
    "product",
    "bargain",
    "payment",
    "logistics",
    "invoice",
    "after_sales",
    "farewell",
    "review",
    "nudge",
)
ORDER_STATES = frozenset({"unpaid", "paid", "shipped", "refunding"})

# name -> (label shown when no value is known, what it stands for)
_PLACEHOLDER_TABLE: Mapping[str, tuple[str, str]] = {
    "agent": ("客服", "the agent's name or number as buyers see it"),
    "shop": ("店铺", "the shop's name"),
    "buyer": ("买家", "how to address the buyer (nickname)"),
    "amount": ("金额", "amount to pay, in yuan, number only"),
    "order": ("订单号", "order number"),
    "item": ("商品", "item name"),
    "courier": ("快递公司", "courier company"),
    "tracking": ("运单号", "tracking number"),
    "days": ("天数", "a number of days (shipping or return window)"),
    "deadline": ("截止时间", "when an unpaid order closes"),
    # Shop facts: the shop's own settings (server.core.shopfacts), never a promise in the library.
    "ship_within": ("发货时限", "how soon after payment the shop ships, e.g. 48小时"),
    "cutoff": ("截单时间", "the same-day shipping cut-off, e.g. 下午4点"),
    "free_shipping": ("包邮范围", "where the item ships free, e.g. 除新疆、西藏外全国包邮"),
    "washing": ("洗涤方式", "how to wash the item"),
    "warranty": ("保修政策", "the warranty: who repairs, for how long"),
    "authenticity": ("正品保障", "how the shop backs authenticity (authorisation, inspection)"),
}
PLACEHOLDERS: Mapping[str, str] = MappingProxyType(
    {name: f"{label}: {meaning}" for name, (label, meaning) in _PLACEHOLDER_TABLE.items()}
)
PLACEHOLDER_LABELS: Mapping[str, str] = MappingProxyType(
    {name: label for name, (label, _meaning) in _PLACEHOLDER_TABLE.items()}
)

_REQUIRED = ("id", "category", "text", "keywords", "examples")
_OPTIONAL = ("platforms", "order_states")
_ID = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)*")
# A placeholder is {name}; any other brace is a typo worth reporting.
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_STR_TAG = "tag:yaml.org,2002:str"

# Field readers report through problem(line, reason) and carry on, so lint sees every problem.
_Problem = Callable[[int, str], None]


@dataclass(frozen=True, slots=True)
class Phrase:
    id: str
    category: str
    text: str
    keywords: tuple[str, ...]
    examples: tuple[str, ...]
    platforms: frozenset[str]
    order_states: frozenset[str]  # empty = any order state
    file: str
    line: int


@dataclass(frozen=True, slots=True)
class PhraseLibrary:
    phrases: tuple[Phrase, ...]
    version: str  # stable hash of the contents: same phrases, same version


def placeholders_in(text: str) -> list[str]:
    """Names of the ``{placeholders}`` in ``text``, in order."""
    return _PLACEHOLDER.findall(text)


def parse_library(sources: Mapping[str, str]) -> PhraseLibrary:
    """Parse ``{relative file name: YAML text}``; raise the first problem found.

    Raises :class:`PhraseLibraryError` with the file and 1-based line.
    """
    library, problems = validate_library(sources)
    if problems:
        raise problems[0]
    return library


def load_library(directory: Path) -> PhraseLibrary:
    """Parse ``directory/*.yaml`` (not the ``banned/`` rule packs below it)."""
    return parse_library(read_sources(directory))


def read_sources(directory: Path) -> dict[str, str]:
    """``{file name: text}`` of the library files in ``directory``, sorted by name."""
    return {
        path.name: path.read_text(encoding="utf-8") for path in sorted(directory.glob("*.yaml"))
    }


def validate_library(
    sources: Mapping[str, str],
) -> tuple[PhraseLibrary, list[PhraseLibraryError]]:
    """Every valid phrase and every problem, in file order; files are read in sorted order."""
    phrases: list[Phrase] = []
    problems: list[PhraseLibraryError] = []
    first_seen: dict[str, Phrase] = {}
    for file in sorted(sources):
        for item in _read_file(file, sources[file], problems):
            earlier = first_seen.get(item.id)
            if earlier is not None:
                where = f"{earlier.file}:{earlier.line}"
                reason = f"duplicate phrase id: {item.id!r} (first in {where})"
                problems.append(PhraseLibraryError(file, item.line, reason))
                continue
            first_seen[item.id] = item
            phrases.append(item)
    return PhraseLibrary(tuple(phrases), _version(phrases)), problems


def _version(phrases: list[Phrase]) -> str:
    # Hash what a client sees, not the file bytes: moving a phrase or editing a comment keeps
    # the version, so clients do not refetch for nothing.
    canonical = sorted(
        (
            p.id,
            p.category,
            p.text,
            p.keywords,
            p.examples,
            sorted(p.platforms),
            sorted(p.order_states),
        )
        for p in phrases
    )
    return hashlib.sha256(orjson.dumps(canonical)).hexdigest()[:16]


def _read_file(file: str, text: str, problems: list[PhraseLibraryError]) -> Iterator[Phrase]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        # YAML's own line is where it gave up; the context says where the construct began.
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        reason = f"bad yaml: {exc.problem or exc.context}"
        if exc.problem and exc.context and exc.context_mark is not None:
            reason += f" ({exc.context} on line {exc.context_mark.line + 1})"
        problems.append(PhraseLibraryError(file, line, reason))
        return
    except yaml.YAMLError as exc:
        problems.append(PhraseLibraryError(file, 0, f"bad yaml: {exc}"))
        return
    if root is None:
        return  # an empty file holds no phrases; harmless while a team lead drafts one
    if not isinstance(root, yaml.SequenceNode):
        problems.append(PhraseLibraryError(file, _line(root), "expected a list of phrases"))
        return
    for node in root.value:
        phrase = _read_phrase(file, node, problems)
        if phrase is not None:
            yield phrase


def _read_phrase(file: str, node: yaml.Node, problems: list[PhraseLibraryError]) -> Phrase | None:
    line = _line(node)

    def problem(at: int, reason: str) -> None:
        problems.append(PhraseLibraryError(file, at, reason))

    if not isinstance(node, yaml.MappingNode):
        problem(line, "expected a phrase (a mapping with id, category, text, keywords, examples)")
        return None
    fields: dict[str, yaml.Node] = {}
    for key_node, value_node in node.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
        if key in fields:
            problem(_line(key_node), f"duplicate field: {key!r}")
        elif key not in _REQUIRED and key not in _OPTIONAL:
            problem(_line(key_node), f"unknown field: {key!r}")
        else:
            fields[key] = value_node
    count_before = len(problems)
    missing = [name for name in _REQUIRED if name not in fields]
    for name in missing:
        problem(line, f"missing field: {name!r}")

    phrase_id = _string(fields.get("id"), "id", problem)
    if phrase_id is not None and not _ID.fullmatch(phrase_id):
        problem(_line(fields["id"]), f"bad phrase id: {phrase_id!r} (use lower_case.dotted_words)")
    category = _string(fields.get("category"), "category", problem)
    if category is not None and category not in CATEGORIES:
        problem(_line(fields["category"]), f"unknown category: {category!r}")
    text = _string(fields.get("text"), "text", problem)
    if text is not None:
        _check_text(text, _line(fields["text"]), problem)
    keywords = _strings(fields.get("keywords"), "keywords", problem)
    examples = _strings(fields.get("examples"), "examples", problem)
    platforms = _choices(fields.get("platforms"), "platform", PLATFORMS, problem)
    order_states = _choices(fields.get("order_states"), "order state", ORDER_STATES, problem)

    if len(problems) > count_before or phrase_id is None:
        return None
    assert category is not None and text is not None  # no problem means every field was read
    return Phrase(
        id=phrase_id,
        category=category,
        text=text,
        keywords=keywords,
        examples=examples,
        platforms=platforms or frozenset(PLATFORMS),
        order_states=order_states,
        file=file,
        line=line,
    )


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _string(node: yaml.Node | None, name: str, problem: _Problem) -> str | None:
    if node is None:
        return None
    if not isinstance(node, yaml.ScalarNode) or node.tag != _STR_TAG or not node.value.strip():
        got = repr(node.value) if isinstance(node, yaml.ScalarNode) else "a list or mapping"
        problem(_line(node), f"{name} must be a non-empty string, got {got}")
        return None
    return str(node.value).strip()


def _strings(node: yaml.Node | None, name: str, problem: _Problem) -> tuple[str, ...]:
    if node is None:
        return ()
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        problem(_line(node), f"{name} must be a non-empty list of strings")
        return ()
    values: list[str] = []
    for item in node.value:
        value = _string(item, f"each entry of {name}", problem)
        if value is None:
            continue
        if value in values:
            problem(_line(item), f"duplicate entry in {name}: {value!r}")
        else:
            values.append(value)
    return tuple(values)


def _choices(
    node: yaml.Node | None, name: str, allowed: Collection[str], problem: _Problem
) -> frozenset[str]:
    values = _strings(node, f"{name}s", problem)
    items = node.value if isinstance(node, yaml.SequenceNode) else []
    for item in items:
        value = item.value.strip() if isinstance(item, yaml.ScalarNode) else None
        if value in values and value not in allowed:
            problem(_line(item), f"unknown {name}: {value!r}")
    return frozenset(values)


def _check_text(text: str, line: int, problem: _Problem) -> None:
    for name in placeholders_in(text):
        if name not in _PLACEHOLDER_TABLE:
            problem(line, f"unknown placeholder: {'{' + name + '}'!r}")
    if "{" in _PLACEHOLDER.sub("", text) or "}" in _PLACEHOLDER.sub("", text):
        problem(line, f"unbalanced brace in text: {text!r}")
