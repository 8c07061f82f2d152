"""The HTML report opens in headless Chromium with no network: no errors, charts drawn."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from server.core.checker import load_rules
from server.qa import render_html, run_qa
from server.qa.analyze import analyze
from server.qa.lines import ChatLine
from server.settings import DEFAULT_TIMERS
from tests.browser import BROWSER_ARGS, CHROMIUM

ROOT = Path(__file__).parents[2]
RULES = load_rules(ROOT / "phrases" / "banned")


def jd_report_html() -> str:
    report = run_qa(
        [ROOT / "tests" / "data" / "qa" / "jd.jsonl"],
        rules=RULES, platform="jd", timers=DEFAULT_TIMERS, timezone="Asia/Shanghai",
        target_rate=0.9, columns={},
    )  # fmt: skip
    return render_html(report)


def test_the_report_escapes_what_the_export_says():
    line = ChatLine("x.jsonl", 1, "<c>", "agent", "<img src=x onerror=alert(1)>", None,
                    "<script>alert(1)</script>微信", 1741572060.0, False)  # fmt: skip
    report = analyze(
        [line], rules=RULES, platform="jd", timers=DEFAULT_TIMERS, timezone="Asia/Shanghai",
        target_rate=0.9, files=["<x>.jsonl"],
    )  # fmt: skip
    page = render_html(report)
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;微信" in page


def test_report_opens_offline_with_its_charts(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium: run scripts/ensure_chromium.sh")
    path = tmp_path / "report.html"
    path.write_text(jd_report_html(), encoding="utf-8")
    with sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=BROWSER_ARGS
        )
        page = browser.new_page()
        errors: list[str] = []
        requests: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(path.as_uri())
        charts = page.locator("svg.chart")
        assert charts.count() == 4
        # Histogram: 7 buckets; rates: 4 agents; categories: 5; agents with violations: 4.
        assert [charts.nth(i).locator("rect.bar").count() for i in range(4)] == [7, 4, 5, 4]
        assert charts.nth(1).locator("line.marker").count() == 1
        widths = (
            charts.nth(1)
            .locator("rect.bar")
            .evaluate_all("bars => bars.map(b => b.getBoundingClientRect().width)")
        )
        assert widths == [240.0, 0.0, 180.0, 360.0]  # 66.67%, 0%, 50%, 100% of 360 px
        assert page.locator("#kpi-table tbody tr").count() == 5
        assert page.locator("#malformed tbody tr").count() == 6
        assert page.title() == "客服质检报告"
        browser.close()
    assert errors == []
    assert requests == [path.as_uri()]  # nothing fetched besides the page itself
