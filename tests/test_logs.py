"""Personal data and credentials never reach a log line."""

from __future__ import annotations

import io
import logging

import orjson

from server import logs


def log_line(message: str, **extra: str) -> dict:
    stream = io.StringIO()
    logs.configure("INFO", secrets=["tok-secret-123"], stream=stream)
    logging.getLogger("kefu.test").info(message, extra=extra)
    return orjson.loads(stream.getvalue())


def test_phone_numbers_are_masked_in_message_and_fields():
    line = log_line("buyer said 13812345678 and +86 139-1234-5678", buyer="call 15900001111")
    assert line["event"] == "buyer said [手机号] and [手机号]"
    assert line["buyer"] == "call [手机号]"


def test_id_numbers_addresses_and_tokens_are_masked():
    line = log_line(
        "id 110101199003071234 to 浙江省杭州市西湖区文三路100号 with tok-secret-123 token=abc"
    )
    assert line["event"] == "id [身份证] to [地址] with [token] token=[redacted]"


def test_order_and_tracking_numbers_stay_readable():
    line = log_line("order 3012345678901234 shipped as SF1234567890123")
    assert line["event"] == "order 3012345678901234 shipped as SF1234567890123"
