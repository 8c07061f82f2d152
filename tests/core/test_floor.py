"""The Floor: one call per event, the effects it returns in order, and what the parts tell one
another there (an abandoned round's fine, an override's verdict, a handover note)."""

from __future__ import annotations

from server.core.checker import Violation
from server.core.deadlines import Clock, parse_deadlines
from server.core.floor import Floor, Line, Overridden, Suggested
from server.core.handover import HandedOver
from server.core.nudgebook import NudgeBook
from server.core.nudges import NudgePolicy, OrderEvent, OrderStatus
from server.core.penalties import DEFAULT_RULES
from server.core.penalties.desk import DeadlineChanged, Desk, LedgerChanged
from server.core.platforms import DEFAULT_TIMERS
from server.core.suggest import SuggestContext, Suggestion
from server.core.tracker import (
    Limits,
    SaveConversation,
    SaveKpi,
    TimerChanged,
    TimerLevel,
    Tracker,
)

NOW = 1_795_000_000.0  # 2026-11-18, 15:46 in Shanghai: inside every window
FACTS = {"shop1": {"ship_time": "48小时内"}}
FOUND = [Suggestion("greet", "welcome", "亲，在的", 1.5)]
RUDE = Violation("rude", "rude", "block", 0, 3, "你烦不烦", "粗鲁", None)


class Recorder:
    """A suggester and a checker that remember what they were asked."""

    def __init__(self) -> None:
        self.suggested: list[tuple[str, SuggestContext]] = []
        self.checked: list[str] = []

    def suggest(self, text: str, context: SuggestContext) -> list[Suggestion]:
        self.suggested.append((text, context))
        return FOUND

    def check(self, text: str) -> list[Violation]:
        self.checked.append(text)
        return []


def floor(clock: list[float], limits: Limits | None = None) -> Floor:
    tracker = Tracker(DEFAULT_TIMERS, "Asia/Shanghai", 0.9, limits)
    nudges = NudgeBook(NudgePolicy.from_settings({"delays_s": [900], "final_before_close_s": 0}))
    now = lambda: clock[0]  # noqa: E731
    desk = Desk(DEFAULT_RULES, parse_deadlines(None), "Asia/Shanghai", 600.0, tracker, now)
    return Floor(tracker, nudges, desk, FACTS, lambda: None, lambda shop: ["amy"], now)


def line(text: str, agent: str = "amy", ts: float = NOW, conversation: str = "c1") -> Line:
    return Line("shop1", conversation, "tom", "taobao", agent, ts, text)


def test_a_buyer_line_is_one_call_its_clock_then_its_suggestions():
    shop = floor([NOW])
    seen = Recorder()
    effects = shop.buyer_line(line("在吗"), True, None, seen.suggest)
    assert [type(effect) for effect in effects] == [
        SaveKpi,
        SaveConversation,
        TimerChanged,
        Suggested,
    ]
    timer = effects[2]
    assert (timer.agent, timer.conversation, timer.level, timer.waited_s) == (
        "amy",
        "c1",
        TimerLevel.WAITING,
        0.0,
    )
    assert effects[-1] == Suggested("c1", FOUND)
    [(text, context)] = seen.suggested
    assert text == "在吗"
    assert (context.platform, context.first_message, context.order_state) == ("taobao", True, None)
    assert context.fill == {
        "ship_time": "48小时内",
        "agent": "amy",
        "shop": "shop1",
        "buyer": "tom",
    }


def test_the_suggestions_see_the_order_and_a_complaint_wins_over_it():
    clock = [NOW]
    shop = floor(clock)
    event = OrderEvent("shop1", "o1", "tom", OrderStatus.CREATED, "c1", "99.00", NOW)
    change = shop.nudges.prepare(event, NOW)
    assert change is not None
    shop.nudges.commit(change)
    seen = Recorder()
    shop.buyer_line(line("什么时候发货"), True, None, seen.suggest)
    shop.buyer_line(line("收到是坏了，我要投诉", ts=NOW + 1), False, None, seen.suggest)
    first, second = (context for _, context in seen.suggested)
    assert (first.order_state, first.fill["order"], first.fill["amount"]) == (
        "unpaid",
        "o1",
        "99.00",
    )
    assert second.order_state == "refunding"


