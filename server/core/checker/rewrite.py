"""One-click rewrite: replace every violation that has a suggestion by that suggestion."""

from __future__ import annotations

from collections.abc import Sequence

from server.core.checker.model import Violation
from server.core.checker.offsets import from_utf16
from server.errors import BadField


def rewrite(text: str, violations: Sequence[Violation]) -> str:
    """``text`` with each suggestion in place of its match.

    Violations without a suggestion are left for the agent; of overlapping ones the first (by
    start) wins, so a rewrite never splices two suggestions into each other.
    """
    edits: list[tuple[int, int, str]] = []
    for violation in sorted(violations, key=lambda v: (v.start, -v.end)):
        if violation.suggestion is None:
            continue
        start, end = from_utf16(text, violation.start), from_utf16(text, violation.end)
        if text[start:end] != violation.match:
            raise BadField(f"violation does not match the text: {violation.match!r}")
        if edits and start < edits[-1][1]:
            continue
        edits.append((start, end, violation.suggestion))
    pieces = []
    position = 0
    for start, end, suggestion in edits:
        pieces += [text[position:start], suggestion]
        position = end
    pieces.append(text[position:])
    return "".join(pieces)
