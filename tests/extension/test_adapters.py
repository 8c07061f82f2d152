"""Every page adapter's selectors against its saved console fixture, run by the adapter's own
matching code inside Chromium, with exact expected counts and readings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.extension.conftest import EXTENSION_DIR

FIXTURES = Path(__file__).parent / "fixtures"
DEMO_PAGE = EXTENSION_DIR.parent / "server" / "runtime" / "static" / "demo" / "index.html"


def load_adapters(page: Page, url: str) -> None:
    page.goto(url)
    page.add_script_tag(path=str(EXTENSION_DIR / "lib" / "adapters.js"))


def counts(page: Page, adapter: str) -> dict[str, int]:
    return page.evaluate(
        """id => kefu.adapters.countMatches(
             kefu.adapters.DEFAULTS.find(a => a.id === id).selectors, document)""",
        adapter,
    )


def snapshot(page: Page, adapter: str) -> dict[str, Any]:
    return page.evaluate(
        "id => kefu.adapters.snapshot(kefu.adapters.DEFAULTS.find(a => a.id === id), document)",
        adapter,
    )


def test_qianniu_selectors_match_the_fixture(plain_page: Page) -> None:
    load_adapters(plain_page, (FIXTURES / "qianniu.html").as_uri())
    assert counts(plain_page, "qianniu") == {
        "messageList": 1,
        "buyerLine": 3,
        "agentLine": 2,
        "autoReply": 1,
        "input": 1,
        "sendButton": 1,
        "orderCard": 2,
    }
    assert snapshot(plain_page, "qianniu") == {
        "platform": "taobao",
        "conversation": "tb_lucy2021",
        "buyer": "tb_lucy2021",
        "lines": [
            {
                "key": "tb_lucy2021|m1001",
                "conversation": "tb_lucy2021",
                "buyer": "tb_lucy2021",
                "from": "buyer",
                "text": "在吗？这款有S码吗",
                "ts": None,
                "auto": False,
            },
            {
                "key": "tb_lucy2021|m1002",
                "conversation": "tb_lucy2021",
                "buyer": "tb_lucy2021",
                "from": "agent",
                "text": "您好，欢迎光临本店，客服马上为您服务~",
                "ts": None,
                "auto": True,
            },
            {
                "key": "tb_lucy2021|m1003",
                "conversation": "tb_lucy2021",
                "buyer": "tb_lucy2021",
                "from": "agent",
                "text": "亲，S码有货的，库存充足",
                "ts": None,
                "auto": False,
            },
            {
                "key": "tb_lucy2021|m1004",
                "conversation": "tb_lucy2021",
                "buyer": "tb_lucy2021",
                "from": "buyer",
                "text": "好的，那我拍了",
                "ts": None,
                "auto": False,
            },
        ],
        "orders": [
            {
                "order": "3012345678901234",
                "status": "created",
                "amount": "129.00",
                "buyer": "tb_lucy2021",
                "conversation": "tb_lucy2021",
            },
            {
                "order": "3012345678900001",
                "status": "paid",
                "amount": "1059.90",
                "buyer": "tb_lucy2021",
                "conversation": "tb_lucy2021",
            },
        ],
    }


def test_dongdong_selectors_match_the_fixture(plain_page: Page) -> None:
    load_adapters(plain_page, (FIXTURES / "dongdong.html").as_uri())
    assert counts(plain_page, "dongdong") == {
        "messageList": 1,
        "buyerLine": 2,
        "agentLine": 2,
        "autoReply": 1,
        "input": 1,
        "sendButton": 1,
        "orderCard": 3,
    }
    page = snapshot(plain_page, "dongdong")
    assert (page["platform"], page["conversation"], page["buyer"]) == (
        "jd",
        "jd_buyer_8848",
        "jd_buyer_8848",
    )
    assert [(line["from"], line["text"], line["ts"], line["auto"]) for line in page["lines"]] == [
        ("buyer", "请问今天下单什么时候发货？", 1732260000, False),
        ("agent", "您好，京东客服很高兴为您服务", 1732260001, True),
        ("agent", "您好，今天16点前下单当天发货", 1732260020, False),
        ("buyer", "能开发票吗", 1732260050, False),
    ]
    # The finished order (已完成) has no protocol status and is not reported.
    assert page["orders"] == [
        {
            "order": "281234567890",
            "status": "created",
            "amount": "1299.00",
            "buyer": "jd_buyer_8848",
            "conversation": "jd_buyer_8848",
        },
        {
            "order": "281234567891",
            "status": "closed",
            "amount": "89.00",
            "buyer": "jd_buyer_8848",
            "conversation": "jd_buyer_8848",
        },
    ]


def test_pdd_selectors_match_the_fixture(plain_page: Page) -> None:
    load_adapters(plain_page, (FIXTURES / "pdd.html").as_uri())
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
        "pdd_u_5566",
        "拼友5566",
    )
    assert [(line["key"], line["from"], line["auto"]) for line in page["lines"]] == [
        ("pdd_u_5566|a1", "buyer", False),
        ("pdd_u_5566|a2", "agent", True),
        ("pdd_u_5566|a3", "agent", False),
    ]
    assert page["orders"] == [
        {
            "order": "241122-123456789012345",
            "status": "created",
            "amount": "39.90",
            "buyer": "拼友5566",
            "conversation": "pdd_u_5566",
        },
    ]


def test_demo_selectors_follow_the_demo_console(plain_page: Page) -> None:
    load_adapters(plain_page, DEMO_PAGE.as_uri() + "?platform=jd")
    empty = counts(plain_page, "demo")
    assert empty == {
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

    assert counts(plain_page, "demo") == {
        "messageList": 1,
        "buyerLine": 2,
        "agentLine": 1,
        "autoReply": 0,
        "input": 1,
        "sendButton": 1,
        "orderCard": 1,
    }
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
    # Only the open conversation's lines are shown; the other buyer's waits behind an unread badge.
    expect(plain_page.get_by_role("log").locator(".line:visible .text")).to_have_text(
        ["你好，在吗？", "在的，亲"]
    )
    expect(
        plain_page.locator('.conversation[data-conversation="demo-jd-c2"] .unread')
    ).to_have_text("2")


@pytest.mark.parametrize("adapter", ["demo", "qianniu", "dongdong", "pdd"])
def test_default_selector_sets_are_valid(plain_page: Page, adapter: str) -> None:
    load_adapters(plain_page, "about:blank")
    problems = plain_page.evaluate(
        "id => kefu.adapters.validate(kefu.adapters.DEFAULTS.find(a => a.id === id).selectors)",
        adapter,
    )
    assert problems == []


def test_validation_names_each_problem(plain_page: Page) -> None:
    load_adapters(plain_page, "about:blank")
    problems = plain_page.evaluate(
        """() => {
          const selectors = {...kefu.adapters.DEFAULTS[0].selectors};
          delete selectors.input;
          selectors.buyerLine = "li[[";
          selectors.colour = "red";
          selectors.orderId = {sel: ".id", re: "(", nth: "1"};
          return kefu.adapters.validate(selectors);
        }"""
    )
    assert problems == [
        "未知字段：'colour'",
        "缺少必填字段：'input'",
        "无效的选择器：'li[['",
        "orderId 含未知字段：'nth'",
        "无效的正则表达式：'('",
    ]
    assert plain_page.evaluate("() => kefu.adapters.validate([])") == ["选择器配置必须是 JSON 对象"]
