"""Rules composed of cues, with the shipped packs: what composes, what an unless cue clears."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.core.checker import CheckContext, RuleSet, Trace, load_rules
from server.core.checker.firstchars import first_chars
from server.core.checker.literals import literal_prefixes, literal_strings

ROOT = Path(__file__).resolve().parents[2]
TAOBAO = CheckContext()
TMALL = CheckContext(platform="tmall")
JD = CheckContext(platform="jd")
COD = CheckContext(platform="tmall", cash_on_delivery=True)
FREE = CheckContext(platform="tmall", free_shipping=True)


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load_rules(ROOT / "phrases" / "banned")


@pytest.mark.parametrize(
    ("text", "context", "expected"),
    [
        # An object and a refusal a few characters apart, in any wording.
        ("发票这边是开不了的哦", TAOBAO, [("invoice.refuse", 0, 8, "发票这边是开不了", "block")]),
        # Across a comma where the rule allows it: the rhetorical counter-question of seed 004.
        (
            "您不告诉我型号，我怎么知道",
            TAOBAO,
            [("rude.contempt", 0, 13, "您不告诉我型号，我怎么知道", "block")],
        ),
        ("这款是类目第一名", TAOBAO, [("ad_law.first", 3, 8, "类目第一名", "block")]),
        # An ordinal clears 第一时间 but not a ranking in the next clause.
        ("第一时间为您发货，平台第一", TAOBAO, [("ad_law.first", 9, 13, "平台第一", "block")]),
        # The shop adding a fee blocks; the bank's own installment fee does not.
        (
            "花呗要另收手续费",
            TMALL,
            [("commitment.credit_card", 0, 8, "花呗要另收手续费", "block")],
        ),
        ("花呗分期手续费以页面显示为准", TMALL, []),
        # WeChat as a refund channel is clean; 加我 right before it keeps the block.
        ("退款会原路退回到您的微信零钱", TAOBAO, []),
        ("加我微信零钱转你", TAOBAO, [("offsite.wechat", 2, 4, "微信", "block")]),
        (
            "关注我们微信公众号查进度",
            JD,
            [("offsite.official_account", 0, 9, "关注我们微信公众号", "warn")],
        ),
        # 到付 inside 货到付款 is not a second cue.
        ("货到付款可以的", COD, []),
        (
            "货到付款的单子我们不发",
            COD,
            [("commitment.cash_on_delivery", 0, 11, "货到付款的单子我们不发", "block")],
        ),
        ("货到付款的单子我们不发", TMALL, []),  # the shop offers no COD: nothing promised
        # Seed 000's recommended answer to "有京东吗".
        ("我暂时只负责天猫，其他平台不清楚", TMALL, []),
        ("抖音直播间下单更便宜", TAOBAO, [("competitor.other", 0, 2, "抖音", "block")]),
        ("抖音同款的设计", TAOBAO, []),
        ("卖完了", TAOBAO, [("dismissive.sold_out", 0, 3, "卖完了", "warn")]),
        ("不好意思卖完了，给您推荐两款相似的", TAOBAO, []),
        # A bare 票 is the invoice; a ticket is not.
        ("票这边开不了哦", TMALL, [("invoice.refuse", 0, 6, "票这边开不了", "block")]),
        ("电影票可以开发票吗？不能开的话我就不买了", TMALL, []),
        # Only a company title (seed 004), except for the 专票 that tax law limits to companies.
        ("个人的开不了哦", TMALL, [("invoice.other_goods", 0, 6, "个人的开不了", "block")]),
        ("增值税专票只能开给公司哦", TMALL, []),
        # A cue inside a longer cue of the other family is none: 到付 in the second 货到付款.
        ("下单时选货到付款，页面上就有货到付款的选项", COD, []),
        (
            "货到付款的单子哈，这边已经给您取消了",
            COD,
            [("commitment.cash_on_delivery", 0, 17, "货到付款的单子哈，这边已经给您取消", "block")],
        ),
        # The reason a clause and more than 12 characters before the refusal still clears it.
        ("定做的款式按您的尺寸裁剪缝制，不支持七天无理由退货", TMALL, []),
        ("不退的哈", TMALL, [("commitment.returns", 0, 3, "不退的", "block")]),
        ("建议您不要退货", TMALL, []),
        ("这款不享受包邮", FREE, [("commitment.free_shipping", 2, 7, "不享受包邮", "block")]),
        ("信用卡收3个点", TMALL, [("commitment.credit_card", 0, 7, "信用卡收3个点", "block")]),
        ("晒图给您5块", TAOBAO, [("cashback.review_reward", 0, 6, "晒图给您5块", "block")]),
        # The contact named before the move, and an id after a one-letter app name.
        ("售后群我拉您进来", TAOBAO, [("offsite.invite", 0, 8, "售后群我拉您进来", "block")]),
        ("v：abc123", TAOBAO, [("offsite.wechat", 0, 8, "v：abc123", "block")]),
        ("价格全网最低", TAOBAO, [("ad_law.superlative", 0, 6, "价格全网最低", "block")]),
        ("价格最多再便宜3块", TAOBAO, []),  # a limit, not a claim
        ("嫌贵？那就别买", TAOBAO, [("rude.contempt", 0, 7, "嫌贵？那就别买", "block")]),
    ],
)
def test_compositions_and_cue_exceptions(
    rules: RuleSet, text: str, context: CheckContext, expected: list[tuple]
) -> None:
    found = [
        (v.rule, v.start, v.end, v.match, v.severity)
        for v in rules.check(text, context)
        if v.category != "terse"
    ]
    assert found == expected


def test_explain_lists_cues_and_why_each_rule_fired_or_not(rules: RuleSet) -> None:
    # Cues of families no rule in force uses are not listed (not_accepted is for payment
    # methods on Tmall and JD).
    assert rules.explain("发票没有问题，开票不收税点") == Trace(
        cues={
            "invoice": ["发票", "开票"],
            "refusal": ["没有"],
            "charge": ["税点"],
            "paid_by_shop": ["不收"],
            "reassurance": ["没有问题"],
        },
        events=[
            "invoice.refuse: invoice + refusal: composed",
            "invoice.charge: invoice + charge: composed",
            "invoice.refuse: 发票没有: excepted by cue reassurance:没有问题",
            "invoice.charge: 发票没有问题,开票不收税点: excepted by cue paid_by_shop:不收",
            "invoice.charge: 开票不收税点: excepted by cue paid_by_shop:不收",
        ],
    )
    assert rules.explain("发票那边的事情我们这几天实在都开不了哦亲").events == [
        "invoice.refuse: invoice + refusal: too far apart, out of order or across a clause"
    ]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("(?:不能|无法)(?:完全)?保证", {"不", "无"}),
        ("(?:\\d|[今明])日你", set("0123456789今明")),
        ("a?b", {"a", "b"}),
        ("100%(?:纯)?棉", {"1"}),
        ("[^,]保证", None),  # a negated class: too many first characters
        ("x?", None),  # may match nothing
        ("^(?![哦])(?=.*亲).{2,}$", None),  # lookarounds are not followed
    ],
)
def test_first_chars_of_an_exception(source: str, expected: set[str] | None) -> None:
    assert first_chars(source) == (frozenset(expected) if expected is not None else None)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("(?:不能|无法)(?:完全)?保证", ("不能保证", "不能完全保证", "无法保证", "无法完全保证")),
        ("神经(?:痛|科)", ("神经痛", "神经科")),
        ("[12]日你", ("1日你", "2日你")),
        ("不知道(?:亲|您)[^,]{1,20}?吗", None),  # a negated class: no literal spelling
        ("(?<!\\d)\\d{12,}", None),  # lookbehind, open repeat
        ("x?", None),  # may match nothing
    ],
)
def test_exception_patterns_spelled_out(source: str, expected: tuple[str, ...] | None) -> None:
    assert literal_strings(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("(?:开票|发票)[^,]{0,6}?收\\d+", {"开票", "发票"}),
        ("1[3-9]\\d{9}(?!\\d)", {f"1{digit}" for digit in range(3, 10)}),
        ("[^,]保证", None),
    ],
)
def test_prefixes_every_match_starts_with(source: str, expected: set[str] | None) -> None:
    assert literal_prefixes(source) == expected


def test_library_phrases_pass_in_a_shop_that_ships_free_and_offers_cod(rules: RuleSet) -> None:
    from server.core.lint import lint_library
    from server.core.phrases import read_sources

    def check(text: str, platform: str) -> list[tuple[str, str]]:
        promised = CheckContext(platform=platform, free_shipping=True, cash_on_delivery=True)
        return [(v.severity, v.rule) for v in rules.check(text, promised)]

    # 补一下顺丰和普通快递的运费差价 is the buyer's choice of courier, not 包邮 refused; asking a
    # remote buyer for postage is, where everything ships free (the phrase is for other shops).
    problems = lint_library(read_sources(ROOT / "phrases"), check)
    assert [(p.file, p.message) for p in problems] == [
        (
            "logistics.yaml",
            "phrase 'logistics.remote_area' is blocked by rule 'commitment.free_shipping'",
        )
    ]
