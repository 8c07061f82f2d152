"""The phrase library agrees with the seeds, the customer-service training material the product
was built from: each test names its seed and quotes the line it holds the library to."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from server.core.phrases import PLACEHOLDERS, load_library
from server.core.shopfacts import FACTS, facts_for, parse_shop_facts
from server.core.suggest import SuggestContext, Suggester
from server.errors import SettingsError
from server.qa.polite import notes, refuses

SHIPPED = load_library(Path(__file__).parents[1] / "phrases")
LIBRARY = SHIPPED.phrases
SUGGESTER = Suggester(SHIPPED)
BY_ID = {phrase.id: phrase for phrase in LIBRARY}

_PRICE_CHANGE = re.compile(r"(?:修改|改)(?:好|一下|了)?(?:价格|价)|改价")


def test_tmall_phrases_never_change_an_ordered_price():
    # Seed 004: 天猫商品买家拍下后是不能修改价格，但可以修改运费.
    offending = [
        p.id
        for p in LIBRARY
        if "tmall" in p.platforms and _PRICE_CHANGE.search(p.text) and "无法修改价格" not in p.text
    ]
    assert offending == []
    assert "tmall" not in BY_ID["payment.price_changed"].platforms
    assert "tmall" in BY_ID["payment.shipping_fee_changed"].platforms
    # A Tmall buyer asking for a price change gets an answer: postage only, or a coupon.
    (answer,) = [p for p in LIBRARY if p.platforms == {"tmall"} and "改价" in p.keywords]
    assert (
        answer.text.startswith("非常抱歉") and "运费" in answer.text and "店铺优惠" in answer.text
    )
    asked = "拍好了，帮我改一下价格"
    for platform, first in (("tmall", answer.id), ("taobao", "payment.price_changed")):
        assert SUGGESTER.suggest(asked, SuggestContext(platform=platform))[0].phrase == first


def test_hong_kong_macau_taiwan_ship_sf_collect():
    # Seed 000 rule 9: 港澳臺訂單隻發順豐到付，告知客戶無理由拒收退貨需扣除郵費，
    # 收到拒收商品再退款。客戶要求補差價，告知相應金額，再發順豐寄付。
    (phrase,) = [p for p in LIBRARY if "港澳台" in p.keywords]
    assert phrase.category == "logistics"
    for said in ("只发顺丰到付", "拒收", "扣除", "差价", "寄付"):
        assert said in phrase.text, said
    # No phrase promises free shipping there.
    assert "港澳台" in BY_ID["logistics.free_shipping"].text


def test_bargain_refusals_open_with_an_apology():
    # Seed 001: 无法满足顾客的要求，第一句需要回答"非常抱歉"。
    refusals = [p for p in LIBRARY if p.category == "bargain" and refuses(p.text)]
    assert {p.id for p in refusals} >= {
        "bargain.fixed_budget",
        "bargain.short_of_money",
        "bargain.gift_instead",
        "bargain.round_down",
    }
    assert [p.id for p in refusals if not p.text.startswith("非常抱歉")] == []


def test_no_phrase_draws_a_polite_form_note():
    # Seeds 001 and 004: 开头必须用敬语; 拒绝客户的时候一定要说抱歉的话 (what kefu qa coaches).
    assert [p.id for p in LIBRARY if notes(p.text, p.category == "welcome")] == []


_CLOCK_TIME = re.compile(
    r"(?:上午|中午|下午|晚上|凌晨)[0-9一二三四五六七八九十]+点|[0-9]+点"
)  # not 哪一点
_SAME_DAY = re.compile(r"当天|今天")


def test_one_same_day_shipping_cut_off():
    # One cut-off (the shop's {cutoff}) in every phrase that promises shipping today.
    assert [p.id for p in LIBRARY if _CLOCK_TIME.search(p.text)] == []
    same_day = [p for p in LIBRARY if _SAME_DAY.search(p.text) and "发" in p.text]
    assert {p.id for p in same_day} >= {
        "logistics.ship_time",
        "nudge.pickup_cutoff",
        "nudge.morning_followup",
    }
    assert [p.id for p in same_day if "{cutoff}" not in p.text] == []


# Shop facts a library must not promise for every shop: each is the shop's own setting.
_FIXED_FACTS = {
    "ship_within": re.compile(r"\d+小时内(?:为您)?发|\d+天内发货"),
    "free_shipping": re.compile(r"除偏远地区外"),
    "washing": re.compile(r"冷水手洗|机洗"),
    "warranty": re.compile(r"全国联保|免费维修"),
    "authenticity": re.compile(r"品牌授权|专柜验货"),
}
_FACT_PHRASES = {
    "ship_within": "logistics.ship_time",
    "free_shipping": "logistics.free_shipping",
    "washing": "product.washing",
    "warranty": "product.warranty",
    "authenticity": "product.authentic",
}


def test_shop_facts_are_placeholders_not_promises():
    for fact, pattern in _FIXED_FACTS.items():
        assert fact in PLACEHOLDERS, fact
        assert [p.id for p in LIBRARY if pattern.search(p.text)] == [], fact
        assert f"{{{fact}}}" in BY_ID[_FACT_PHRASES[fact]].text, fact
    assert "cutoff" in PLACEHOLDERS


def test_shop_facts_are_parsed_per_shop_over_the_defaults():
    facts = parse_shop_facts(
        {"default": {"cutoff": "下午4点", "ship_within": "48小时"}, "s1": {"cutoff": " 下午5点 "}}
    )
    assert facts_for(facts, "s1") == {"cutoff": "下午5点", "ship_within": "48小时"}
    assert facts_for(facts, "s2") == {"cutoff": "下午4点", "ship_within": "48小时"}
    assert parse_shop_facts(None) == {}
    assert set(FACTS) <= set(PLACEHOLDERS)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "shop_facts: expected a mapping, got []"),
        ({"s1": "x"}, "shop_facts.s1: expected a mapping, got 'x'"),
        ({"s1": {"colour": "红"}}, "shop_facts.s1: unknown fact: 'colour'"),
        ({"s1": {"cutoff": ""}}, "shop_facts.s1.cutoff: expected text, got ''"),
        ({"s1": {"cutoff": 16}}, "shop_facts.s1.cutoff: expected text, got 16"),
    ],
)
def test_bad_shop_facts_name_the_key(raw, message):
    with pytest.raises(SettingsError) as caught:
        parse_shop_facts(raw)
    assert str(caught.value) == message
