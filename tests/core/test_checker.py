"""Exact outputs of the wording checker with the shipped rule packs."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.core.checker import CheckContext, RuleSet, Violation, load_rules
from server.core.checker.offsets import astral_positions, utf16_index
from server.errors import BadValue

ROOT = Path(__file__).resolve().parents[2]
TAOBAO = CheckContext()
TMALL = CheckContext(platform="tmall")


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load_rules(ROOT / "phrases" / "banned")


def found(rules: RuleSet, text: str, context: CheckContext = TAOBAO) -> list[tuple]:
    """(rule, start, end, match, suggestion) of each violation, in the checker's order."""
    return [(v.rule, v.start, v.end, v.match, v.suggestion) for v in rules.check(text, context)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Offsets are UTF-16 units: the emoji before the match counts twice.
        ("亲😀加我微信", [("offsite.wechat", 5, 7, "微信", None)]),
        ("😀看 www.abc.top", [("offsite.link", 4, 15, "www.abc.top", None)]),
        # Symbols, spaces and emoji inserted between characters stay inside the highlight.
        ("亲，加我 微 信 吧", [("offsite.wechat", 5, 8, "微 信", None)]),
        ("亲，加我微-信吧", [("offsite.wechat", 4, 7, "微-信", None)]),
        (
            "微😀信联系",
            [("terse.short", 0, 6, "微😀信联系", None), ("offsite.wechat", 0, 4, "微😀信", None)],
        ),
        # Traditional characters, full-width letters, Chinese numerals.
        ("購買後加我微信號", [("offsite.wechat", 5, 7, "微信", None)]),
        ("加我ＶＸ：kefu888", [("offsite.wechat", 0, 4, "加我ＶＸ", None)]),
        ("這是全網最低價喔", [("ad_law.superlative", 2, 7, "全網最低價", "超值价")]),
        (
            "他电话一三八一二三四五六七八",
            [("privacy.mobile", 3, 14, "一三八一二三四五六七八", None)],
        ),
        ("您的手機號碼是13812345678", [("privacy.mobile", 7, 18, "13812345678", None)]),
        (
            "我的电话是13812345678",
            [("offsite.phone_contact", 0, 16, "我的电话是13812345678", None)],
        ),
        ("访问 http://abc.xyz/x 看看", [("offsite.link", 3, 19, "http://abc.xyz/x", None)]),
        (
            "收件人身份证110101199003074518",
            [("privacy.id_card", 6, 24, "110101199003074518", None)],
        ),
        ("加我微信转账给我就行", [("offsite.payment", 2, 8, "微信转账给我", None)]),
        # The sum is part of the highlight (a review, then money within a clause).
        ("亲，好评返现5元哦", [("cashback.review_reward", 2, 8, "好评返现5元", None)]),
        # A composition highlights from the first cue to the last: the review and the reward.
        ("亲，给个好评，返您现金", [("cashback.review_reward", 4, 11, "好评，返您现金", None)]),
        ("亲，你是sb吗", [("rude.insult", 4, 6, "sb", None)]),
        # The seed's rewrites.
        (
            "亲，这款缺货了，不能便宜",
            [
                ("dismissive.out_of_stock", 4, 6, "缺货", "断码"),
                ("dismissive.refuse", 8, 12, "不能便宜", "实在无法再低了"),
            ],
        ),
        ("这个我不知道呢亲", [("dismissive.dont_know", 3, 6, "不知道", "我帮您确认一下")]),
        ("我保证明天发货", [("absolute.promise", 1, 3, "保证", "尽量")]),
        # Terse: fewer than five characters, or nothing but particles.
        ("嗯嗯", [("terse.particle", 0, 2, "嗯嗯", "好的亲，明白了~")]),
        ("好的", [("terse.short", 0, 2, "好的", None)]),
        ("嗯嗯亲", [("terse.short", 0, 3, "嗯嗯亲", None)]),
        ("", []),
        ("😊", []),
    ],
)
def test_violations(rules: RuleSet, text: str, expected: list[tuple]) -> None:
    assert found(rules, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "开店需要缴纳保证金，我们是正规店铺。",  # 保证金 is not a promise
        "亲，不支持微信支付哦，可以用支付宝。",
        "这款是USB充电的，充一次可以用一周。",  # not the insult "sb"
        "20日你看可以收到吗？我们19日发货。",  # a date, not "日你"
        "您的快递单号是1234567890123，请查收。",
        "快递单号13812345678已经揽收了哦。",  # a tracking number shaped like a phone
        "订单号：202311221234567890，已为您备注。",  # an order number shaped like an ID
        "我们会第一时间为您处理的，请您放心。",
        "最近天气转凉，这款加绒的很合适哦。",
        "这款面料是100%纯棉的，吸汗透气。",
        "不知道亲是自己穿还是送人呢？",
        "您妈妈穿的话建议选L码哦。",
        "我们发京东快递，到得很快。",
        "都是汽车，QQ车只要几万块。",
        "实在不行的话，我们给您换一件。",
        "我们不能完全保证快递准时，会尽力催促。",
        "这边没有返现活动哦，感谢支持。",
        "穿过洗过、影响二次销售的商品不予退换哦。",
        "开发票是免费的，不收任何税点哦亲。",
        "商品链接：https://item.taobao.com/item.htm?id=123456",
        "好的亲~",
        "不客气",
    ],
)
def test_exceptions_keep_normal_wording_clean(rules: RuleSet, text: str) -> None:
    assert found(rules, text) == []


