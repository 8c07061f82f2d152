"""Rank quick phrases against what the buyer just wrote.

Needs first: the line is cleaned and its needs detected (``server/core/intent.py``); phrases of
the detected categories are lifted above everything else, strongest need first, and a line that
names a clear need never gets a greeting or a goodbye above its answer. Inside that, BM25 over
each phrase's keywords, example questions and text (weighted fields, one weighted bag per
phrase), then context: the platform and order state filter phrases out, the order state and the
shop's own usage raise ranks, and a buyer's first message brings a greeting forward. The index
(postings with their BM25 weights) is built once per library; a call only adds up postings for
the message's tokens and renders the few phrases it returns. docs/suggestions.md explains the
choices and the measured figures.
"""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TypeVar

from server.core.intent import QUESTION, SOCIAL, clean, detect
from server.core.learn import ExampleBook
from server.core.phrases import (
    CATEGORIES,
    ORDER_STATES,
    PLACEHOLDER_LABELS,
    PLATFORMS,
    Phrase,
    PhraseLibrary,
    placeholders_in,
)
from server.core.tokenize import fix_typos, get_tokenizer
from server.errors import BadValue

# BM25 parameters. Phrase "documents" are short and of similar length, so length normalisation
# is kept mild (b); k1 is the usual value.
K1 = 1.2
B = 0.5
# A token in more than COMMON_SHARE of the phrases (可以, 能, 有, 在 ...) says little about which
# one answers (its IDF is under 1.2) and has the longest postings: it is left out of the index.
# MIN_COMMON keeps a small library's tokens (a test's nine phrases) all in.
COMMON_SHARE = 0.3
MIN_COMMON = 20
# A keyword is what a team lead says the phrase answers; an example is one buyer's wording; the
# phrase text shares the topic's vocabulary but is the agent's side of it.
FIELD_WEIGHTS = {"keywords": 3.0, "examples": 1.0, "text": 0.3}

# Order state -> {category: extra share of the BM25 score}.
STATE_BOOSTS: Mapping[str, Mapping[str, float]] = {
    "unpaid": {"nudge": 0.6, "payment": 0.4},
    "paid": {"logistics": 0.3},
    "shipped": {"logistics": 0.4, "after_sales": 0.2},
    "refunding": {"after_sales": 0.6},
}
# A phrase written for the current order state (its order_states name it) gains this share.
STATE_MATCH_BOOST = 0.3
# A phrase written for particular order states, while the state is unknown: still offered (the
# buyer may say "拍了还没付" before any order card arrives), a little behind unconditional ones.
UNKNOWN_STATE_FACTOR = 0.8
# Shop usage: share gained per natural-log unit of (1 + times used); 100 uses adds ~0.46.
USAGE_BOOST = 0.1
# On a buyer's first message the best greeting gets this share of the best other score on top of
# its own: a bare "在吗" ranks it first, a concrete question keeps its answer first and the
# greeting second. STAGE_FLOOR stands in for "the best other score" when nothing else matched.
STAGE_SHARE = 0.8
STAGE_FLOOR = 1.0
# Needs: the LIFTED best phrases of a detected category gain NEED_SHARE x (its need's strength
# relative to the strongest need) x (the best BM25 score + NEED_FLOOR): the strongest need's
# phrases rank above any phrase that only shares words with the line, weaker needs follow. A need
# of at least CLEAR_NEED is clear: greetings and goodbyes are then held to SOCIAL_CAP x its best
# answer's score.
NEED_SHARE = 1.0
NEED_FLOOR = 1.0
CLEAR_NEED = 1.5
SOCIAL_CAP = 0.9
LIFTED = 3  # phrases lifted per need: as many as one answer shows
# With an unpaid order, a need of these categories is a 催付 (nudge) need as strong.
UNPAID_CARRIES = ("payment", "logistics")
# The shop's own history (ExampleBook): a phrase its agents answered such words with gains
# LEARN_SHARE x (its history score / the best one) x (the best score so far + NEED_FLOOR); a score
# under LEARN_MIN of the best is noise.
LEARN_SHARE = 0.3
LEARN_MIN = 0.3
# An agent's reply is taken for a library phrase when their character bigrams overlap this much
# (Dice coefficient: the agent typed or edited that phrase), else when the reply's own words score
# this much BM25 against one phrase (it answers in other words what that phrase answers; 12 is
# two or three keywords: chosen on the development split, docs/suggestions.md).
NEAREST_MIN = 0.5
NEAREST_MIN_SCORE = 12.0
# A question no cue claims: the first product phrases gain this much, enough to be offered when
# nothing matched, too little to pass a phrase that shares words with the line.
QUESTION_LIFT = 1.0
# At most this many suggestions from one category while other categories have candidates: when
# the message is ambiguous the agent sees the second reading too.
PER_CATEGORY = 2
# Candidates up to this many are sorted to find the best few, more go through a heap (_largest).
SORT_LIMIT = 400


