"""`kefu lint`: every problem in the phrase library, each with its file and line.

Schema problems come from the same validation :func:`server.core.phrases.parse_library` uses, all
of them rather than the first. With a ``check`` callable, every phrase text is also run through
the wording checker for each platform the phrase is offered on, and each rule that blocks it is a
problem; warnings are the checker's advice to an agent typing live and do not fail lint. Taking a
plain callable keeps lint independent of the checker's types.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from server.core.phrases import validate_library

# check(text, platform) -> [(severity, rule id)]; severity is "block" or "warn".
Check = Callable[[str, str], list[tuple[str, str]]]


@dataclass(frozen=True, slots=True)
class LintProblem:
    file: str
    line: int
    message: str


def lint_library(sources: Mapping[str, str], check: Check | None) -> list[LintProblem]:
    """All problems, in file then line order; an empty list means the library is fit to ship."""
    library, errors = validate_library(sources)
    problems = [LintProblem(error.file, error.line, error.reason) for error in errors]
    if check is not None:
        for phrase in library.phrases:
            blocked: list[str] = []
            for platform in sorted(phrase.platforms):
                for severity, rule in check(phrase.text, platform):
                    if severity == "block" and rule not in blocked:
                        blocked.append(rule)
            for rule in blocked:
                message = f"phrase {phrase.id!r} is blocked by rule {rule!r}"
                problems.append(LintProblem(phrase.file, phrase.line, message))
    problems.sort(key=lambda problem: (problem.file, problem.line))
    return problems
