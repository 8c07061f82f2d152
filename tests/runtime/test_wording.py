"""Checks, suggestions, the audit trail and library reload through the real server."""

from __future__ import annotations

import shutil
from pathlib import Path

import aiohttp

from server.errors import LibraryError
from server.runtime.app import WATCHER
from tests.helpers import assert_error, client, make_config, running_server

PHRASES = Path(__file__).parents[2] / "phrases"
NEW_PHRASE = """
- id: welcome.weekend
  category: welcome
  text: 您好，我们周末也有客服在线，有什么需要随时找我哦。
  keywords: [周末营业, 周末有人]
  examples:
    - 周末营业吗
"""


async def test_check_blocks_wechat_with_utf16_offsets(server):
    async with client(server.ws_url) as c:
        answer = await c.request({"type": "check", "id": "k1", "text": "😀加我微信吧"})
        assert answer["type"] == "check_result" and answer["ok"] is False
        (first, *_) = answer["violations"]
        assert (first["category"], first["severity"]) == ("offsite", "block")
        # The emoji is two UTF-16 units: the highlight must start after it.
        assert "😀加我微信吧"[first["start"] - 1 : first["end"] - 1] == first["match"]
        assert first["match"] in ("加我微信", "微信")


async def test_clean_reply_is_ok(server):
    async with client(server.ws_url) as c:
        answer = await c.request(
            {"type": "check", "id": "k2", "text": "亲，我们会第一时间为您发货哦"}
        )
        assert {k: v for k, v in answer.items() if k != "seq"} == {
            "type": "check_result", "ref": "k2", "ok": True, "violations": [],
        }  # fmt: skip


async def test_a_broken_checker_fails_closed(server, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(server.service.library.rules, "check", explode, raising=False)
    async with client(server.ws_url) as c:
        answer = await c.request({"type": "check", "id": "k3", "text": "您好"})
        assert_error(answer, "check_unavailable", "the checker failed: RuntimeError", "k3")


async def test_buyer_message_gets_suggestions_with_filled_placeholders(server):
    async with client(server.ws_url) as c:
        line = {"type": "message", "conversation": "c1", "buyer": "tom", "from": "buyer"}
        answer = await c.request({**line, "id": "m1", "text": "能开发票吗"})
        assert answer["type"] == "suggestions" and answer["conversation"] == "c1"
        assert len(answer["items"]) == 3
        assert "invoice" in [item["category"] for item in answer["items"]]
        assert all("{" not in item["text"] for item in answer["items"])


async def test_final_check_and_override_are_audited(server):
    async with client(server.ws_url) as c:
        draft = "加我微信 13812345678 聊"
        await c.request(
            {"type": "check", "id": "k", "text": draft, "conversation": "c1", "final": True}
        )
        line = {"type": "message", "conversation": "c1", "buyer": "tom", "from": "agent"}
        await c.request({**line, "id": "m", "text": draft})
    records = await server.service.store.list_audit("shop-a", 0, 1e12)
    assert [r.kind for r in records] == ["check", "override"]
    assert records[0].text == "加我微信 [手机号] 聊" and records[0].severity == "block"
    assert "offsite" in records[0].categories


async def test_an_invalid_edit_keeps_the_last_good_library_and_a_valid_one_reloads(tmp_path):
    library = tmp_path / "phrases"
    shutil.copytree(PHRASES, library)
    async with running_server(make_config(phrases=str(library))) as server:
        watcher = server.app[WATCHER]
        before = server.service.library.version
        async with client(server.ws_url) as c:
            (library / "banned" / "offsite.yaml").write_text("rules: [oops\n", encoding="utf-8")
            await watcher.poll_once()
            assert server.service.library.version == before
            error = server.service.library_error
            assert isinstance(error, LibraryError) and error.file == "offsite.yaml"
            shutil.copy(PHRASES / "banned" / "offsite.yaml", library / "banned" / "offsite.yaml")
            with (library / "welcome.yaml").open("a", encoding="utf-8") as f:
                f.write(NEW_PHRASE)
            await watcher.poll_once()
            assert server.service.library_error is None
            version = server.service.library.version
            assert version != before
            assert (await c.recv_type("library"))["version"] == version
            line = {"type": "message", "id": "m", "conversation": "c9", "buyer": "ann"}
            answer = await c.request({**line, "from": "buyer", "text": "周末营业吗"})
            assert answer["items"][0]["phrase"] == "welcome.weekend"


async def post(server, path: str, body: dict, token: str = "tok-a1"):
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(server.http_url + path, json=body, headers=headers) as response,
    ):
        return response.status, await response.json()


