"""The send-time wording checker: rule packs in, violations with UTF-16 offsets out.

How it works and how well: docs/checker.md. The rule-pack format: phrases/banned/README.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from server.core.checker.matcher import RuleSet, Trace
from server.core.checker.model import (
    CATEGORIES,
    PLATFORMS,
    SEVERITIES,
    CheckContext,
    CueFamily,
    Rule,
    Term,
    Violation,
)
from server.core.checker.packs import parse_packs
from server.errors import RulePackError

__all__ = [
    "CATEGORIES",
    "PLATFORMS",
    "SEVERITIES",
    "CheckContext",
    "CueFamily",
    "Rule",
    "RuleSet",
    "Term",
    "Trace",
    "Violation",
    "compile_rules",
    "load_rules",
]


def compile_rules(sources: Mapping[str, str]) -> RuleSet:
    """Compile rule packs given as {file name: YAML text}; raises RulePackError on any fault."""
    digest = hashlib.sha256()
    for name in sorted(sources):
        digest.update(name.encode() + b"\0" + sources[name].encode() + b"\0")
    rules, families = parse_packs(sources)
    return RuleSet(rules, digest.hexdigest()[:16], families)


def load_rules(directory: Path) -> RuleSet:
    """Compile every ``*.yaml`` rule pack in ``directory``."""
    sources = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            sources[path.name] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise RulePackError(path.name, 0, f"not utf-8 text: {exc.reason}") from None
    if not sources:
        raise RulePackError(str(directory), 0, f"no rule packs (*.yaml) in {str(directory)!r}")
    return compile_rules(sources)
