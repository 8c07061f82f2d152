"""Learn from a shop's own history: which phrase its agents answer which buyer words with.

An :class:`ExampleBook` holds one shop's examples — a buyer line's search tokens and the library
phrase the agent answered it with — and scores phrases for a new line by the tokens they share,
each token weighted by how surely it led to that phrase in this shop (its share of the token's
examples) and by how rare it is (IDF). The suggester adds that score as a lift
(``server/core/suggest.py``, ``LEARN_SHARE``).

Examples come from two places: ``kefu qa FILE --learn OUT`` pairs each buyer line of an export
with the agent's next human reply and keeps the pair when the reply is close enough to a library
phrase (:meth:`Suggester.nearest`); the server loads such files from ``<KEFU_PHRASES>/learned/
<shop>.json`` at start, and adds an example on ``suggestion_used`` and on each sent reply that
is close to a phrase (:class:`ShopLearning`). Both are bounded: a book keeps its
newest :data:`BOOK_LIMIT` examples, the live side remembers the last buyer line of at most
:data:`OPEN_LIMIT` conversations.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Protocol

import orjson

from server.core.intent import MAX_CHARS

BOOK_LIMIT = 2000
OPEN_LIMIT = 10_000


class ExampleBook:
    """One shop's (buyer tokens, phrase id) examples; the newest :data:`BOOK_LIMIT` are kept."""

    def __init__(self, limit: int = BOOK_LIMIT) -> None:
        self._examples: deque[tuple[tuple[str, ...], str]] = deque()
        self._limit = limit
        # token -> phrase -> examples holding the token; token -> examples holding it
        self._counts: dict[str, dict[str, int]] = {}
        self._df: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._examples)

    def add(self, tokens: Iterable[str], phrase: str) -> None:
        distinct = tuple(dict.fromkeys(tokens))
        if not distinct:
            return
        self._examples.append((distinct, phrase))
        self._count(distinct, phrase, 1)
        if len(self._examples) > self._limit:
            old_tokens, old_phrase = self._examples.popleft()
            self._count(old_tokens, old_phrase, -1)

    def _count(self, tokens: tuple[str, ...], phrase: str, step: int) -> None:
        for token in tokens:
            per_phrase = self._counts.setdefault(token, {})
            per_phrase[phrase] = per_phrase.get(phrase, 0) + step
            self._df[token] = self._df.get(token, 0) + step
            if not per_phrase[phrase]:
                del per_phrase[phrase]
            if not self._df[token]:
                del self._df[token], self._counts[token]

    def scores(self, tokens: Iterable[str]) -> dict[str, float]:
        """Phrase id -> how strongly this shop's history ties ``tokens`` to it."""
        total = len(self._examples)
        found: dict[str, float] = {}
        for token in dict.fromkeys(tokens):  # in order: the sums are the same in every process
            df = self._df.get(token)
            if not df:
                continue
            idf = math.log(1 + total / df)
            for phrase, count in self._counts[token].items():
                found[phrase] = found.get(phrase, 0.0) + idf * count / df
        return found

    def to_json(self) -> list[dict[str, object]]:
        return [{"tokens": list(tokens), "phrase": phrase} for tokens, phrase in self._examples]

    @classmethod
    def from_json(cls, rows: Sequence[dict[str, object]], limit: int = BOOK_LIMIT) -> ExampleBook:
        book = cls(limit)
        for row in rows:
            if not isinstance(row, dict):
                continue
            tokens, phrase = row.get("tokens"), row.get("phrase")
            if isinstance(tokens, list) and isinstance(phrase, str):
                book.add((t for t in tokens if isinstance(t, str)), phrase)
        return book


def pair_replies(lines: Iterable[tuple[str, str, str]]) -> list[tuple[str, str]]:
    """(buyer line, the agent's next human reply) from (conversation, sender, text) in order.

    Every buyer line before a reply is paired with it (a buyer often splits a question over
    several lines); auto-replies must already be left out by the caller.
    """
    waiting: dict[str, list[str]] = {}
    pairs: list[tuple[str, str]] = []
    for conversation, sender, text in lines:
        if sender == "buyer":
            waiting.setdefault(conversation, []).append(text)
        else:
            pairs.extend((line, text) for line in waiting.pop(conversation, []))
    return pairs


class PhraseMatcher(Protocol):
    """What learning needs from the suggester (:class:`server.core.suggest.Suggester`)."""

    def nearest(self, reply: str) -> str | None: ...

    def search_tokens(self, line: str) -> list[str]: ...


def learn(pairs: Iterable[tuple[str, str]], matcher: PhraseMatcher) -> ExampleBook:
    """An example book from (buyer line, agent reply) pairs whose reply maps to a phrase."""
    book = ExampleBook()
    for line, reply in pairs:
        phrase = matcher.nearest(reply)
        if phrase is not None:
            book.add(matcher.search_tokens(line), phrase)
    return book


def load_books(directory: Path) -> dict[str, ExampleBook]:
    """``{shop: book}`` from ``directory/<shop>.json`` as ``kefu qa --learn`` writes them.

    A file that cannot be read or is not such a document is left out: learned examples refine
    the ranking, they never stop a server from starting."""
    books: dict[str, ExampleBook] = {}
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else ():
        try:
            document = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            continue
        rows = document.get("examples") if isinstance(document, dict) else None
        if isinstance(rows, list):
            books[path.stem] = ExampleBook.from_json(rows)
    return books


class ShopLearning:
    """The live side: each shop's book, grown from used suggestions and sent replies.

    ``matcher`` returns the current library's suggester (None before one is loaded): a library
    reload changes which phrase a reply is nearest to.
    """

    def __init__(self, matcher: Callable[[], PhraseMatcher | None]) -> None:
        self.books: dict[str, ExampleBook] = {}
        self._matcher = matcher
        # (shop, conversation) -> the buyer's last line (its first MAX_CHARS, all the suggester
        # reads), oldest conversation first. Kept as text and cut into tokens only when a used
        # phrase or a reply makes it an example: most buyer lines never become one.
        self._open: OrderedDict[tuple[str, str], str] = OrderedDict()

    def buyer_line(self, shop: str, conversation: str, text: str) -> None:
        key = (shop, conversation)
        self._open[key] = text[:MAX_CHARS]
        self._open.move_to_end(key)
        if len(self._open) > OPEN_LIMIT:
            self._open.popitem(last=False)

    def phrase_used(self, shop: str, conversation: str, phrase: str) -> None:
        line = self._open.pop((shop, conversation), None)
        matcher = self._matcher()
        tokens = matcher.search_tokens(line) if line and matcher is not None else None
        if tokens:
            self.books.setdefault(shop, ExampleBook()).add(tokens, phrase)

    def agent_reply(self, shop: str, conversation: str, text: str) -> None:
        matcher = self._matcher()
        if matcher is not None and (shop, conversation) in self._open:
            phrase = matcher.nearest(text)
            if phrase is not None:
                self.phrase_used(shop, conversation, phrase)
