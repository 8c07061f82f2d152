"""The page adapter sets the server serves (hot reload, last good set) and the adapter health the
extensions report (dashboard, metrics), through the real server."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server.errors import AdapterSetError
from server.runtime.adapters import ADAPTERS, load
from tests.helpers import assert_error, client, make_config, running_server
from tests.runtime.test_dashboard import live

BUNDLED = Path(__file__).parents[2] / "extension" / "adapters"


def without_seq(frame: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in frame.items() if key != "seq"}


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    target = tmp_path / "adapters"
    shutil.copytree(BUNDLED, target)
    return target


def test_the_bundled_sets_load_with_a_content_version(directory: Path) -> None:
    loaded = load(BUNDLED)
    assert [entry["id"] for entry in loaded.adapters] == ["demo", "dongdong", "pdd", "qianniu"]
    assert load(directory).version == loaded.version  # same content, same version
    entry = json.loads((directory / "pdd.json").read_text("utf-8"))
    entry["selectors"]["input"] = ["textarea#replyInput"]
    (directory / "pdd.json").write_text(json.dumps(entry), "utf-8")
    assert load(directory).version != loaded.version


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{oops", "pdd.json:1: not valid JSON: unexpected character, expected a string key"),
        ('["pdd"]', "pdd.json: an adapter is a JSON object"),
        ('{"id": "pdd", "selectors": {}, "colour": 1}', "pdd.json: unknown key 'colour'"),
        ('{"selectors": {}}', "pdd.json: missing 'id'"),
        ('{"id": "pdd", "selectors": []}', "pdd.json: 'selectors' must be an object"),
        (
            '{"id": "pdd", "hosts": "a.com", "selectors": {}}',
            "pdd.json: 'hosts' must be a list of host names",
        ),
        ('{"id": "demo", "selectors": {}}', "adapter 'demo' defined twice"),
    ],
)
def test_an_invalid_file_is_named(directory: Path, content: str, reason: str) -> None:
    (directory / "pdd.json").write_text(content, "utf-8")
    with pytest.raises(AdapterSetError) as caught:
        load(directory)
    assert str(caught.value).endswith(reason)


async def test_the_set_is_served_on_request_and_pushed_on_change_and_a_bad_edit_keeps_it(
    directory: Path,
) -> None:
    first = load(directory).version
    async with (
        running_server(make_config(adapters=str(directory))) as server,
        client(server.ws_url, "tok-a1", "pdd") as c,
        aiohttp.ClientSession() as http,
    ):
        assert c.welcome["adapters"] == first
        answer = await c.request({"type": "get_adapters", "id": "g1"})
        assert (answer["ref"], answer["version"]) == ("g1", first)
        assert [entry["id"] for entry in answer["adapters"]] == [
            "demo",
            "dongdong",
            "pdd",
            "qianniu",
        ]

        (directory / "pdd.json").write_text("{oops", "utf-8")
        await server.app[ADAPTERS].poll_once()
        health = await (await http.get(f"{server.http_url}/healthz")).json()
        assert health["adapters"] == first
        assert health["adapters_error"].endswith(
            "pdd.json:1: not valid JSON: unexpected character, expected a string key"
        )

        fixed = json.loads((BUNDLED / "pdd.json").read_text("utf-8"))
        fixed["selectors"]["input"] = ["textarea#replyInput"]
        (directory / "pdd.json").write_text(json.dumps(fixed), "utf-8")
        await server.app[ADAPTERS].poll_once()
        pushed = await c.recv_type("adapters")
        assert pushed["version"] == load(directory).version != first
        [pdd] = [entry for entry in pushed["adapters"] if entry["id"] == "pdd"]
        assert pdd["selectors"]["input"] == ["textarea#replyInput"]
        health = await (await http.get(f"{server.http_url}/healthz")).json()
        assert (health["adapters"], health["adapters_error"]) == (pushed["version"], None)


async def test_no_directory_serves_no_set(tmp_path: Path) -> None:
    async with (
        running_server(make_config(adapters=str(tmp_path / "none"))) as server,
        client(server.ws_url, "tok-a1") as c,
    ):
        assert c.welcome["adapters"] is None
        answer = await c.request({"type": "get_adapters", "id": "g1"})
        assert without_seq(answer) == {"type": "adapters", "version": None, "ref": "g1"}


async def test_adapter_health_reaches_the_dashboard_and_the_metrics_until_the_session_ends(
    directory: Path,
) -> None:
    report = {"type": "adapter_health", "id": "h1", "adapter": "pdd", "broken": ["input"],
              "hits": {"messageList": "#msgListContainer > ul.msg-list"}}  # fmt: skip
    async with (
        running_server(make_config(adapters=str(directory))) as server,
        live(server) as feed,
        aiohttp.ClientSession() as http,
    ):
        assert (await feed.recv())["adapters"] == []
        async with client(server.ws_url, "tok-a1", "pdd") as c:
            assert without_seq(await c.request(report)) == {"type": "ack", "ref": "h1"}
            [item] = (await feed.recv_type("adapters"))["broken"]
            assert (item["agent"], item["adapter"], item["keys"], item["hits"]) == (
                "alice", "pdd", ["input"], {"messageList": "#msgListContainer > ul.msg-list"},
            )  # fmt: skip
            metrics = await (await http.get(f"{server.http_url}/metrics")).text()
            assert 'kefu_adapter_broken{adapter="pdd",key="input"} 1.0' in metrics

            bad = await c.request({**report, "id": "h2", "broken": ["colour"]})
            assert_error(
                bad,
                "bad_field",
                "field 'broken' of 'adapter_health' must be a list of keys from "
                """messageList, lines, input, sendButton, conversation, got '["colour"]'""",
                "h2",
            )
            not_a_list = await c.request({**report, "id": "h3", "broken": "input"})
            assert_error(
                not_a_list,
                "bad_field",
                "field 'broken' of 'adapter_health' must be a list, got 'input'",
                "h3",
            )
            not_selectors = await c.request({**report, "id": "h4", "hits": {"input": 7}})
            assert_error(
                not_selectors,
                "bad_field",
                "field 'hits' of 'adapter_health' must be an object of at most 32 selector "
                """strings, got '{"input":7}'""",
                "h4",
            )
        # The session ended: its console is no longer anybody's problem.
        assert (await feed.recv_type("adapters"))["broken"] == []
        metrics = await (await http.get(f"{server.http_url}/metrics")).text()
        assert 'kefu_adapter_broken{adapter="pdd",key="input"} 0.0' in metrics


async def test_a_recovered_adapter_clears_its_report(directory: Path) -> None:
    health = {"type": "adapter_health", "adapter": "dongdong"}
    async with (
        running_server(make_config(adapters=str(directory))) as server,
        client(server.ws_url, "tok-a1", "jd") as c,
    ):
        await c.request({**health, "id": "h1", "broken": ["lines"]})
        assert server.service.adapter_health.broken("shop-a")[0]["keys"] == ["lines"]
        await c.request({**health, "id": "h2", "broken": []})
        assert server.service.adapter_health.broken("shop-a") == []
