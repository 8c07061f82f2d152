"""The bundled adapter sets (extension/adapters/*.json) against the rebuilt console fixtures, run
by the adapter's own reading code inside Chromium, with exact expected counts and readings; and
the layering of served sets and overrides, and the console time formats."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.extension.conftest import EXTENSION_DIR, FIXTURES

DEMO_PAGE = EXTENSION_DIR.parent / "server" / "runtime" / "static" / "demo" / "index.html"
BUNDLED = {
    path.stem: json.loads(path.read_text("utf-8"))
    for path in (EXTENSION_DIR / "adapters").glob("*.json")
}


def load_adapters(page: Page, url: str) -> None:
    page.goto(url)
    page.add_script_tag(path=str(EXTENSION_DIR / "lib" / "adapters.js"))


def counts(page: Page, adapter: str) -> dict[str, int]:
    return page.evaluate("a => kefu.adapters.countMatches(a.selectors, document)", BUNDLED[adapter])


def snapshot(page: Page, adapter: str) -> dict[str, Any]:
    return page.evaluate("a => kefu.adapters.snapshot(a, document)", BUNDLED[adapter])


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_pdd_selectors_read_the_rebuilt_console(plain_page: Page) -> None:
    load_adapters(plain_page, (FIXTURES / "pdd.html").as_uri())
    expect(plain_page.locator("#msgListContainer li.onemsg")).to_have_count(3)  # mounted late
    plain_page.evaluate(
        """() => fixture.buyerSays("", {name: "不锈钢保温杯 500ml", order: "261130-583920174655",
                                       status: "待支付", amount: "39.90", free: true})"""
    )
    assert counts(plain_page, "pdd") == {
        "messageList": 1,
        "buyerLine": 2,
        "agentLine": 2,
        "autoReply": 1,
        "input": 1,
        "sendButton": 1,
        "orderCard": 1,
    }
    page = snapshot(plain_page, "pdd")
    assert (page["platform"], page["conversation"], page["buyer"]) == (
        "pdd",
        "5102938475610",
        "拼友小雨",
    )
    ids = plain_page.evaluate(
        "() => [...document.querySelectorAll('li.onemsg')].map(li => li.id.split('_').pop())"
    )
    assert [(line["key"], line["from"], line["text"], line["auto"]) for line in page["lines"]] == [
        (f"pdd|{ids[0]}", "buyer", "这款保温杯能装开水吗", False),
        (f"pdd|{ids[1]}", "agent", "亲，机器人小助手为您服务，请稍等哦", True),
        (f"pdd|{ids[2]}", "agent", "可以的亲，304不锈钢内胆", False),
    ]
    # "2026年09月08日 17:12:14" (Asia/Shanghai, whole seconds) against the row's millisecond id.
    for line, row in zip(page["lines"], ids, strict=False):
        assert int(row) / 1000 - 1 < line["ts"] <= int(row) / 1000
    assert {line["conversation"] for line in page["lines"]} == {"5102938475610"}
    assert page["orders"] == [
        {
            "order": "261130-583920174655",
            "status": "created",
            "amount": "39.90",
            "free_shipping": True,
            "buyer": "拼友小雨",
            "conversation": "5102938475610",
        }
    ]


def test_dongdong_selectors_read_the_shown_pane_only(plain_page: Page) -> None:
    load_adapters(plain_page, (FIXTURES / "dongdong.html").as_uri())
    assert counts(plain_page, "dongdong") == {
        "messageList": 1,
        "buyerLine": 1,
        "agentLine": 1,
        "autoReply": 0,
        "input": 1,
        "sendButton": 1,
        "orderCard": 0,
    }
    page = snapshot(plain_page, "dongdong")
    assert (page["platform"], page["conversation"], page["buyer"]) == ("jd", "jd_lanlan", "兰兰")
    assert [(line["from"], line["text"]) for line in page["lines"]] == [
        ("buyer", "空调包安装吗"),
        ("agent", "包安装的，亲"),
    ]
    assert all(line["key"].startswith("dongdong|s_") for line in page["lines"])

    plain_page.evaluate("() => fixture.switchTo('jd_dawei88')")
    expect(plain_page.locator(".chat-pane:not([hidden])")).to_have_attribute(
        "data-pin", "jd_dawei88"
    )
    # Two panes in the DOM, both with #t-chat-scroll: the shown one is read.
    assert counts(plain_page, "dongdong")["messageList"] == 2
    page = snapshot(plain_page, "dongdong")
    assert (page["conversation"], page["buyer"]) == ("jd_dawei88", "大伟")
    assert [line["text"] for line in page["lines"]] == ["能开专票吗", "可以，下单时选择增值税发票"]


def test_demo_selectors_follow_the_demo_console(plain_page: Page) -> None:
    load_adapters(plain_page, DEMO_PAGE.as_uri() + "?platform=jd")
    assert counts(plain_page, "demo") == {
        "messageList": 1,
        "buyerLine": 0,
        "agentLine": 0,
        "autoReply": 0,
        "input": 1,
        "sendButton": 1,
        "orderCard": 0,
    }

    plain_page.locator("textarea[name=buyer-input]").fill("你好，在吗？")
    plain_page.locator("textarea[name=buyer-input]").press("Enter")
    plain_page.locator("select[name=buyer]").select_option(label="阿杰")
    plain_page.locator("textarea[name=buyer-input]").fill("这个有货吗")
    plain_page.locator("textarea[name=buyer-input] + button").click()
    plain_page.locator("button[name=place-order]").click()
    plain_page.locator("textarea[name=agent-input]").fill("在的，亲")
    plain_page.locator("textarea[name=agent-input]").press("Enter")
    plain_page.get_by_role("button", name="付款", exact=True).click()

    page = snapshot(plain_page, "demo")
    assert (page["platform"], page["conversation"], page["buyer"]) == (
        "jd",
        "demo-jd-c1",
        "小鹿爱买买",
    )
    assert [
        (line["conversation"], line["buyer"], line["from"], line["text"]) for line in page["lines"]
    ] == [
        ("demo-jd-c1", "小鹿爱买买", "buyer", "你好，在吗？"),
        ("demo-jd-c2", "阿杰", "buyer", "这个有货吗"),
        ("demo-jd-c1", "小鹿爱买买", "agent", "在的，亲"),
    ]
    assert all(isinstance(line["ts"], float) for line in page["lines"])
    [order] = page["orders"]
    assert (order["status"], order["buyer"], order["conversation"]) == (
        "paid",
        "阿杰",
        "demo-jd-c2",
    )


@pytest.mark.parametrize("adapter", sorted(BUNDLED))
def test_bundled_sets_are_valid(plain_page: Page, adapter: str) -> None:
    load_adapters(plain_page, "about:blank")
    assert plain_page.evaluate("a => kefu.adapters.validateAdapter(a)", BUNDLED[adapter]) == []


def test_qianniu_is_experimental_and_off_unless_enabled(plain_page: Page) -> None:
    load_adapters(plain_page, "about:blank")
    where = {"hostname": "qn.taobao.com", "pathname": "/home.htm"}
    pick = "([all, where]) => (kefu.adapters.pick(all, where) || {}).id || null"
    assert BUNDLED["qianniu"]["experimental"] is True
    assert plain_page.evaluate(pick, [list(BUNDLED.values()), where]) is None
    enabled = plain_page.evaluate(
        "([b, s]) => kefu.adapters.compose(b, s, {}).adapters",
        [list(BUNDLED.values()), [{"id": "qianniu", "enabled": True}]],
    )
    assert plain_page.evaluate(pick, [enabled, where]) == "qianniu"


def test_a_served_set_is_laid_over_the_bundled_one_and_an_invalid_one_is_ignored(
    plain_page: Page,
) -> None:
    load_adapters(plain_page, "about:blank")
    compose = """([b, s, o]) => {
      const {adapters, problems} = kefu.adapters.compose(b, s, o);
      const pdd = adapters.find(a => a.id === 'pdd');
      return {input: pdd.selectors.input, send: pdd.selectors.sendButton, problems};
    }"""
    bundled = list(BUNDLED.values())
    served = [{"id": "pdd", "selectors": {"input": ["textarea.reply-input"]}}]
    assert plain_page.evaluate(compose, [bundled, served, {}]) == {
        "input": ["textarea.reply-input"],
        "send": BUNDLED["pdd"]["selectors"]["sendButton"],
        "problems": [],
    }
    # The options' override goes on top of the served set.
    override = {"pdd": {**BUNDLED["pdd"]["selectors"], "sendButton": "div.send"}}
    assert plain_page.evaluate(compose, [bundled, served, override])["send"] == "div.send"
    broken = [{"id": "pdd", "selectors": {"input": ["textarea[["]}}]
    assert plain_page.evaluate(compose, [bundled, broken, {}]) == {
        "input": BUNDLED["pdd"]["selectors"]["input"],
        "send": BUNDLED["pdd"]["selectors"]["sendButton"],
        "problems": [{"layer": "served", "errors": ["pdd: 无效的选择器：'textarea[['"]}],
    }


@pytest.mark.parametrize(
    ("text", "now", "expected"),
    [
        ("2026年09月08日 17:12:14", "2026-12-01T00:00:00", "2026-09-08T09:12:14"),
        ("2026-09-08 17:12", "2026-12-01T00:00:00", "2026-09-08T09:12:00"),
        ("06-12 19:31:56", "2026-12-01T00:00:00", "2026-06-12T11:31:56"),
        # No year, and this year's date lies ahead: last year's.
        ("12-30 23:00:00", "2026-01-05T00:00:00", "2025-12-30T15:00:00"),
        # Just past midnight in Shanghai (16:30 UTC), a time of 00:10 is today's, 23:50 yesterday's.
        ("00:10:00", "2026-03-01T16:30:00", "2026-03-01T16:10:00"),
        ("23:50:00", "2026-03-01T16:30:00", "2026-03-01T15:50:00"),
        ("1788858534944", "2026-12-01T00:00:00", "2026-09-08T09:08:54.944"),
    ],
)
def test_console_times_are_read_in_asia_shanghai(
    plain_page: Page, text: str, now: str, expected: str
) -> None:
    load_adapters(plain_page, "about:blank")
    parsed = plain_page.evaluate("([t, n]) => kefu.adapters.parseTime(t, n)", [text, epoch(now)])
    assert parsed == pytest.approx(epoch(expected))


def test_validation_names_each_problem(plain_page: Page) -> None:
    load_adapters(plain_page, "about:blank")
    selectors = {**BUNDLED["demo"]["selectors"]}
    del selectors["input"]
    selectors.update(buyerLine=["li.buyer", "li[["], colour="red")
    selectors["orderId"] = {"sel": ".id", "re": "(", "nth": "1"}
    assert plain_page.evaluate("s => kefu.adapters.validate(s)", selectors) == [
        "未知字段：'colour'",
        "缺少必填字段：'input'",
        "无效的选择器：'li[['",
        "orderId 含未知字段：'nth'",
        "无效的正则表达式：'('",
    ]
    assert plain_page.evaluate("() => kefu.adapters.validate([])") == ["选择器配置必须是 JSON 对象"]


def test_the_health_check_names_what_matches_nothing(plain_page: Page) -> None:
    load_adapters(plain_page, (FIXTURES / "pdd.html").as_uri())
    expect(plain_page.locator("#msgListContainer li.onemsg")).to_have_count(3)
    missing = "a => kefu.adapters.missing(a, document)"
    assert plain_page.evaluate(missing, BUNDLED["pdd"]) == []
    lines_renamed = {**BUNDLED["pdd"], "selectors": {
        **BUNDLED["pdd"]["selectors"], "buyerLine": "li.row-buyer", "agentLine": "li.row-agent",
    }}  # fmt: skip
    assert plain_page.evaluate(missing, lines_renamed) == ["lines"]
    # A list with only a notice row is a new conversation, not a broken line selector.
    plain_page.evaluate(
        "() => document.querySelector('ul.msg-list').replaceChildren(document.createElement('li'))"
    )
    assert plain_page.evaluate(missing, lines_renamed) == []
    plain_page.evaluate("() => fixture.renameInput()")
    assert plain_page.evaluate(missing, BUNDLED["pdd"]) == ["input"]


# The content script on the rebuilt PDD page in a plain browser, its chrome.* wrapper stubbed:
# the adapter is the bundled one, made to match the file:// page.
CONTENT_STUB = """
globalThis.kefu = {
  sent: [],
  ext: {
    alive: () => true,
    onMessage() {},
    local: { watch() {} },
    async send(message) {
      kefu.sent.push(message);
      if (message.kind !== "adapter_sets") return { ok: true };
      return { builtin: [{ ...ADAPTER, hosts: [""], pathPrefix: "/" }], served: [], overrides: {} };
    },
  },
  settings: { load: async () => ({ failClosed: false }) },
};
"""


def test_countdowns_and_switch_attributes_do_not_make_the_content_script_rescan(
    plain_page: Page,
) -> None:
    plain_page.goto((FIXTURES / "pdd.html").as_uri())
    plain_page.add_script_tag(
        content=f"const ADAPTER = {json.dumps(BUNDLED['pdd'])};{CONTENT_STUB}"
    )
    for script in ("lib/adapters.js", "content/guard.js"):
        plain_page.add_script_tag(path=str(EXTENSION_DIR / script))
    plain_page.evaluate(
        """() => { const read = kefu.adapters.lineElements; kefu.scans = 0;
                   kefu.adapters.lineElements = (...args) => (kefu.scans++, read(...args)); }"""
    )
    plain_page.add_script_tag(path=str(EXTENSION_DIR / "content" / "page.js"))
    lines = "n => kefu.sent.filter(m => m.kind === 'line').length === n"
    plain_page.wait_for_function(lines, arg=3)
    before = plain_page.evaluate("() => kefu.scans")

    for tick in range(30):  # what the console's per-second countdowns do to the session list
        plain_page.evaluate(
            """tick => { for (const box of document.querySelectorAll('.chat-item-box')) {
                 box.querySelector('.chat-unreply-time').textContent = `${tick}秒未回复`;
                 box.classList.toggle('is-urgent', tick % 2 === 0); } }""",
            tick,
        )
    plain_page.evaluate("() => fixture.buyerSays('还在吗')")
    plain_page.wait_for_function(lines, arg=4)

    # One read of the list, for the new line; none for the thirty countdown changes.
    assert plain_page.evaluate("() => kefu.scans") - before == 1
