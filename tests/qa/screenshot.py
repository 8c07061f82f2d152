"""Draw docs/img/qa-report.png and docs/img/dashboard.png in headless Chromium:

    .venv/bin/python -m tests.qa.screenshot

The report is the hand-worked JD export's; the dashboard is a real server on a fake clock at
19:06 local time, with three agents who answered a buyer each, buyers waiting at each level (their
lines carry earlier ``ts``, so their clocks have run when the page opens), an override and an
unpaid order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
from pathlib import Path

from playwright.async_api import Page, async_playwright, expect

from server.settings import Token
from tests.browser import BROWSER_ARGS, CHROMIUM
from tests.helpers import TOKENS, FakeClock, client, make_config, running_server
from tests.qa.test_page import jd_report_html

ROOT = Path(__file__).parents[2]
REPORT_PNG = ROOT / "docs" / "img" / "qa-report.png"
DASHBOARD_PNG = ROOT / "docs" / "img" / "dashboard.png"
NOW = 1_795_000_000.0  # 2026-11-18 19:06:40 in Asia/Shanghai
STAFF = (*TOKENS, *(Token(f"tok-{name}", name, "shop-a") for name in ("小美", "阿强")))


async def report(page: Page) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report.html"
        path.write_text(jd_report_html(), encoding="utf-8")
        await page.goto(path.as_uri())
        await page.screenshot(path=str(REPORT_PNG), full_page=True)


async def dashboard(page: Page) -> None:
    line = {"type": "message", "from": "buyer"}
    clock = FakeClock(NOW - 600)
    async with (
        running_server(dataclasses.replace(make_config(), tokens=STAFF), clock) as server,
        client(server.ws_url, "tok-小美") as mei,
        client(server.ws_url, "tok-阿强") as qiang,
        client(server.ws_url, "tok-a1") as alice,
    ):
        answered = ((qiang, "c-90", 12), (alice, "c-91", 25), (mei, "c-92", 47))
        for agent, conversation, waited in answered:
            frame = {**line, "conversation": conversation, "buyer": "老顾客", "text": "有货吗"}
            await agent.request({**frame, "id": "b" + conversation})
            clock.jump(waited)
            reply = {**frame, "from": "agent", "text": "亲，有货的哦，今天就能发出"}
            await agent.request({**reply, "id": "a" + conversation})
        clock.now = NOW
        waits = [
            (mei, "c-101", "晴天", "这件有XL吗", 8),
            (qiang, "c-102", "小鹿爱买买", "能便宜点吗", 40),
            (alice, "c-103", "阿杰", "什么时候发货", 130),
            (mei, "c-104", "tom", "在吗", 3),
        ]
        for agent, conversation, buyer, text, ago in waits:
            frame = {**line, "conversation": conversation, "buyer": buyer, "text": text}
            await agent.request({**frame, "id": conversation, "ts": NOW - ago})
        draft = "亲，加我微信13812345678给您返现"
        check = {"type": "check", "id": "k", "text": draft, "conversation": "c-90", "final": True}
        await qiang.request(check)
        await qiang.request({**line, "from": "agent", "conversation": "c-90", "buyer": "老顾客",
                             "id": "o", "text": draft})  # fmt: skip
        await alice.request({"type": "check", "id": "k2", "text": "这是全网最低价",
                             "conversation": "c-91", "final": True})  # fmt: skip
        await mei.request({"type": "order", "id": "p", "order": "T20261118001", "buyer": "晴天",
                           "status": "created", "conversation": "c-101", "amount": "189.00",
                           "ts": NOW - 1800})  # fmt: skip
        await page.goto(f"{server.http_url}/dashboard?token=tok-sup")
        await expect(page.locator("#conn")).to_have_attribute("data-state", "live")
        await expect(page.locator("#waiting tbody tr")).to_have_count(4)
        await expect(page.locator("#audit li")).to_have_count(3)
        await page.screenshot(path=str(DASHBOARD_PNG), full_page=True)


async def main() -> None:
    async with async_playwright() as driver:
        browser = await driver.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=BROWSER_ARGS
        )
        page = await browser.new_page(locale="zh-CN", viewport={"width": 1200, "height": 900})
        await report(page)
        await dashboard(page)
        await browser.close()
    print(REPORT_PNG)
    print(DASHBOARD_PNG)


if __name__ == "__main__":
    asyncio.run(main())