def test_a_refund_request_opens_its_deadline_for_the_holder():
    shop = floor([NOW])
    effects = shop.buyer_line(line("我要退款"), True, None, Recorder().suggest)
    [opened] = [effect for effect in effects if isinstance(effect, DeadlineChanged)]
    assert (opened.agent, opened.clock.kind, opened.clock.key, opened.state, opened.at) == (
        "amy",
        "refund",
        "c1",
        "open",
        NOW,
    )
    [saved] = [effect for effect in effects if isinstance(effect, LedgerChanged)]
    assert saved == LedgerChanged(
        "shop1", frozenset(), frozenset({("refund", "c1")}), "2026-11", frozenset()
    )


def test_a_sent_line_equal_to_a_flagged_draft_is_an_override_and_is_not_checked_again():
    clock = [NOW]
    shop = floor(clock)
    seen = Recorder()
    shop.buyer_line(line("在吗"), True, None, seen.suggest)
    shop.flagged("shop1", "amy", "c1", " 你烦不烦 ", [RUDE])
    effects = shop.agent_line(line("你烦不烦", ts=NOW + 5), False, seen.check)
    assert seen.checked == []
    assert Overridden("c1", "你烦不烦", [RUDE]) in effects
    [ledger] = [effect for effect in effects if isinstance(effect, LedgerChanged)]
    assert ("2026-11", "amy", "rude") in ledger.items and ledger.agents == {"amy"}


def test_any_other_human_line_is_checked_as_sent_and_an_auto_reply_never_is():
    shop = floor([NOW])
    seen = Recorder()
    shop.buyer_line(line("在吗"), True, None, seen.suggest)
    shop.agent_line(line("您好，自动回复", ts=NOW + 1), True, seen.check)
    shop.agent_line(line("在的亲", ts=NOW + 2), False, seen.check)
    assert seen.checked == ["在的亲"]


def test_a_line_through_another_agents_console_ends_with_the_handover_note():
    shop = floor([NOW])
    shop.buyer_line(line("我要退款"), True, None, Recorder().suggest)
    effects = shop.buyer_line(
        line("还在吗", agent="bob", ts=NOW + 60), False, None, Recorder().suggest
    )
    handed = effects[-1]
    assert isinstance(handed, HandedOver)
    assert (handed.shop, handed.agent, handed.from_agent, handed.conversation) == (
        "shop1",
        "bob",
        "amy",
        "c1",
    )
    assert (
        handed.note == "tom买家，淘宝买家，因为「还在吗」，请同事回复买家（已等待 1 分钟），"
        "处理退款或售后（还剩 29 分钟），谢谢。"
    )


def test_a_round_abandoned_unanswered_comes_back_as_its_fine_not_as_a_tracker_effect():
    clock = [NOW]
    shop = floor(clock, Limits(60.0, 3600.0, 1000, 10_000))
    shop.buyer_line(line("在吗"), True, None, Recorder().suggest)
    clock[0] = NOW + 3601
    effects = shop.advance(clock[0])
    ledgers = [effect for effect in effects if isinstance(effect, LedgerChanged)]
    assert [ledger.items for ledger in ledgers] == [
        frozenset(
            {
                ("2026-11", "amy", "reply_over_2min"),
                ("2026-11", "amy", "reply_over_30min"),
                ("2026-11", "amy", "answer_over_5min"),
            }
        )
    ]
    assert shop.next_wake() is None or shop.next_wake() > clock[0]


def test_an_order_taken_opens_the_confirm_deadline_for_the_conversations_holder():
    shop = floor([NOW])
    shop.buyer_line(line("拍下了"), True, None, Recorder().suggest)
    event = OrderEvent("shop1", "o1", "tom", OrderStatus.CREATED, "c1", None, NOW)
    [opened, saved] = shop.order_taken(event, NOW)
    assert isinstance(opened, DeadlineChanged)
    assert (opened.agent, opened.clock) == (
        "amy",
        Clock("order_confirm", "c1", "amy", NOW, NOW + parse_deadlines(None)["order_confirm"]),
    )
    assert saved.clocks == {("order_confirm", "c1")}
