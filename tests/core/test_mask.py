"""The one masker: disguised numbers are masked whole, order and tracking numbers stay readable."""

from __future__ import annotations

import pytest

from server.core.mask import luhn_ok, mask


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("电话13912345678", "电话[手机号]"),
        ("电话１３９１２３４５６７８好", "电话[手机号]好"),  # full-width digits
        ("打139.1234.5678吧", "打[手机号]吧"),
        ("打 139 123 45678 吧", "打 [手机号] 吧"),
        ("call +86 139-1234-5678 ok", "call [手机号] ok"),
        ("幺三九一二三四五六七八", "[手机号]"),  # read aloud
        ("会话 c-13912345678-2", "会话 c-[手机号]-2"),
        ("身份证 110101199003071234", "身份证 [身份证]"),
        ("身份证 11010119900307123X。", "身份证 [身份证]。"),
        ("老身份证 110101900307123 号", "老身份证 [身份证] 号"),
        ("卡号 6222 0212 3456 7890 128 转账", "卡号 [银行卡] 转账"),
        ("card 4111-1111-1111-1111", "card [银行卡]"),
        ("座机 010-12345678", "座机 [电话]"),
        ("寄到：浙江省杭州市西湖区文三路100号", "寄到：[地址]"),
        ("token=abc123 ok", "token=[redacted] ok"),
    ],
)
def test_personal_numbers_are_masked_whole(text, masked):
    assert mask(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "order 3012345678901234 shipped as SF1234567890123",  # 16 digits, not a card range
        "订单 4012345678901234567",  # a card range, but the Luhn check digit is wrong
        "订单号 2611231234567890123 已发货",  # 19 digits: holds 11 that look like a phone
        "共 13 件，合计 199.00 元",
    ],
)
def test_order_tracking_and_amounts_stay_readable(text):
    assert mask(text) == text


def test_luhn():
    assert luhn_ok("4111111111111111") and luhn_ok("6222021234567890128")
    assert not luhn_ok("4111111111111112")
