"""Disguised phone, ID and card numbers never reach the audit trail, in any of its forms."""

from __future__ import annotations

import sqlite3

import aiohttp

from tests.helpers import FakeClock, client, make_config, running_server

NOW = 1_795_000_000.0  # 2026-11-18 in Shanghai
DISGUISES = [
    "１３９１２３４５６７８",
    "139.1234.5678",
    "139 123 45678",
    "110101900307123",  # a 15-digit ID number
    "11010119900307123X",
    "6222 0212 3456 7890 128",  # a bank card
]
HIDDEN_DIGITS = ("13912345678", "110101900307123", "11010119900307123", "6222021234567890128")


def digits_of(text: str) -> str:
    return "".join(
        str(int(c)) if c.isdigit() else c.lower() for c in text if c.isalnum()
    )  # full-width digits to ASCII, separators gone


async def test_disguised_numbers_are_masked_in_sqlite_json_csv_and_the_dashboard(tmp_path):
    db = tmp_path / "kefu.db"
    async with running_server(make_config(db=str(db)), FakeClock(NOW)) as server:
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(f"{server.http_url}/dashboard/live?token=tok-sup") as feed,
        ):
            await feed.receive_json()  # the snapshot
            async with client(server.ws_url) as alice:
                for number, disguise in enumerate(DISGUISES):
                    answer = await alice.request(
                        {"type": "check", "id": f"c{number}", "final": True,
                         "conversation": "c-13912345678", "text": f"加我微信 {disguise}"}
                    )  # fmt: skip
                    assert answer["ok"] is False
            live = []
            while len(live) < len(DISGUISES):
                frame = await feed.receive_json()
                if frame["type"] == "audit":
                    live.append(frame)
            headers = {"Authorization": "Bearer tok-sup"}
            async with session.get(f"{server.http_url}/api/audit", headers=headers) as resp:
                records = (await resp.json())["records"]
            async with session.get(f"{server.http_url}/api/audit?format=csv", headers=headers) as r:
                csv = await r.text()
        with sqlite3.connect(db) as stored:
            rows = stored.execute("SELECT conversation, text FROM audit ORDER BY id").fetchall()
    expected = [
        ("c-[手机号]", "加我微信 [手机号]"),
        ("c-[手机号]", "加我微信 [手机号]"),
        ("c-[手机号]", "加我微信 [手机号]"),
        ("c-[手机号]", "加我微信 [身份证]"),
        ("c-[手机号]", "加我微信 [身份证]"),
        ("c-[手机号]", "加我微信 [银行卡]"),
    ]
    assert rows == expected
    assert [(r["conversation"], r["text"]) for r in records] == expected
    assert [(f["conversation"], f["text"]) for f in live] == expected
    assert [line.split(",")[2::5] for line in csv.splitlines()[1:]] == [list(e) for e in expected]
    every = str(rows) + str(records) + str(live) + csv
    assert not any(hidden in digits_of(every) for hidden in HIDDEN_DIGITS)