@pytest.mark.parametrize(
    ("text", "flagged_in", "clean_in", "rule"),
    [
        (
            "亲，这款不包邮的哦",
            CheckContext(free_shipping=True),
            CheckContext(),
            "commitment.free_shipping",
        ),
        (
            "亲，我们不支持货到付款",
            CheckContext(cash_on_delivery=True),
            CheckContext(),
            "commitment.cash_on_delivery",
        ),
        (
            "亲，我们不支持信用卡付款",
            TMALL,
            CheckContext(platform="taobao"),
            "commitment.credit_card",
        ),
        (
            "我们京东也有店哦",
            CheckContext(platform="taobao"),
            CheckContext(platform="jd"),
            "competitor.jd",
        ),
        (
            "拼多多上也有同款",
            CheckContext(platform="jd"),
            CheckContext(platform="pdd"),
            "competitor.pdd",
        ),
        (
            "淘宝上也有我们的店",
            CheckContext(platform="pdd"),
            CheckContext(platform="taobao"),
            "competitor.alibaba",
        ),
    ],
)
def test_context_rules(
    rules: RuleSet, text: str, flagged_in: CheckContext, clean_in: CheckContext, rule: str
) -> None:
    assert [v.rule for v in rules.check(text, flagged_in)] == [rule]
    assert rules.check(text, clean_in) == []


def test_a_violation_carries_severity_category_and_message(rules: RuleSet) -> None:
    assert rules.check("亲，我们不开发票的哦", TMALL) == [
        Violation(
            rule="invoice.refuse",
            category="invoice",
            severity="block",
            start=4,
            end=8,
            match="不开发票",
            message=(
                "拒绝开发票属于违背承诺，天猫每次扣6分；买家付款后索要发票必须免费开具，"
                "暂时开不出要说明补寄时间"
            ),
            suggestion="我们支持开具发票",
        )
    ]


def test_unknown_platform_is_refused() -> None:
    with pytest.raises(BadValue, match="^unknown platform: 'amazon'$"):
        CheckContext(platform="amazon")


def test_utf16_offsets() -> None:
    text = "a😀b😀"
    astral = astral_positions(text)
    assert astral == [1, 3]
    assert [utf16_index(astral, index) for index in range(5)] == [0, 1, 3, 4, 6]


def test_offsets_after_emoji_are_utf16_units(rules: RuleSet) -> None:
    # Each emoji before a match is one Python character but two units in the browser.
    text = "😀这款缺货了😀不知道什么时候到"
    assert [(v.start, v.end, v.match) for v in rules.check(text)] == [
        (4, 6, "缺货"),
        (9, 12, "不知道"),
    ]


def test_checking_is_repeatable_across_contexts(rules: RuleSet) -> None:
    text = "亲，这款不包邮的哦"
    free = CheckContext(free_shipping=True)
    assert [found(rules, text, free), found(rules, text), found(rules, text, free)] == [
        [("commitment.free_shipping", 4, 7, "不包邮", "包邮")],
        [],
        [("commitment.free_shipping", 4, 7, "不包邮", "包邮")],
    ]
