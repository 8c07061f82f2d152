"""Cleaning buyer lines as the consoles dirty them, need detection, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from server.core.fold import fold
from server.core.intent import MAX_CHARS, SOCIAL, Cleaned, clean, detect
from server.core.phrases import load_library
from server.core.suggest import CLEAR_NEED, SuggestContext, Suggester
from server.core.tokenize import get_tokenizer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def shipped() -> Suggester:
    return Suggester(load_library(ROOT / "phrases"))


def test_one_fold_simplifies_widens_and_lowers_each_character() -> None:
    assert fold("ＸＬ碼有貨嗎？Ｗｉｆｉ") == "xl码有货吗?wifi"
    assert fold("發貨了嗎，退貨") == "发货了吗,退货"
    assert fold("①号到") == "1号到"  # a compatibility form may become another character
    assert fold("好评😊") == "好评😊"  # past the table: left for the cleaning to drop
    assert fold("") == ""


def test_a_line_that_praises_and_asks_nothing_reports_what_arrived() -> None:
    # item and price words in praise describe the goods: the review need leads
    assert detect("尺码很准，穿着很舒服，好评") == {"product": 1.0, "review": 3.5}
    assert detect("颜色很正，性价比高，下次还来") == {
        "product": 0.75,
        "bargain": 1.0,
        "review": 1.5,
    }
    # a question, or a buyer about to buy, asks about the item: nothing is damped
    assert detect("尺码偏大吗") == {"product": 2.0}
    assert detect("性价比高吗") == {"bargain": 2.0}
    assert detect("挺好的，想买，有l码吗") == {"product": 3.5, "review": 1.5}
    # negated praise is a complaint
    assert detect("这件穿着不舒服") == {"after_sales": 1.5}


def test_a_fault_asked_about_before_buying_is_a_question_about_the_item() -> None:
    assert detect("苹果会不会有烂的坏的") == {"product": 2.0, "after_sales": 1.5}
    assert detect("这批货有坏的吗") == {"product": 3.5, "after_sales": 1.5}
    assert detect("收到的有坏的") == {"after_sales": 1.5}  # it happened: a claim


def test_praise_gets_thanks_first_and_a_bad_review_the_apology(shipped: Suggester) -> None:
    def first(line: str) -> str:
        return shipped.suggest(line, SuggestContext(platform="jd"))[0].phrase

    assert first("收到了，尺码很准，穿着很舒服，好评") == "review.thanks_good"
    assert first("宝贝很满意，下次还来") == "review.thanks_good"
    assert first("衣服很喜欢，物超所值") == "review.thanks_good"
    assert first("我要给差评") == "review.bad_review"


def test_order_card_is_taken_out_and_kept_as_context() -> None:
    line = "咨询订单号:123456789 订单金额:¥59.90 下单时间:2019-06-01 什么时候发货"
    assert clean(line) == Cleaned("什么时候发货", order="123456789", amount="59.90")
    masked = "咨询订单号：[订单x] 订单金额：[金额x] 下单时间：[日期x] 能开发票吗"
    assert clean(masked) == Cleaned("能开发票吗")
    assert clean("查询订单号：9***, 商品号：3913893") == Cleaned("")


def test_masks_links_emoji_and_repeats_are_removed() -> None:
    assert clean("[数字x]这款支持[站点x]吗") == Cleaned("这款支持吗")
    assert clean("拉萨 *** *** 能送到吗") == Cleaned("拉萨 能送到吗")
    assert clean("http://item.jd.com/100003822200.html 这个有货吗") == Cleaned("这个有货吗")
    assert clean("辛苦了[玫瑰]#E-s64#E-s64😖") == Cleaned("辛苦了")
    assert clean("退货怎么退，退货怎么退") == Cleaned("退货怎么退")
    assert clean("ＸＬ碼有貨嗎") == Cleaned("xl码有货吗")  # one fold: width, case, traditional


def test_a_long_line_is_cut_before_anything_reads_it() -> None:
    assert clean("发" * 5000).text == "发"  # cut to MAX_CHARS, then the repeat collapses
    varied = "".join(chr(0x4E00 + i % 500) for i in range(5000))
    assert len(clean(varied).text) == MAX_CHARS


def test_needs_come_from_buyer_words() -> None:
    assert detect("刚买就降价了") == {"after_sales": 2.0}
    assert detect("发票怎么开") == {"invoice": 2.0}
    assert detect("谢谢") == {"farewell": 2.0}
    assert detect("") == {}


def test_a_clear_need_never_gets_a_greeting_or_goodbye_above_it(shipped: Suggester) -> None:
    for line, first in (("你好，什么时候发货", True), ("谢谢，退款什么时候到账", False)):
        got = [s.category for s in shipped.suggest(line, SuggestContext(first_message=first))]
        assert got[0] not in ("welcome", "farewell"), (line, got)


def test_the_pasted_card_fills_the_order_placeholders(shipped: Suggester) -> None:
    line = "咨询订单号:123456789 订单金额:59.90 帮我改下价格"
    (best, *_rest) = shipped.suggest(line)
    assert best.phrase == "payment.price_changed"
    assert "59.90元" in best.text
    known = SuggestContext(fill={"amount": "10"})
    assert "10元" in shipped.suggest(line, known)[0].text  # what the server knows wins


@pytest.mark.parametrize(
    ("line", "first", "expected"),
    [
        ("", False, []),
        ("", True, ["welcome.greet"]),
        ("[数字x][订单x][地址x]", False, []),
        ("😖😖😖#E-s33", False, []),
        ("[数字x][订单x][地址x]", True, ["welcome.greet"]),
    ],
)
def test_bad_input_gets_an_answer(
    shipped: Suggester, line: str, first: bool, expected: list[str]
) -> None:
    got = shipped.suggest(line, SuggestContext(first_message=first))
    assert [s.phrase for s in got] == expected


def test_five_thousand_characters_get_an_answer(shipped: Suggester) -> None:
    line = "请问什么时候发货" + "啊" * 4992
    assert shipped.suggest(line)[0].category == "logistics"
    varied = "".join(chr(0x4E00 + i % 3000) for i in range(5000))
    assert len(shipped.suggest(varied)) <= 3


def test_no_labelled_line_with_a_clear_need_gets_a_greeting_or_goodbye_first(
    shipped: Suggester,
) -> None:
    labelled = ROOT / "tests" / "data" / "suggest" / "labelled.jsonl"
    checked = 0
    for row in map(json.loads, labelled.read_text(encoding="utf-8").splitlines()):
        context = SuggestContext(
            platform=row.get("platform", "taobao"),
            first_message=row.get("first_message", False),
            order_state=row.get("order_state"),
        )
        needs = detect(get_tokenizer().normalize(clean(row["text"]).text))
        if any(s >= CLEAR_NEED for c, s in needs.items() if c not in SOCIAL):
            checked += 1
            first = shipped.suggest(row["text"], context)[0]
            assert first.category not in SOCIAL, (row["text"], first.phrase)
    assert checked > 150
