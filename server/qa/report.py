"""The QA report: per-agent reply KPIs and wording violations over a whole export, plus totals.

The KPI counters are the tracker's own :class:`KpiDay`, summed over the export's days, so a
report counts exactly what the live server counts. Response-time percentiles use the nearest-rank
method (p90 of 10 answers is the 9th fastest), so every figure is one of the observed times.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from server.core.checker import CATEGORIES
from server.core.kpi import KpiDay
from server.core.penalties import DEFAULT_RULES, PenaltyRules, rule_label
from server.core.platforms import Timers
from server.qa.labels import CATEGORY_LABELS
from server.qa.lines import Malformed
from server.qa.polite import NOTE_LABELS

# Upper bounds (inclusive, seconds) of the response-time histogram; the last bucket is open.
HISTOGRAM_BOUNDS = (10.0, 30.0, 60.0, 180.0, 300.0, 900.0)
MAX_EXAMPLES = 3  # masked example lines kept per agent and category


@dataclass(frozen=True, slots=True)
class Example:
    """An agent line that broke a rule: where it is, and its text with personal data masked."""

    file: str
    line: int
    conversation: str
    ts: float
    text: str
    rules: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """Its fields in order; written out, as ``dataclasses.asdict`` took a quarter of a
        report's JSON (it deep-copies every field)."""
        return {
            "file": self.file,
            "line": self.line,
            "conversation": self.conversation,
            "ts": self.ts,
            "text": self.text,
            "rules": list(self.rules),
        }


