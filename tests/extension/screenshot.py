"""Draw docs/img/panel-demo.png: the side panel next to the demo console, mid-conversation.

    .venv/bin/python -m tests.extension.screenshot

Uses the same server, browser and extension set-up as the end-to-end tests.
"""

from __future__ import annotations

import base64
import tempfile
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

from tests.extension.conftest import (
    BROWSER_ARGS,
    CHROMIUM,
    EXTENSION_DIR,
    EXTENSION_URL,
    configure_extension,
)
from tests.extension.kefu_process import ROOT, configured_server

OUTPUT = ROOT / "docs" / "img" / "panel-demo.png"
CONSOLE_SIZE = {"width": 980, "height": 700}
PANEL_SIZE = {"width": 360, "height": 700}


def stage(demo: Page, panel: Page) -> None:
    """Three buyers waiting, an unpaid order, and a draft the guard underlines."""
    demo.locator("select[name=buyer]").select_option(label="阿杰")
    demo.get_by_role("button", name="议价").click()
    demo.locator("select[name=buyer]").select_option(label="晴天")
    demo.locator("button[name=place-order]").click()
    demo.locator("select[name=buyer]").select_option(label="小鹿爱买买")
    demo.get_by_role("button", name="尺码咨询").click()
    expect(panel.locator("#waiting li")).to_have_count(2)
    expect(panel.locator("#nudges li")).to_have_count(1)
    demo.locator(".conversation").first.click()
    expect(panel.locator("#suggestions .suggestion").first).to_be_visible()
    demo.locator("textarea[name=agent-input]").press_sequentially("亲，有的，加我微信发您尺码表")
    expect(demo.locator("kefu-assist-guard mark").first).to_be_visible()


def side_by_side(console_png: bytes, panel_png: bytes, page: Page) -> bytes:
    def img(data: bytes) -> str:
        return f'<img src="data:image/png;base64,{base64.b64encode(data).decode()}">'

    page.set_viewport_size(
        {"width": CONSOLE_SIZE["width"] + PANEL_SIZE["width"] + 1, "height": CONSOLE_SIZE["height"]}
    )
    page.set_content(
        '<body style="margin:0;display:flex;gap:1px;background:#ccc">'
        f"{img(console_png)}{img(panel_png)}</body>"
    )
    return page.screenshot()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as driver:
        workdir = Path(tmp)
        kefu = configured_server(workdir, EXTENSION_URL)
        kefu.start()
        context = driver.chromium.launch_persistent_context(
            str(workdir / "profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                f"--disable-extensions-except={EXTENSION_DIR}",
                f"--load-extension={EXTENSION_DIR}",
                *BROWSER_ARGS,
            ],
            viewport=CONSOLE_SIZE,
            locale="zh-CN",
        )
        try:
            if not context.service_workers:
                context.wait_for_event("serviceworker")
            configure_extension(context, kefu.ws_url, kefu.token)
            panel = context.new_page()
            panel.set_viewport_size(PANEL_SIZE)
            panel.goto(f"{EXTENSION_URL}/panel/panel.html")
            expect(panel.locator("#conn")).to_have_text("已连接")
            demo = context.new_page()
            demo.goto(f"{kefu.demo_url}/")
            expect(demo.locator("html")).to_have_attribute("data-kefu-assist", "demo")
            stage(demo, panel)
            picture = side_by_side(demo.screenshot(), panel.screenshot(), context.new_page())
        finally:
            context.close()
            kefu.stop()
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_bytes(picture)
    print(OUTPUT)


if __name__ == "__main__":
    main()