async def test_http_check_answers_like_the_websocket(server):
    status, answer = await post(server, "/api/check", {"text": "全网最低价", "id": "h1"})
    assert (status, answer["type"], answer["ref"], answer["ok"]) == (
        200,
        "check_result",
        "h1",
        False,
    )
    assert answer["violations"][0]["category"] == "ad_law"
    status, answer = await post(server, "/api/check", {"text": "您好", "platform": "amazon"})
    assert status == 400
    assert_error(
        answer,
        "bad_field",
        "field 'platform' of 'check' must be one of taobao, tmall, jd, pdd, got 'amazon'",
    )
    status, answer = await post(server, "/api/check", {"text": "您好"}, token="nope")
    assert (status, answer["code"]) == (401, "not_authenticated")


async def test_old_flagged_drafts_are_forgotten(server):
    async with client(server.ws_url) as c:
        check = {
            "type": "check",
            "id": "k",
            "text": "加我微信",
            "conversation": "c1",
            "final": True,
        }
        await c.request(check)
    service = server.service
    checked_at = next(iter(service.floor.overrides.flagged.values()))[0]
    service.floor.sweep(checked_at + 300)
    assert len(service.floor.overrides.flagged) == 1  # still inside the override window
    service.floor.sweep(checked_at + 301)
    assert service.floor.overrides.flagged == {}


def _rules_of(answer: dict) -> list[str]:
    return [violation["rule"] for violation in answer["violations"]]


async def test_cash_on_delivery_comes_from_the_frame_or_the_shop_settings(server):
    refusal = "货到付款我们这边做不了"
    async with client(server.ws_url) as c:
        plain = await c.request({"type": "check", "id": "k1", "text": refusal})
        flagged = await c.request(
            {"type": "check", "id": "k2", "text": refusal, "cash_on_delivery": True}
        )
    assert (plain["ok"], _rules_of(plain)) == (True, [])
    assert (flagged["ok"], _rules_of(flagged)) == (False, ["commitment.cash_on_delivery"])
    async with running_server(make_config(cod_shops=("shop-a",))) as shop_offers_cod:
        async with client(shop_offers_cod.ws_url) as c:
            answer = await c.request({"type": "check", "id": "k3", "text": refusal})
        assert _rules_of(answer) == ["commitment.cash_on_delivery"]
        status, answer = await post(shop_offers_cod, "/api/check", {"text": refusal})
        assert (status, _rules_of(answer)) == (200, ["commitment.cash_on_delivery"])


async def test_free_shipping_comes_from_the_frame_or_the_shop_settings(server):
    refusal = "这款特价不参加包邮活动"
    status, answer = await post(server, "/api/check", {"text": refusal})
    assert (status, _rules_of(answer)) == (200, [])
    status, answer = await post(server, "/api/check", {"text": refusal, "free_shipping": True})
    assert _rules_of(answer) == ["commitment.free_shipping"]
    async with running_server(make_config(free_shipping_shops=("shop-a",))) as free_shop:
        async with client(free_shop.ws_url) as c:
            answer = await c.request({"type": "check", "id": "k", "text": refusal})
        assert _rules_of(answer) == ["commitment.free_shipping"]


async def test_a_used_suggestion_teaches_the_shop_its_answer(server):
    async with client(server.ws_url) as c:
        line = {"type": "message", "buyer": "tom", "from": "buyer", "text": "能不能发顺丰"}
        before = await c.request({**line, "id": "m1", "conversation": "c7"})
        assert "logistics.courier" not in [item["phrase"] for item in before["items"]]
        used = {"type": "suggestion_used", "phrase": "logistics.courier", "conversation": "c7"}
        assert (await c.request({**used, "id": "u1"}))["type"] == "ack"
        after = await c.request({**line, "id": "m2", "conversation": "c8"})
        assert "logistics.courier" in [item["phrase"] for item in after["items"]]