@dataclass(frozen=True, slots=True)
class SuggestContext:
    platform: str = "taobao"
    first_message: bool = False  # the buyer's first message in this conversation
    order_state: str | None = None  # None (unknown) | unpaid | paid | shipped | refunding
    usage: Mapping[str, int] = field(default_factory=dict)  # phrase id -> times this shop used it
    fill: Mapping[str, str] = field(default_factory=dict)  # placeholder name -> value
    examples: ExampleBook | None = None  # what this shop's agents answered which words with

    def __post_init__(self) -> None:
        if self.platform not in PLATFORMS:
            raise BadValue.unknown("platform", self.platform)
        if self.order_state is not None and self.order_state not in ORDER_STATES:
            raise BadValue.unknown("order state", self.order_state)


@dataclass(frozen=True, slots=True)
class Suggestion:
    phrase: str
    category: str
    text: str
    score: float


_T = TypeVar("_T")
# A phrase text's placeholders: (name, label shown without a value, literal text after it).
_Slots = tuple[tuple[str, str, str], ...]


class Suggester:
    """Ranks one library's phrases; build once per library version, share freely (read-only)."""

    def __init__(self, library: PhraseLibrary) -> None:
        self._tokenizer = get_tokenizer()
        self._phrases = library.phrases
        self._categories = tuple(p.category for p in library.phrases)
        self._ids = tuple(p.id for p in library.phrases)
        # What a suggestion of each phrase shows: id, category, text up to its first placeholder
        # and the (placeholder, label, literal after it) that follow (none: the text as it is).
        self._outputs = tuple((p.id, p.category, *_compile(p.text)) for p in library.phrases)
        self._postings = self._index()
        self._bigrams = _bigram_index(self._phrases, self._tokenizer.normalize)
        self._welcome_set = frozenset(i for i, c in enumerate(self._categories) if c == "welcome")
        self._members = {
            category: tuple(i for i, c in enumerate(self._categories) if c == category)
            for category in CATEGORIES
        }
        self._position = {phrase_id: i for i, phrase_id in enumerate(self._ids)}
        # Score factor per (platform, order state) and phrase: 0 filters the phrase out, else
        # 1 + the order-state boost. A phrase with order-state conditions is filtered out only
        # when the state is known and not among them.
        self._factors: dict[tuple[str, str | None], tuple[float, ...]] = {
            (platform, state): tuple(
                _factor(phrase.category, phrase.order_states, phrase.platforms, platform, state)
                for phrase in library.phrases
            )
            for platform in PLATFORMS
            for state in (None, *ORDER_STATES)
        }
        # The phrases whose factor is not 1 in each context: the only scores a call computes
        # (a relevance times 1.0 is the relevance itself).
        self._scaled = {
            key: frozenset(i for i, factor in enumerate(factors) if factor != 1.0)
            for key, factors in self._factors.items()
        }
        # The greetings each context allows (a first message brings the best one forward).
        self._greetings = {
            key: tuple(i for i in sorted(self._welcome_set) if factors[i])
            for key, factors in self._factors.items()
        }

    def _index(self) -> dict[str, dict[int, float]]:
        """Token -> {phrase index: BM25 weight} over the whole library."""
        bags: list[dict[str, float]] = []
        for phrase in self._phrases:
            bag: dict[str, float] = {}
            fields = (
                (phrase.keywords, FIELD_WEIGHTS["keywords"]),
                (phrase.examples, FIELD_WEIGHTS["examples"]),
                ((phrase.text,), FIELD_WEIGHTS["text"]),
            )
            for texts, weight in fields:
                for text in texts:
                    for token in self._tokenizer.tokens(text):
                        bag[token] = bag.get(token, 0.0) + weight
            bags.append(bag)
        count = len(bags)
        # "or 1.0": an empty library, or one whose keywords are all stopwords, has no length
        average = (sum(sum(bag.values()) for bag in bags) / count if count else 0.0) or 1.0
        frequency: dict[str, int] = {}
        for bag in bags:
            for token in bag:
                frequency[token] = frequency.get(token, 0) + 1
        postings: dict[str, dict[int, float]] = {}
        common = max(MIN_COMMON, COMMON_SHARE * count)
        for index, bag in enumerate(bags):
            norm = K1 * (1 - B + B * sum(bag.values()) / average)
            for token, tf in bag.items():
                n = frequency[token]
                if n > common:
                    continue
                idf = math.log(1 + (count - n + 0.5) / (n + 0.5))
                postings.setdefault(token, {})[index] = idf * tf * (K1 + 1) / (tf + norm)
        return postings

    def _relevance(self, tokens: list[str]) -> dict[int, float]:
        """Phrase index -> the summed BM25 weights of the distinct ``tokens`` it holds.

        Each token's postings go in with one C-level dict update; only phrases already holding
        an earlier token's weight are added up in Python (a 2,000-phrase library's common words
        have hundreds of postings, few of them shared)."""
        relevance: dict[int, float] = {}
        postings = self._postings
        # In the line's order, not a set's: a set's order follows the process's string hashes,
        # so the float sums (and a tie between two phrases) differed from process to process.
        for token in dict.fromkeys(tokens):
            entries = postings.get(token)
            if entries is None:
                continue
            if not relevance:  # the first token found: no set of shared phrases to build
                relevance.update(entries)
                continue
            shared = relevance.keys() & entries.keys()
            if not shared:
                relevance.update(entries)
                continue
            earlier = {index: relevance[index] for index in shared}
            relevance.update(entries)
            for index, weight in earlier.items():
                relevance[index] += weight
        return relevance

    def suggest(
        self, message: str, context: SuggestContext = SuggestContext(), k: int = 3
    ) -> list[Suggestion]:
        """The ``k`` best phrases for ``message``, placeholders filled from ``context.fill``."""
        cleaned = clean(message)
        text = fix_typos(cleaned.text)  # clean() has folded it already
        tokens = self._tokenizer.cut(text)
        relevance = self._relevance(tokens)

        needs = detect(text)
        if context.order_state == "unpaid":
            # An unpaid order turns a payment or shipping question into a 催付 moment too.
            carried = max((needs.get(c, 0.0) for c in UNPAID_CARRIES), default=0.0)
            if carried > needs.get("nudge", 0.0):
                needs["nudge"] = carried
        if context.examples:
            # Before the needs: a phrase this shop answers such lines with is among those the
            # need then lifts.
            self._lift_learned(relevance, context.examples.scores(tokens))
        if needs:
            self._lift_needs(relevance, needs)
        elif QUESTION.search(text):
            for index in self._members["product"][:PER_CATEGORY]:
                relevance[index] = relevance.get(index, 0.0) + QUESTION_LIFT
        key = context.platform, context.order_state
        factors = self._factors[key]
        scores = self._scores(relevance, factors, self._scaled[key])
        if context.usage:
            self._boost_usage(scores, relevance, factors, context.usage)
        if context.first_message:
            greetings = self._greetings[context.platform, context.order_state]
            self._bring_greeting_forward(scores, relevance, greetings)
        hold = any(strength >= CLEAR_NEED for c, strength in needs.items() if c not in SOCIAL)
        fill = context.fill
        if (cleaned.order and "order" not in fill) or (cleaned.amount and "amount" not in fill):
            # The card the console pasted names the order: use it where the server knew none.
            card = {"order": cleaned.order, "amount": cleaned.amount}
            fill = {**{name: value for name, value in card.items() if value}, **fill}
        return self._render(self._pick(scores, k, hold), fill)

    @staticmethod
    def _scores(
        relevance: dict[int, float], factors: tuple[float, ...], scaled: frozenset[int]
    ) -> dict[int, float]:
        """Relevance times the context's factor, without the phrases it filters out (factor 0);
        in relevance order. Only the phrases in ``scaled`` have a factor other than 1."""
        scores = relevance.copy()
        for index in scaled.intersection(relevance):
            factor = factors[index]
            if factor:
                scores[index] *= factor
            else:
                del scores[index]
        return scores

    def _boost_usage(
        self,
        scores: dict[int, float],
        relevance: dict[int, float],
        factors: tuple[float, ...],
        usage: Mapping[str, int],
    ) -> None:
        """Raise the scored phrases this shop used; walks the scores or the shop's usage,
        whichever is shorter (a shop that used most of the library has a long usage)."""
        if len(usage) > len(scores):
            ids = self._ids
            pairs = [(index, usage.get(ids[index], 0)) for index in scores]
        else:
            position = self._position
            pairs = [(position.get(phrase_id, -1), used) for phrase_id, used in usage.items()]
        for index, used in pairs:
            if index in scores and used > 0:
                scores[index] = relevance[index] * (factors[index] + USAGE_BOOST * math.log1p(used))

    def _lift_needs(self, relevance: dict[int, float], needs: Mapping[str, float]) -> None:
        """Add each need's lift to the relevance of its category's phrases (before the context
        factors, which then scale it like any relevance)."""
        top = max(relevance.values(), default=0.0)
        strongest = max(needs.values())
        for category, strength in needs.items():
            lift = NEED_SHARE * strength / strongest * (top + NEED_FLOOR)
            members = self._members[category]
            if len(members) < len(relevance):
                matched = [index for index in members if index in relevance]
            else:
                matched = [index for index in relevance if self._categories[index] == category]
            # Only the best few can be shown (k at most): lifting them is enough, and keeps the
            # top of the ranking from filling with one category. A need no phrase matched a
            # word of: its category's first phrases stand in. (LIFTED or fewer: all of them,
            # in any order, as each gains the same lift.)
            if len(matched) > LIFTED:
                matched = _largest(LIFTED, matched, relevance.__getitem__)
            for index in matched or members[:PER_CATEGORY]:
                relevance[index] = relevance.get(index, 0.0) + lift

    def _lift_learned(self, relevance: dict[int, float], learned: Mapping[str, float]) -> None:
        best = max(learned.values(), default=0.0)
        if not best:
            return
        top = max(relevance.values(), default=0.0)
        for phrase_id, value in learned.items():
            index = self._position.get(phrase_id)
            if index is not None and value >= LEARN_MIN * best:
                lift = LEARN_SHARE * value / best * (top + NEED_FLOOR)
                relevance[index] = relevance.get(index, 0.0) + lift

    def search_tokens(self, line: str) -> list[str]:
        """The tokens :meth:`suggest` reads from a buyer line (cleaned, normalised, cut)."""
        return self._tokenizer.cut(fix_typos(clean(line).text))

    def nearest(self, reply: str) -> str | None:
        """The phrase an agent's ``reply`` was typed from, if one is close enough."""
        grams = _bigrams(self._tokenizer.normalize(reply))
        if not grams:
            return None
        postings, sizes = self._bigrams
        shared: dict[int, int] = {}
        for gram in grams:
            for index in postings.get(gram, ()):
                shared[index] = shared.get(index, 0) + 1
        best, best_dice = None, NEAREST_MIN
        for index, count in shared.items():
            dice = 2 * count / (len(grams) + sizes[index])
            if dice >= best_dice:
                best, best_dice = index, dice
        if best is None:
            relevance = self._relevance(self.search_tokens(reply))
            index, score = max(relevance.items(), key=_score, default=(-1, 0.0))
            best = index if score >= NEAREST_MIN_SCORE else None
        return None if best is None else self._ids[best]

    def _held(self, ranked: list[tuple[int, float]]) -> list[tuple[int, float]]:
        """``ranked`` (the best scores) with greetings and goodbyes held below the best answer.

        Any score outside ``ranked`` is at most the best answer's already."""
        categories = self._categories
        best = max((v for i, v in ranked if categories[i] not in SOCIAL), default=None)
        if best is None:
            return ranked
        cap = SOCIAL_CAP * best
        return [(i, min(v, cap) if categories[i] in SOCIAL else v) for i, v in ranked]

    def _bring_greeting_forward(
        self, scores: dict[int, float], relevance: dict[int, float], greetings: tuple[int, ...]
    ) -> None:
        """``greetings``: the welcome phrases the context allows, in library order."""
        if not greetings:
            return
        # Highest relevance wins; among equals the library's first greeting (min index). A
        # relevance is never 0, so a greeting the line matched beats every one it did not.
        matched = [(relevance[i], -i) for i in greetings if i in relevance]
        best = -max(matched)[1] if matched else greetings[0]
        welcome = self._welcome_set
        others = [score for i, score in scores.items() if i not in welcome]
        reference = max(others, default=0.0) or STAGE_FLOOR
        scores[best] = scores.get(best, 0.0) + STAGE_SHARE * reference

    def _pick(self, scores: dict[int, float], k: int, hold: bool) -> list[tuple[int, float]]:
        """Top ``k`` by score, at most PER_CATEGORY per category unless no other category has a
        candidate left; with ``hold``, no greeting or goodbye above the best answer. Ties keep
        library order among the chosen."""
        # Look at the best few; past them only when the cap cannot fill k slots from those.
        wanted = k * (PER_CATEGORY + 1)
        ranked = _largest(wanted, scores.items(), _score)
        if hold:
            ranked = self._held(ranked)
        _rank(ranked)
        chosen, held, per_category = self._capped(ranked, k)
        if len(chosen) < k and len(ranked) < len(scores):
            # A need's phrases fill the top: the rest comes from the best of the others.
            categories = self._categories
            full = {category for category, n in per_category.items() if n >= PER_CATEGORY}
            seen = {index for index, _value in ranked}
            others = [
                item
                for item in scores.items()
                if categories[item[0]] not in full and item[0] not in seen
            ]
            ranked += _largest(wanted, others, _score)
            _rank(ranked)
            chosen, held, per_category = self._capped(ranked, k)
        if len(chosen) < k:
            chosen.extend(held[: k - len(chosen)])
            _rank(chosen)
        return chosen

    def _capped(
        self, ranked: list[tuple[int, float]], k: int
    ) -> tuple[list[tuple[int, float]], list[tuple[int, float]], dict[str, int]]:
        """The first ``k`` of ``ranked`` with at most PER_CATEGORY per category; those the cap
        passed over (only when fewer than ``k`` are chosen); how many each category has."""
        categories = self._categories
        chosen: list[tuple[int, float]] = []
        held: list[tuple[int, float]] = []
        per_category: dict[str, int] = {}
        for item in ranked:
            category = categories[item[0]]
            taken = per_category.get(category, 0)
            per_category[category] = taken + 1
            if taken < PER_CATEGORY:
                chosen.append(item)
                if len(chosen) == k:
                    break
            else:
                held.append(item)
        return chosen, held, per_category

    def _render(self, picked: list[tuple[int, float]], fill: Mapping[str, str]) -> list[Suggestion]:
        found = []
        for index, score in picked:
            phrase_id, category, text, slots = self._outputs[index]
            if slots:
                text = _filled(text, slots, fill)
            found.append(Suggestion(phrase_id, category, text, round(score, 4)))
        return found


