"""Batch QA: replay an export through the same core the live server runs.

Lines are replayed in time order through :class:`Tracker` (rounds, clocks, counting windows,
KPIs) and every human agent line through the wording checker. Before each line the tracker is
advanced to just before its time, so thresholds fire in order and an answer at exactly the
target counts as within it (``waited <= target_s``, as the tracker decides); at the end it is
advanced to the export's last line, so a round still open then is counted as far as the export
can tell and no further.

Agent lines belong to their ``agent`` ("unknown" when absent); buyer lines to their ``agent``
if given, else to whoever has the conversation, so a round opened before anyone answered moves
to the agent who answers it (the tracker's hand-over).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from operator import attrgetter

from server.core.checker import CheckContext, RuleSet, Violation
from server.core.deadlines import parse_deadlines
from server.core.kpi import KpiDay
from server.core.mask import mask
from server.core.penalties import DEFAULT_RULES, PenaltyRules, ShopBook
from server.core.platforms import Timers
from server.core.tracker import Tracker
from server.qa import polite
from server.qa.lines import ChatLine, Malformed
from server.qa.report import MAX_EXAMPLES, AgentStats, Example, Report

SHOP = "qa"  # an export is one shop's chats
UNKNOWN_AGENT = "unknown"


def analyze(
    items: Iterable[ChatLine | Malformed],
    *,
    rules: RuleSet,
    platform: str,
    timers: Mapping[str, Timers],
    timezone: str,
    target_rate: float,
    files: list[str],
    penalties: PenaltyRules = DEFAULT_RULES,
    deadlines: Mapping[str, float] | None = None,
) -> Report:
    chat: list[ChatLine] = []
    malformed: list[Malformed] = []
    for item in items:
        if isinstance(item, ChatLine):
            chat.append(item)
        else:
            malformed.append(item)
    chat.sort(key=attrgetter("ts"))  # stable: lines with the same time keep the file's order

    tracker = Tracker(timers, timezone, target_rate, live=False)  # the counts, no frames
    context = CheckContext(platform=platform)
    stats: dict[str, AgentStats] = {}

    def of(agent: str) -> AgentStats:
        found = stats.get(agent)
        if found is None:
            found = stats[agent] = AgentStats(agent, KpiDay(SHOP, agent, ""))
        return found

    conversations = tracker.conversations
    days = tracker.days
    due = parse_deadlines(None) if deadlines is None else deadlines
    book = ShopBook(penalties, due, timezone, idle_after_s=math.inf)  # an export has no presence
    replied: set[str] = set()  # conversations with a human reply so far

    def holder(kind: str, key: str) -> str:  # a missed deadline is fined to the holder then
        return conversations[(SHOP, key)].agent

    # Bound once: this loop runs once per line of exports of hundreds of thousands of lines.
    advance, advance_book, find = tracker.advance, book.advance, conversations.find
    buyer_message, agent_message = tracker.buyer_message, tracker.agent_message
    check, coaching_notes, in_window = rules.check, polite.notes, days.in_window
    nextafter, minus_inf = math.nextafter, -math.inf
    # The book's next wake-up, as its next_wake says: most lines have no deadline running, so
    # its advance (a call and two lists) is called only once one is due. A line that started
    # or ended a clock asks again; one ended early leaves a wake-up that finds nothing.
    book_wake: float | None = None
    for line in chat:
        ts, conversation = line.ts, line.conversation
        before = nextafter(ts, minus_inf)
        advance(before)
        if book_wake is not None and book_wake <= before:
            advance_book(before, holder)
            book_wake = book.next_wake()
        conv = find(SHOP, conversation)
        buyer = line.buyer or conversation
        if line.sender == "buyer":
            agent = line.agent or (conv.agent if conv is not None else UNKNOWN_AGENT)
            buyer_message(SHOP, conversation, buyer, platform, agent, ts)
            if book.buyer_line(conversation, agent, line.text, ts):
                book_wake = book.next_wake()
            continue
        agent = line.agent or UNKNOWN_AGENT
        started = conv.round_started_at if conv is not None else None
        text = line.text
        agent_message(SHOP, conversation, buyer, platform, agent, ts, text, line.auto)
        if line.auto:
            continue
        agent_stats = of(agent)
        if started is not None and in_window(platform, started):
            agent_stats.response_times.append(max(0.0, ts - started))
        # Most lines break no rule and earn no note: the helpers run only for those that do.
        agent_stats.checked += 1
        violations = check(text, context)
        if violations:
            _flag(agent_stats, line, violations)
        if book.agent_line(
            conversation,
            agent,
            text,
            ts,
            platform=platform,
            round_started_at=started,
            violations=tuple([(v.rule, v.category) for v in violations]) if violations else (),
        ):
            book_wake = book.next_wake()
        notes = coaching_notes(text, conversation not in replied)
        if notes:
            _note(agent_stats, line, notes)
        replied.add(conversation)
    if chat:
        end = chat[-1].ts
        tracker.advance(end)
        book.advance(end, holder)
        for conv in conversations.values():  # still waiting at the end: waited until then
            if conv.round_started_at is not None:
                book.unanswered(conv.agent, conv.round_started_at, end)

    for kpi in tracker.kpis.values():
        of(kpi.agent).add_kpi(kpi)
    return Report(
        platform=platform,
        timezone=timezone,
        timers=timers[platform],
        target_rate=target_rate,
        rules_version=rules.version,
        files=files,
        lines=len(chat) + len(malformed),
        conversations=len(conversations),
        first_ts=chat[0].ts if chat else None,
        last_ts=chat[-1].ts if chat else None,
        agents=[stats[name] for name in sorted(stats) if not stats[name].empty],
        malformed=malformed,
        penalties=[book.ledger.report(month) for month in book.ledger.months()],
        penalty_rules=penalties,
    )


def _note(stats: AgentStats, line: ChatLine, notes: list[str]) -> None:
    for note in notes:
        stats.notes[note] += 1
        examples = stats.note_examples.setdefault(note, [])
        if len(examples) < MAX_EXAMPLES:
            examples.append(_example(line, ()))


def _example(line: ChatLine, rule_ids: tuple[str, ...]) -> Example:
    return Example(line.file, line.line, line.conversation, line.ts, mask(line.text), rule_ids)


def _flag(stats: AgentStats, line: ChatLine, violations: list[Violation]) -> None:
    stats.flagged += 1
    stats.blocked += any(v.severity == "block" for v in violations)
    for category in dict.fromkeys(v.category for v in violations):
        stats.violations[category] += 1
        examples = stats.examples.setdefault(category, [])
        if len(examples) < MAX_EXAMPLES:
            rule_ids = tuple(dict.fromkeys(v.rule for v in violations if v.category == category))
            examples.append(_example(line, rule_ids))
