"""Learning from a shop's history: example books, pairing replies, mapping them to phrases."""

from __future__ import annotations

import math
from pathlib import Path

import orjson
import pytest

from server.core.learn import ExampleBook, ShopLearning, learn, load_books, pair_replies
from server.core.phrases import load_library
from server.core.suggest import SuggestContext, Suggester

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def shipped() -> Suggester:
    return Suggester(load_library(ROOT / "phrases"))


def test_a_book_scores_phrases_by_shared_tokens_weighted_by_how_surely_they_led_there() -> None:
    book = ExampleBook()
    book.add(["顺丰", "发"], "logistics.sf_express")
    book.add(["顺丰", "运费"], "logistics.sf_express")
    book.add(["运费"], "logistics.free_shipping")
    assert len(book) == 3
    # 顺丰: in 2 of 3 examples, both for sf_express; 运费: in 2, one each
    sure, split = math.log(1 + 3 / 2), math.log(1 + 3 / 2) / 2
    assert book.scores(["顺丰", "运费", "别的"]) == pytest.approx(
        {"logistics.sf_express": sure + split, "logistics.free_shipping": split}
    )
    assert book.scores([]) == {}


def test_a_book_keeps_its_newest_examples_only() -> None:
    book = ExampleBook(limit=2)
    book.add(["a"], "p1")
    book.add(["b"], "p2")
    book.add(["c", "c"], "p3")  # repeated tokens count once
    assert len(book) == 2
    assert book.scores(["a"]) == {}
    assert set(book.scores(["b", "c"])) == {"p2", "p3"}
    assert book.to_json() == [{"tokens": ["b"], "phrase": "p2"}, {"tokens": ["c"], "phrase": "p3"}]
    assert ExampleBook.from_json(book.to_json()).to_json() == book.to_json()


def test_each_buyer_line_pairs_with_the_next_reply_in_its_conversation() -> None:
    lines = [
        ("c1", "buyer", "在吗"),
        ("c2", "buyer", "发什么快递"),
        ("c1", "buyer", "有XL吗"),
        ("c1", "agent", "有的亲"),
        ("c2", "agent", "默认中通"),
        ("c1", "agent", "还有别的吗"),  # nothing waiting: no pair
    ]
    assert pair_replies(lines) == [
        ("在吗", "有的亲"),
        ("有XL吗", "有的亲"),
        ("发什么快递", "默认中通"),
    ]


def test_a_reply_maps_to_its_phrase_when_close_enough(shipped: Suggester) -> None:
    library = load_library(ROOT / "phrases")
    sf = next(p for p in library.phrases if p.id == "logistics.sf_express")
    assert shipped.nearest(sf.text) == "logistics.sf_express"
    assert shipped.nearest(sf.text.replace("亲，", "您好，")) == "logistics.sf_express"
    assert shipped.nearest("好的") is None
    assert shipped.nearest("") is None


def test_learned_examples_lift_the_phrase_this_shop_answers_with(shipped: Suggester) -> None:
    line = "能不能发顺丰"
    plain = [s.phrase for s in shipped.suggest(line)]
    assert plain == [
        "logistics.sf_express",
        "logistics.hk_macau_taiwan",
        "after_sales.install_dispute",
    ]
    # this shop's agents answer it with the default couriers
    reply = "亲，我们默认发中通和圆通，您可以备注指定快递"
    book = learn([(line, reply), (line, "好的")], shipped)
    example = {"tokens": ["能", "不能", "发", "顺丰"], "phrase": "logistics.courier"}
    assert book.to_json() == [example]
    learned = [s.phrase for s in shipped.suggest(line, SuggestContext(examples=book))]
    assert learned == ["logistics.sf_express", "logistics.courier", "after_sales.install_dispute"]


def test_the_live_side_learns_from_used_suggestions_and_sent_replies(shipped: Suggester) -> None:
    learning = ShopLearning(lambda: shipped)
    learning.phrase_used("s1", "c1", "invoice.yes")  # no buyer line yet: nothing to learn
    assert learning.books == {}
    learning.buyer_line("s1", "c1", "[数字x]能开票吗")
    learning.phrase_used("s1", "c1", "invoice.yes")
    assert learning.books["s1"].to_json() == [{"tokens": ["能", "开票"], "phrase": "invoice.yes"}]
    learning.buyer_line("s1", "c2", "发顺丰")
    learning.agent_reply("s1", "c2", "好的")  # not close to any phrase: the line waits
    sf = next(p for p in load_library(ROOT / "phrases").phrases if p.id == "logistics.sf_express")
    learning.agent_reply("s1", "c2", sf.text)
    assert learning.books["s1"].to_json()[-1] == {"tokens": ["发", "顺丰"], "phrase": sf.id}
    assert ShopLearning(lambda: None).books == {}


def test_a_line_kept_before_the_library_loads_is_cut_with_the_library_it_is_used_with(
    shipped: Suggester,
) -> None:
    current: list[Suggester] = []
    learning = ShopLearning(lambda: current[0] if current else None)
    learning.buyer_line("s1", "c1", "能开票吗")
    learning.phrase_used("s1", "c1", "invoice.yes")  # no library: nothing to cut it with
    assert learning.books == {}
    learning.buyer_line("s1", "c1", "能开票吗" + "啊" * 5000)
    current.append(shipped)
    learning.phrase_used("s1", "c1", "invoice.yes")
    assert learning.books["s1"].to_json() == [{"tokens": ["能", "开票"], "phrase": "invoice.yes"}]


def test_books_load_from_the_files_kefu_qa_learn_writes(tmp_path: Path) -> None:
    rows = [{"tokens": ["顺丰"], "phrase": "logistics.sf_express"}, {"bad": 1}, "x"]
    (tmp_path / "shop-a.json").write_bytes(orjson.dumps({"pairs": 2, "examples": rows}))
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "list.json").write_text("[1, 2]", encoding="utf-8")
    books = load_books(tmp_path)
    assert list(books) == ["shop-a"] and books["shop-a"].to_json() == rows[:1]
    assert load_books(tmp_path / "absent") == {}