@dataclass(slots=True)
class AgentStats:
    """One agent's figures (or, under the name of the report's total, everyone's)."""

    agent: str
    kpi: KpiDay
    response_times: list[float] = field(default_factory=list)
    checked: int = 0  # human agent lines run through the checker
    flagged: int = 0  # ... of which broke at least one rule
    blocked: int = 0  # ... of which broke a rule of severity block
    violations: Counter[str] = field(default_factory=Counter)  # category -> flagged lines
    examples: dict[str, list[Example]] = field(default_factory=dict)
    notes: Counter[str] = field(default_factory=Counter)  # polite-form note -> lines
    note_examples: dict[str, list[Example]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """Nothing to report: e.g. "unknown" once every round it held was handed over."""
        blank = KpiDay(self.kpi.shop, self.kpi.agent, self.kpi.date)
        return self.kpi == blank and not self.checked

    def add_kpi(self, day: KpiDay) -> None:
        """Sum another day's counters into this one (the longest wait is a maximum)."""
        for counter in dataclasses.fields(KpiDay):
            if counter.name in ("shop", "agent", "date"):
                continue
            mine, theirs = getattr(self.kpi, counter.name), getattr(day, counter.name)
            combined = max(mine, theirs) if counter.name == "longest_wait_s" else mine + theirs
            setattr(self.kpi, counter.name, combined)

    def add(self, other: AgentStats) -> None:
        """Fold another agent's figures into this one (examples excepted)."""
        self.add_kpi(other.kpi)
        self.response_times += other.response_times
        self.checked += other.checked
        self.flagged += other.flagged
        self.blocked += other.blocked
        self.violations.update(other.violations)
        self.notes.update(other.notes)

    def summary(self, target_rate: float) -> dict[str, Any]:
        kpi = self.kpi.report(target_rate)
        times = sorted(self.response_times)
        return {
            "agent": self.agent,
            "rounds": kpi["rounds"],
            "answered": kpi["answered"],
            "unanswered": self.kpi.rounds - self.kpi.answered,
            "outside_window": kpi["outside_window"],
            "avg_response_s": kpi["avg_response_s"],
            "first_response_s": kpi["first_response_s"],
            "p50_response_s": percentile(times, 50),
            "p90_response_s": percentile(times, 90),
            "within_target_rate": kpi["within_target_rate"],
            "overdue": kpi["overdue"],
            "longest_wait_s": kpi["longest_wait_s"],
            "checked": self.checked,
            "flagged": self.flagged,
            "blocked": self.blocked,
            "violations": {c: self.violations[c] for c in CATEGORIES if self.violations[c]},
            "examples": {
                c: [e.to_json() for e in self.examples[c]] for c in CATEGORIES if c in self.examples
            },
            "notes": {n: self.notes[n] for n in NOTE_LABELS if self.notes[n]},
            "note_examples": {
                n: [e.to_json() for e in self.note_examples[n]]
                for n in NOTE_LABELS
                if n in self.note_examples
            },
        }


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest rank: the smallest value with at least ``p`` percent of values at or below it."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return round(sorted_values[rank - 1], 3)


def histogram(values: list[float]) -> list[tuple[float | None, int]]:
    """``(upper bound or None for the open last bucket, count)`` over :data:`HISTOGRAM_BOUNDS`."""
    # Sorted once, each bound is one bisection: a bisection per value took a whole export's
    # answers through a Python loop (40 ms of 100,000 lines' report).
    ordered = sorted(values)
    edges = [0, *(bisect.bisect_right(ordered, bound) for bound in HISTOGRAM_BOUNDS), len(values)]
    counts = [high - low for low, high in itertools.pairwise(edges)]
    return list(zip((*HISTOGRAM_BOUNDS, None), counts, strict=True))


TOTAL = "全部"


@dataclass(slots=True)
class Report:
    platform: str
    timezone: str
    timers: Timers
    target_rate: float
    rules_version: str
    files: list[str]
    lines: int  # lines read (blank lines aside), malformed ones included
    conversations: int
    first_ts: float | None
    last_ts: float | None
    agents: list[AgentStats]  # by name
    malformed: list[Malformed]
    # The ledger's month reports (server.core.penalties), as GET /api/penalties returns them.
    penalties: list[dict[str, Any]] = field(default_factory=list)
    penalty_rules: PenaltyRules = DEFAULT_RULES

    def penalty_label(self, rule: str) -> str:
        """A ledger item's Chinese name: the shop's rule, or a checker rule's category (points)."""
        label = rule_label(rule, self.penalty_rules)
        if label is not None:
            return label
        category = rule.split(".")[0]
        return f"{CATEGORY_LABELS.get(category, category)}（{rule}）"

    def penalty_item(self, item: dict[str, Any]) -> str:
        """One ledger item as a line: 超过 30 分钟回复 ×1 ¥100, 站外引流（offsite.qq） ×1 6分."""
        text = f"{self.penalty_label(item['rule'])} ×{item['count']}"
        if item["yuan"]:
            text += f" ¥{item['yuan']}"
        if item["points"]:
            text += f" {item['points']}分"
        return text

    @property
    def total(self) -> AgentStats:
        total = AgentStats(TOTAL, KpiDay("", TOTAL, ""))
        for stats in self.agents:
            total.add(stats)
        return total

    def local_time(self, ts: float | None) -> str | None:
        if ts is None:
            return None
        return datetime.fromtimestamp(ts, ZoneInfo(self.timezone)).isoformat(timespec="seconds")

    def agent_penalties(self, agent: str) -> dict[str, Any]:
        """The agent's fines: ``{"yuan", "points", "months": [...]}``, one entry per month with
        ``{"month", "yuan", "points", "items", "next", "text"}`` as the ledger reports it."""
        months = [
            {"month": report["month"], **{k: v for k, v in row.items() if k != "agent"}}
            for report in self.penalties
            for row in report["agents"]
            if row["agent"] == agent
        ]
        return {
            "yuan": sum(m["yuan"] for m in months),
            "points": sum(m["points"] for m in months),
            "months": months,
        }

    def shop_penalties(self) -> dict[str, Any]:
        months = [{"month": report["month"], **report["shop"]} for report in self.penalties]
        return {
            "yuan": sum(m["yuan"] for m in months),
            "points": sum(m["points"] for m in months),
            "months": months,
        }

    def to_json(self) -> dict[str, Any]:
        total = self.total
        return {
            "platform": self.platform,
            "timezone": self.timezone,
            "target_s": self.timers.target_s,
            "overdue_s": self.timers.overdue_s,
            "window": list(self.timers.window),
            "target_rate": self.target_rate,
            "rules_version": self.rules_version,
            "files": self.files,
            "lines": self.lines,
            "conversations": self.conversations,
            "from": self.local_time(self.first_ts),
            "to": self.local_time(self.last_ts),
            "agents": [
                {**stats.summary(self.target_rate), "penalties": self.agent_penalties(stats.agent)}
                for stats in self.agents
            ],
            "total": {**total.summary(self.target_rate), "penalties": self.shop_penalties()},
            "penalties": self.penalties,
            "histogram": [
                {"le": bound, "count": count} for bound, count in histogram(total.response_times)
            ],
            "malformed": {
                "count": len(self.malformed),
                "lines": [
                    {"file": m.file, "line": m.line, "reason": m.reason} for m in self.malformed
                ],
            },
        }
