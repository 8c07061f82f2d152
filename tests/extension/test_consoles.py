"""The extension on the real consoles' addresses: JD 咚咚 and 拼多多, rebuilt from their public page
structure (fixtures/README.md) and served through request interception, so the manifest's
content scripts run on dongdong.jd.com and mms.pinduoduo.com with no network involved.

Everything the page does (buyer lines, robot replies, history on scroll-up, conversation
switches, markup changes) is done by the fixture's own page script, as the console would.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import expect

from server.runtime.adapters import load
from tests.extension.conftest import Console, Consoles
from tests.extension.kefu_process import SUPERVISOR_TOKEN

BLOCKED_DRAFT = "亲，加我微信聊吧"  # offsite: blocked, no replacement
REWRITABLE_DRAFT = "这款销量第一，放心拍"  # ad_law: blocked, rewritten to 这款热销，放心拍
CLEAN_REPLY = "好的亲，马上为您安排发货"
BLOCKED_TITLE = "发送已拦截：请修改标出的内容"
# Lines each fixture shows when it loads (its first conversation) and in its other conversation.
HISTORY = {"pdd": (3, 2), "jd": (2, 2)}
BOTH = pytest.mark.parametrize("name", ["pdd", "jd"])


def base_url(consoles: Consoles) -> str:
    return consoles.kefu.http_url.rstrip("/")


def metrics(consoles: Consoles) -> str:
    with urllib.request.urlopen(f"{base_url(consoles)}/metrics", timeout=5) as response:
        return response.read().decode()


def frames_in(consoles: Consoles, kind: str) -> int:
    """How many client frames of this type the server has received (its /metrics)."""
    found = re.search(rf'^kefu_frames_in_total{{type="{kind}"}} (\S+)$', metrics(consoles), re.M)
    return int(float(found.group(1))) if found else 0


def eventually(probe: Callable[[], object], expected: object, within_s: float = 10.0) -> None:
    """Waits until probe() equals expected (polling a condition, as expect() does)."""
    deadline = time.monotonic() + within_s
    while (value := probe()) != expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"{value!r} != {expected!r} after {within_s} s")
        time.sleep(0.05)


def serve_adapter_fix(
    consoles: Consoles, console: Console, adapter: str, **selectors: object
) -> None:
    """Edits the server's adapters directory, as a shop fixing a selector would, and waits until
    the open console page runs on the new set (no extension reload, no page reload)."""
    directory = consoles.kefu.workdir / "adapters"
    path = directory / f"{adapter}.json"
    entry = json.loads(path.read_text(encoding="utf-8"))
    entry["selectors"].update(selectors)
    path.write_text(json.dumps(entry, ensure_ascii=False), encoding="utf-8")
    version = load(Path(directory)).version
    expect(console.page.locator("html")).to_have_attribute("data-kefu-adapters", version)


@BOTH
def test_a_buyer_line_starts_a_clock_and_no_line_is_reported_twice(
    consoles: Consoles, name: str
) -> None:
    console = consoles.open(name)
    first, other = HISTORY[name]
    eventually(lambda: frames_in(consoles, "message"), first)

    console.call("buyerSays", "请问今天能发货吗")
    clock = consoles.conversation_in_panel(console.kind.first)
    expect(clock).to_have_attribute("data-level", "warn")

    # Older lines shown on scroll-up are history, not new messages.
    console.call("prependHistory", ["之前问过的尺码问题", "之前的回答"])
    # Another conversation and back: its lines are its own, ours are not reported again.
    console.call("switchTo", console.kind.other)
    eventually(lambda: frames_in(consoles, "message"), first + 1 + other)
    console.call("switchTo", console.kind.first)
    expect(console.page.locator(console.kind.buyer_line).last).to_contain_text("请问今天能发货吗")

    console.input.fill(CLEAN_REPLY)
    console.input.press("Enter")
    expect(clock).to_have_count(0)
    eventually(lambda: frames_in(consoles, "message"), first + 1 + other + 1)
    # A line of the first conversation read under the second one's header would have opened a
    # clock for the second.
    expect(consoles.conversation_in_panel(console.kind.other)).to_have_count(0)


@BOTH
def test_a_robot_reply_does_not_answer_the_round(consoles: Consoles, name: str) -> None:
    console = consoles.open(name)
    if name == "jd":
        # JD marks no robot line that public code knows of: the shop names its own marker.
        serve_adapter_fix(
            consoles, console, "dongdong", autoReply=[".message:has(.message__robot-tag)"]
        )
    console.call("buyerSays", "在吗")
    clock = consoles.conversation_in_panel(console.kind.first)
    expect(clock).to_have_attribute("data-level", "warn")

    console.call("robotSays", "您好，客服马上就来")
    expect(clock).to_have_attribute("data-level", "due")  # still waiting for a person (6 s)

    console.input.fill(CLEAN_REPLY)
    console.input.press("Enter")
    expect(clock).to_have_count(0)


@BOTH
def test_a_banned_draft_is_stopped_on_enter_and_on_the_send_control(
    consoles: Consoles, name: str
) -> None:
    console = consoles.open(name)
    sent = console.agent_lines().count()

    console.input.fill(BLOCKED_DRAFT)
    console.input.press("Enter")
    expect(console.guard_notice().locator(".title")).to_have_text(BLOCKED_TITLE)
    console.page.locator(".send-btn, .send-button").click()
    expect(console.guard_notice().locator(".title")).to_have_text(BLOCKED_TITLE)

    expect(console.agent_lines()).to_have_count(sent)
    assert console.draft() == BLOCKED_DRAFT


@BOTH
def test_a_clean_reply_goes_out_by_key_and_by_the_send_control(
    consoles: Consoles, name: str
) -> None:
    console = consoles.open(name)
    console.input.fill(CLEAN_REPLY)
    console.input.press("Enter")
    expect(console.agent_lines().last).to_have_text(CLEAN_REPLY)

    console.input.fill("亲，已经为您备注了")
    console.page.locator(".send-btn, .send-button").click()
    expect(console.agent_lines().last).to_have_text("亲，已经为您备注了")
    assert console.draft() == ""
    expect(console.guard_notice()).to_be_hidden()


@BOTH
def test_ctrl_enter_mode_guards_ctrl_enter_and_leaves_enter_to_the_editor(
    consoles: Consoles, name: str
) -> None:
    console = consoles.open(name)
    console.call("sendKey", "ctrl")
    if name == "pdd":
        # No send-key menu is known on PDD: a shop that sends with Ctrl+Enter says so in its set.
        serve_adapter_fix(consoles, console, "pdd", sendKeyMode={"value": "ctrl"})
    sent = console.agent_lines().count()

    console.input.fill(BLOCKED_DRAFT)
    console.input.press("Control+Enter")
    expect(console.guard_notice().locator(".title")).to_have_text(BLOCKED_TITLE)
    expect(console.agent_lines()).to_have_count(sent)

    console.input.fill(CLEAN_REPLY)
    console.input.press("Enter")  # a new line in this mode: neither sent nor held
    expect(console.guard_notice()).to_be_hidden()
    assert console.draft().startswith(CLEAN_REPLY)
    expect(console.agent_lines()).to_have_count(sent)
    console.input.fill(CLEAN_REPLY)
    console.input.press("Control+Enter")
    expect(console.agent_lines().last).to_have_text(CLEAN_REPLY)


def test_the_rewrite_works_in_the_contenteditable_input(consoles: Consoles) -> None:
    console = consoles.open("jd")
    console.input.press_sequentially(REWRITABLE_DRAFT)
    # Underlined in place: a highlight over the editor's own text.
    eventually(
        lambda: console.page.evaluate(
            "() => (CSS.highlights.get('kefu-assist-block') || new Set()).size"
        ),
        1,
    )
    console.input.press("Enter")
    notice = console.guard_notice()
    expect(notice.locator(".title")).to_have_text(BLOCKED_TITLE)

    notice.get_by_role("button", name="一键改写并发送").click()

    expect(console.agent_lines().last).to_have_text("这款热销，放心拍")
    assert console.draft() == ""
    expect(notice).to_be_hidden()


@BOTH
def test_the_guard_survives_the_console_rerendering_its_input(
    consoles: Consoles, name: str
) -> None:
    console = consoles.open(name)
    console.call("rerenderInput")
    console.input.fill(BLOCKED_DRAFT)
    console.input.press("Enter")
    expect(console.guard_notice().locator(".title")).to_have_text(BLOCKED_TITLE)


def test_a_broken_selector_shows_adapter_failure_and_a_served_fix_restores_it(
    consoles: Consoles,
) -> None:
    console = consoles.open("pdd")
    dashboard = consoles.context.new_page()
    dashboard.goto(f"{base_url(consoles)}/dashboard?token={SUPERVISOR_TOKEN}")
    expect(dashboard.locator("#conn")).to_have_text("实时")

    console.call("renameInput")  # a console update: no candidate finds the input any more

    banner = consoles.panel.locator("#adapter-health")
    expect(banner).to_contain_text("适配失效：input", timeout=5000)
    row = dashboard.locator('#adapters tr[data-adapter="pdd"]')
    expect(row.locator(".keys")).to_have_text("适配失效：input", timeout=5000)
    assert 'kefu_adapter_broken{adapter="pdd",key="input"} 1.0' in metrics(consoles)

    # A guard that cannot find its input never holds the send control.
    renamed = console.page.locator("#replyInput")
    renamed.fill("亲，在的")
    console.page.locator(".send-btn").click()
    expect(console.agent_lines().last).to_have_text("亲，在的")

    serve_adapter_fix(
        consoles, console, "pdd", input=["textarea#replyInput", "textarea#replyTextarea"]
    )
    expect(banner).to_be_hidden(timeout=5000)
    expect(row).to_have_count(0, timeout=5000)
    renamed.fill(BLOCKED_DRAFT)
    renamed.press("Enter")
    expect(console.guard_notice().locator(".title")).to_have_text(BLOCKED_TITLE)


def test_a_goods_card_reports_the_order_and_sets_the_check_context(consoles: Consoles) -> None:
    console = consoles.open("pdd")
    card = {"name": "不锈钢保温杯 500ml", "order": "261130-583920174655", "status": "待支付",
            "amount": "39.90", "free": True}  # fmt: skip
    console.call("buyerSays", "", card)

    # An unpaid order: the server's first nudge comes 2 s later (the test configuration).
    nudge = consoles.panel.locator('#nudges li[data-order="261130-583920174655"]')
    expect(nudge.locator(".what")).to_contain_text("拼友小雨 · 订单 261130-583920174655 · ¥39.90")

    # The card says 包邮: telling this buyer to pay the postage breaks the listing's promise.
    console.input.fill("这个不包邮哦，运费需要您出")
    console.input.press("Enter")
    expect(console.guard_notice().locator("li")).to_contain_text(["「不包邮」"])