_score = itemgetter(1)


def _largest(n: int, items: Collection[_T], key: Callable[[_T], float]) -> list[_T]:
    """heapq.nlargest(n, items, key), which its docs define as sorted(...)[:n]: for the few dozen
    candidates of a line sorting in C is 2-3 times faster than nlargest's heap loop in Python;
    past a few hundred (a large library's common words) the heap wins."""
    if len(items) > SORT_LIMIT:
        return heapq.nlargest(n, items, key=key)
    return sorted(items, key=key, reverse=True)[:n]


def _factor(
    category: str,
    conditions: frozenset[str],
    platforms: frozenset[str],
    platform: str,
    state: str | None,
) -> float:
    if platform not in platforms:
        return 0.0
    if state is None:
        return UNKNOWN_STATE_FACTOR if conditions else 1.0
    if conditions and state not in conditions:
        return 0.0
    boost = STATE_BOOSTS.get(state, {}).get(category, 0.0)
    return 1.0 + boost + (STATE_MATCH_BOOST if state in conditions else 0.0)


def _bigrams(text: str) -> frozenset[str]:
    chars = "".join(char for char in text if char.isalnum())
    return frozenset(chars[i : i + 2] for i in range(len(chars) - 1))


def _bigram_index(
    phrases: tuple[Phrase, ...], normalize: Callable[[str], str]
) -> tuple[dict[str, tuple[int, ...]], tuple[int, ...]]:
    """Character bigram -> phrases whose text holds it (placeholders left out); bigram counts."""
    grams = [_bigrams(normalize(_PLACEHOLDER_TEXT.sub("", p.text))) for p in phrases]
    postings: dict[str, list[int]] = {}
    for index, phrase_grams in enumerate(grams):
        for gram in phrase_grams:
            postings.setdefault(gram, []).append(index)
    return {g: tuple(i) for g, i in postings.items()}, tuple(len(g) for g in grams)


_PLACEHOLDER_TEXT = re.compile(r"\{[a-z_]+\}")


def _rank(items: list[tuple[int, float]]) -> None:
    """Sort (index, score) pairs best first, ties in library order: two C-level sorts (stable,
    the second by score only), where a key function made a Python call per pair."""
    items.sort(key=_index)
    items.sort(key=_score, reverse=True)


_index = itemgetter(0)


def _compile(text: str) -> tuple[str, _Slots]:
    """``text`` up to its first placeholder, and each placeholder's name, the label shown when
    no value is known and the literal text up to the next one."""
    names = placeholders_in(text)
    if not names:
        return text, ()
    head, rest = text.split("{" + names[0] + "}", 1)
    slots = []
    for name, following in zip(names, [*names[1:], None], strict=True):
        literal, rest = rest.split("{" + following + "}", 1) if following else (rest, "")
        slots.append((name, f"【{PLACEHOLDER_LABELS[name]}】", literal))
    return head, tuple(slots)


def _filled(head: str, slots: _Slots, fill: Mapping[str, str]) -> str:
    parts = [head]
    for name, label, literal in slots:
        parts.append(fill.get(name) or label)
        parts.append(literal)
    return "".join(parts)
