"""Seed 001's handover note, filled from what the server knows of a conversation."""

from __future__ import annotations

from server.core.handover import Handover, note, pending


def facts(**changes) -> Handover:
    base = {"buyer": "阿杰", "platform": "jd", "asked": None, "order": None, "order_status": None,
            "waiting_s": None, "deadlines": ()}  # fmt: skip
    return Handover(**{**base, **changes})


def test_a_quiet_conversation_asks_only_to_follow_it_up():
    assert note(facts()) == "阿杰买家，京东买家，请同事继续跟进，谢谢。"
    assert pending(facts()) == []


def test_the_most_urgent_comes_first_and_a_long_line_is_cut():
    asked = (
        "这件衣服的面料是纯棉的吗？洗了会不会缩水？我平时穿L码，身高175，体重70公斤，应该拍哪个码？"
    )
    text = note(
        facts(
            asked=asked,
            order="A1",
            order_status="created",
            waiting_s=30,
            deadlines=(("refund", 1500.0), ("wait_promise", 60.0)),
        )
    )
    assert text == (
        f"阿杰买家，京东买家，因为「{asked[:40]}…」，订单 A1（未付款），"
        "请同事回复买家（已等待 不到 1 分钟），回复已让稍等的买家（还剩 1 分钟），"
        "处理退款或售后（还剩 25 分钟），跟进付款，谢谢。"
    )
