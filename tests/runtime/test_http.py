"""The HTTP side: health, metrics, the KPI API and its authentication."""

from __future__ import annotations

import aiohttp

from tests.helpers import assert_error, client


async def get(url: str, token: str | None = None) -> tuple[int, dict | str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as resp:
        if resp.content_type == "application/json":
            return resp.status, await resp.json()
        return resp.status, await resp.text()


async def test_healthz_counts_connections(server):
    async with client(server.ws_url):
        assert await get(server.http_url + "/healthz") == (
            200, {"status": "ok", "version": "0.1.0", "connections": 1,
                  "library": server.service.library.version, "library_error": None,
                  "store_error": None,
                  "adapters": server.service.adapters.version, "adapters_error": None},
        )  # fmt: skip


async def test_metrics_count_frames_errors_and_connections(server):
    async with client(server.ws_url) as c:
        await c.request({"type": "ping", "id": "1"})
        await c.send("not json")
        await c.recv()
        status, text = await get(server.http_url + "/metrics")
    assert status == 200
    assert 'kefu_frames_in_total{type="ping"} 1.0' in text
    assert 'kefu_frames_in_total{type="invalid"} 1.0' in text
    assert 'kefu_frames_out_total{type="welcome"} 1.0' in text
    assert 'kefu_errors_total{code="bad_json"} 1.0' in text
    assert "kefu_connections 1.0" in text
    assert 'kefu_handler_seconds_count{type="ping"} 1.0' in text


async def test_kpi_api_requires_a_token(server):
    status, body = await get(server.http_url + "/api/kpi")
    assert status == 401
    assert_error(body, "not_authenticated", "missing 'Authorization: Bearer <token>' header")
    status, body = await get(server.http_url + "/api/kpi", token="wrong")
    assert (status, body["error"]) == (401, "unknown token")


async def test_kpi_api_keeps_to_the_tokens_shop_and_agent(server):
    status, body = await get(server.http_url + "/api/kpi?shop=shop-b", token="tok-a1")
    assert status == 403
    assert_error(body, "forbidden", "token is not valid for shop 'shop-b'")
    status, body = await get(server.http_url + "/api/kpi?agent=amy", token="tok-a1")
    assert status == 403
    assert_error(body, "forbidden", "only a supervisor may read another agent's kpi: 'amy'")
    status, body = await get(server.http_url + "/api/kpi?agent=amy&date=2026-11-20", "tok-sup")
    assert (status, body["agent"], body["date"], body["rounds"]) == (200, "amy", "2026-11-20", 0)
    status, body = await get(server.http_url + "/api/kpi?date=yesterday", token="tok-a1")
    assert status == 400
    assert_error(body, "bad_value", "query 'date' must be YYYY-MM-DD, got 'yesterday'")
