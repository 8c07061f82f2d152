"""Personal data and credentials never reach a log line."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging

import orjson

from server import logs
from server.runtime.app import banner
from server.settings import Token
from tests.helpers import make_config, running_server


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


def test_disguised_numbers_are_masked_in_every_field_nested_too():
    stream = io.StringIO()
    logs.configure("INFO", stream=stream)
    logging.getLogger("kefu.test").info(
        "buyer 139.1234.5678",
        extra={"conversation": "c-13912345678", "ids": ["110101900307123"],
               "labels": {"card": "6222 0212 3456 7890 128"}, "count": 13912345678},
    )  # fmt: skip
    line = orjson.loads(stream.getvalue())
    assert {k: line[k] for k in ("event", "conversation", "ids", "labels", "count")} == {
        "event": "buyer [手机号]",
        "conversation": "c-[手机号]",
        "ids": ["[身份证]"],
        "labels": {"card": "[银行卡]"},
        "count": 13912345678,  # numbers are metadata, not text: left as they are
    }


async def test_a_traceback_is_redacted_too_aiohttp_quoting_a_bad_header():
    stream = io.StringIO()
    logs.configure("INFO", stream=stream)
    async with running_server() as server:
        host, port = server.http_url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        # No credentials needed: the header line is rejected (and logged) while parsing.
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Buyer: 110101199003071234\x01\r\n\r\n")
        assert (await reader.readline()).startswith(b"HTTP/1.0 400")
        writer.close()
    lines = [orjson.loads(text) for text in stream.getvalue().splitlines()]
    (error,) = [line for line in lines if line["logger"] == "aiohttp.server"]
    assert "b'X-Buyer: [身份证]\\x01'" in error["exc"]
    assert "110101199003071234" not in stream.getvalue()


def test_the_banner_prints_the_demo_token_only():
    config = make_config()  # the test tokens, configured
    shown = banner(config, 1, 2, {t.token: t for t in config.tokens})
    assert shown.splitlines()[-1] == "  tokens     4 configured (KEFU_TOKENS, not shown)"
    assert not any(t.token in shown for t in config.tokens)
    demo = Token("demo-abc", "demo", "demo", supervisor=True)
    shown = banner(dataclasses.replace(config, tokens=()), 1, 2, {"demo-abc": demo})
    assert shown.splitlines()[-1] == "  token      demo-abc  (agent demo, shop demo)"
