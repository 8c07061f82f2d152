"""The extension's pure pieces, run in Chromium without the extension: the panel-view reducer,
the router's trust boundary, the guard's rewrite and the reconnect delays."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page

from server.core.checker import load_rules
from server.protocol import check_result
from tests.extension.conftest import EXTENSION_DIR, ROOT

RULES = load_rules(ROOT / "phrases" / "banned")


def load(page: Page, *scripts: str) -> None:
    page.goto("about:blank")
    for script in scripts:
        page.add_script_tag(path=str(EXTENSION_DIR / script))


def reduce(page: Page, frames: list[dict[str, Any]], now: float = 1000.0) -> dict[str, Any]:
    return page.evaluate(
        """([frames, now]) => {
          const state = kefu.state.initialState();
          for (const frame of frames) kefu.state.applyFrame(state, frame, now);
          return state;
        }""",
        [frames, now],
    )


WELCOME = {
    "type": "welcome",
    "seq": 10,
    "session": "s1",
    "server_time": 1010.5,
    "platform": "taobao",
    "agent": "alice",
    "shop": "shop1",
    "library": "v1",
    "resumed": 0,
    "resync": False,
    "settings": {
        "timers": {"warn_s": 10, "due_s": 20, "overdue_s": 60, "follow_up_s": 900},
        "fail_closed": False,
        "check_timeout_ms": 300,
    },
}


def timer(seq: int, conversation: str, level: str) -> dict[str, Any]:
    return {
        "type": "timer",
        "seq": seq,
        "conversation": conversation,
        "buyer": "小鹿",
        "level": level,
        "waited_s": 12.0,
        "target_s": 20.0,
        "started_at": 998.0,
    }


def test_welcome_then_timers_build_the_waiting_list(plain_page: Page) -> None:
    load(plain_page, "background/state.js")
    state = reduce(
        plain_page,
        [WELCOME, timer(11, "c1", "warn"), timer(12, "c2", "due"), timer(13, "c1", "cleared")],
    )
    assert (state["status"], state["agent"], state["shop"], state["clockOffset"]) == (
        "connected",
        "alice",
        "shop1",
        10.5,
    )
    assert state["seq"] == 13
    assert state["conversations"] == {
        "c2": {
            "conversation": "c2",
            "buyer": "小鹿",
            "level": "due",
            "started_at": 998.0,
            "waited_s": 12.0,
            "target_s": 20.0,
        },
    }


def test_a_replayed_frame_is_not_applied_twice(plain_page: Page) -> None:
    load(plain_page, "background/state.js")
    state = reduce(
        plain_page,
        [WELCOME, timer(11, "c1", "warn"), timer(12, "c1", "cleared"), timer(11, "c1", "warn")],
    )
    assert state["conversations"] == {}
    assert state["seq"] == 12


def test_a_server_that_restarted_its_numbering_is_followed(plain_page: Page) -> None:
    load(plain_page, "background/state.js")
    restarted = {**WELCOME, "seq": 2}
    state = reduce(
        plain_page, [WELCOME, timer(50, "c1", "cleared"), restarted, timer(3, "c9", "warn")]
    )
    assert list(state["conversations"]) == ["c9"]
    assert state["seq"] == 3


def test_resync_drops_local_state_before_the_state_frame(plain_page: Page) -> None:
    load(plain_page, "background/state.js")
    nudge = {
        "type": "nudge",
        "seq": 12,
        "nudge": "n1",
        "order": "o1",
        "buyer": "阿杰",
        "attempt": 1,
        "due_at": 1000.0,
        "text": "亲，订单还没付款哦",
    }
    state_frame = {
        "type": "state",
        "seq": 21,
        "conversations": [],
        "nudges": [],
        "kpi": {"agent": "alice", "rounds": 3},
    }
    state = reduce(
        plain_page,
        [
            WELCOME,
            timer(11, "c1", "warn"),
            nudge,
            {**WELCOME, "seq": 20, "resync": True},
            state_frame,
        ],
    )
    assert (state["conversations"], state["nudges"], state["kpi"]) == (
        {},
        [],
        {"agent": "alice", "rounds": 3},
    )


def test_a_later_state_page_adds_to_the_first(plain_page: Page) -> None:
    load(plain_page, "background/state.js")
    first = {"type": "state", "seq": 11, "conversations": [timer(0, "c1", "warn")], "nudges": [],
             "kpi": {"rounds": 2}, "waiting_total": 2, "next": "998.0 c1"}  # fmt: skip
    page = {"type": "state", "seq": 12, "ref": "s2", "conversations": [timer(0, "c2", "due")],
            "nudges": [], "kpi": {"rounds": 2}, "waiting_total": 2, "next": None}  # fmt: skip
    state = reduce(plain_page, [WELCOME, first, page])
    assert sorted(state["conversations"]) == ["c1", "c2"]
    assert state["kpi"] == {"rounds": 2}


def test_nudges_are_kept_once_per_id(plain_page: Page) -> None:
    load(plain_page, "background/state.js")
    first = {
        "type": "nudge",
        "seq": 11,
        "nudge": "n1",
        "order": "o1",
        "buyer": "阿杰",
        "attempt": 1,
        "due_at": 1000.0,
        "text": "第一次",
    }
    state = reduce(
        plain_page, [WELCOME, first, {**first, "seq": 12, "attempt": 2, "text": "第二次"}]
    )
    assert state["nudges"] == [
        {
            "nudge": "n1",
            "order": "o1",
            "buyer": "阿杰",
            "attempt": 2,
            "due_at": 1000.0,
            "text": "第二次",
        },
    ]


def test_page_lines_start_and_end_a_local_clock(plain_page: Page) -> None:
    load(plain_page, "background/state.js")
    result = plain_page.evaluate(
        """() => {
          const state = kefu.state.initialState();
          state.clockOffset = 2;
          const seen = [];
          const line = (from, auto = false) =>
            ({conversation: "c1", buyer: "小鹿", from, text: "x", ts: 500, auto});
          kefu.state.applyLine(state, line("buyer"), 600);
          seen.push(JSON.stringify(state.conversations.c1));
          kefu.state.applyLine(state, line("agent", true), 601);  // an auto-reply is no answer
          seen.push(Boolean(state.conversations.c1));
          kefu.state.applyLine(state, line("agent"), 602);
          seen.push(Boolean(state.conversations.c1));
          return seen;
        }"""
    )
    assert result == [
        '{"conversation":"c1","buyer":"小鹿","level":"waiting","started_at":502,"waited_s":0,"target_s":null}',
        True,
        False,
    ]


def test_the_router_keeps_page_scripts_to_page_events(plain_page: Page) -> None:
    plain_page.goto("about:blank")
    plain_page.evaluate(
        """() => {
          const fromExtensionPage = (sender) => sender.url.startsWith("chrome-extension://me/");
          globalThis.kefu = {ext: {fromExtensionPage}};
        }"""
    )
    plain_page.add_script_tag(path=str(EXTENSION_DIR / "background" / "router.js"))
    answers = plain_page.evaluate(
        """async () => {
          const route = kefu.router.createRouter({
            pageHandlers: {line: (m) => ({ok: kefu.router.text(m, "text")})},
            panelHandlers: {nudge_ack: () => ({ok: true})},
          });
          const page = {id: "me", url: "https://mms.pinduoduo.com/chat-merchant/index.html"};
          const panel = {id: "me", url: "chrome-extension://me/panel/panel.html"};
          return [
            await route({kind: "line", text: "在吗"}, page),
            await route({kind: "nudge_ack", nudge: "n1"}, page),
            await route({kind: "line", text: "在吗"}, panel),
            await route({kind: "nudge_ack"}, panel),
            await route({kind: "line", text: ""}, page),
            await route({kind: "__proto__"}, page),
            await route(null, page),
          ];
        }"""
    )
    assert answers == [
        {"ok": "在吗"},
        {"error": "不允许的消息：'nudge_ack'"},
        {"error": "不允许的消息：'line'"},
        {"ok": True},
        {"error": "字段无效：'text'"},
        {"error": "不允许的消息：'__proto__'"},
        {"error": "不允许的消息：'null'"},
    ]


def test_rewrite_replaces_each_suggested_span_in_utf16_units(plain_page: Page) -> None:
    load(plain_page, "content/guard.js")
    text = "😀加我微信，保证最低价"
    violations = [
        {"start": 2, "end": 6, "suggestion": "在旺旺上联系我"},  # 加我微信, after a 2-unit emoji
        {"start": 9, "end": 12, "suggestion": "超值价"},  # 最低价
        {"start": 7, "end": 9, "suggestion": ""},  # 保证: advice only, left as it is
    ]
    assert plain_page.evaluate("([t, v]) => kefu.guard.rewrite(t, v)", [text, violations]) == (
        "😀在旺旺上联系我，保证超值价"
    )


def test_overlapping_spans_are_replaced_once(plain_page: Page) -> None:
    load(plain_page, "content/guard.js")
    violations = [
        {"start": 0, "end": 4, "suggestion": "甲"},
        {"start": 2, "end": 6, "suggestion": "乙"},
    ]
    assert (
        plain_page.evaluate("([t, v]) => kefu.guard.rewrite(t, v)", ["一二三四五六七", violations])
        == "一二乙七"
    )


@pytest.mark.parametrize(
    ("text", "rewritten"),
    [
        # Emoji before and between the matches: the server's offsets are the guard's units.
        ("😀这款缺货了😀不知道什么时候到", "😀这款断码了😀我帮您确认一下什么时候到"),
        # 微信 has no suggestion: it is left for the agent, the rest is still replaced.
        ("加我微信，这款缺货了", "加我微信，这款断码了"),
    ],
)
def test_rewrite_applies_the_checkers_own_violations(
    plain_page: Page, text: str, rewritten: str
) -> None:
    load(plain_page, "content/guard.js")
    violations = check_result(None, RULES.check(text))["violations"]
    assert plain_page.evaluate("([t, v]) => kefu.guard.rewrite(t, v)", [text, violations]) == (
        rewritten
    )


def test_reconnect_delays_grow_with_full_jitter_up_to_the_cap(plain_page: Page) -> None:
    load(plain_page, "background/socket.js")
    delays = plain_page.evaluate(
        """() => [0, 1, 2, 3, 4, 5, 10].map(
             (n) => [kefu.socket.retryDelay(n, () => 1), kefu.socket.retryDelay(n, () => 0.5)])"""
    )
    assert delays == [
        [500, 250],
        [1000, 500],
        [2000, 1000],
        [4000, 2000],
        [8000, 4000],
        [10000, 5000],
        [10000, 5000],
    ]


def deadline(seq: int, key: str, state: str, at: float) -> dict[str, Any]:
    return {"type": "deadline", "seq": seq, "kind": "refund", "key": key, "state": state,
            "started_at": 1000.0, "due_at": 2800.0, "at": at, "yuan": 30,
            "text": "30 分钟内处理退款或售后"}  # fmt: skip


def test_deadlines_and_the_months_fines_follow_their_frames(plain_page: Page) -> None:
    load(plain_page, "background/state.js")
    fines = {"type": "penalties", "seq": 30, "month": "2026-04", "agent": "alice", "yuan": 10,
             "points": 0, "items": [], "next": None, "text": "本月已罚 ¥10"}  # fmt: skip
    misses = [deadline(40 + n, f"m{n}", "missed", 2800.0 + n) for n in range(6)]
    state = reduce(
        plain_page,
        [
            WELCOME,
            deadline(11, "c1", "open", 1000.0),
            deadline(12, "c2", "open", 1000.0),
            deadline(13, "c1", "met", 1500.0),
            fines,
            *misses,
        ],
    )
    assert sorted(state["deadlines"]) == ["refund c2", *(f"refund m{n}" for n in range(1, 6))]
    assert state["deadlines"]["refund c2"]["state"] == "open"
    assert state["penalties"] == {k: v for k, v in fines.items() if k not in ("type", "seq")}
    # A resync forgets both; the state frame brings the month back.
    running = {
        k: v for k, v in deadline(0, "c3", "open", 1000.0).items() if k not in ("type", "seq")
    }
    state_frame = {"type": "state", "seq": 61, "conversations": [], "nudges": [], "kpi": None,
                   "penalties": {"month": "2026-04", "text": "本月已罚 ¥10"},
                   "deadlines": [running]}  # fmt: skip
    state = reduce(plain_page, [WELCOME, deadline(11, "c2", "open", 1000.0),
                                {**WELCOME, "seq": 60, "resync": True}, state_frame])  # fmt: skip
    assert (state["deadlines"], state["penalties"]["text"]) == (
        {"refund c3": running},
        "本月已罚 ¥10",
    )


def test_a_handover_note_stays_until_the_agent_answers_that_conversation(plain_page: Page) -> None:
    load(plain_page, "background/state.js")
    note = {"type": "handover", "seq": 11, "conversation": "c1", "buyer": "小鹿", "from": "bob",
            "text": "小鹿买家，淘宝买家，请同事继续跟进，谢谢。", "pending": []}  # fmt: skip
    state = plain_page.evaluate(
        """([welcome, note]) => {
          const state = kefu.state.initialState();
          kefu.state.applyFrame(state, welcome, 1000);
          kefu.state.applyFrame(state, note, 1000);
          const before = Object.keys(state.handovers);
          kefu.state.applyLine(state, {conversation: "c2", from: "agent", text: "好的"}, 1001);
          const other = Object.keys(state.handovers);
          kefu.state.applyLine(state, {conversation: "c1", from: "agent", text: "好的"}, 1002);
          return [before, other, Object.keys(state.handovers)];
        }""",
        [WELCOME, note],
    )
    assert state == [["c1"], ["c1"], []]
