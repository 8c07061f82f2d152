"""Fixtures of the real-browser tests: Debian's chromium through Playwright, the unpacked
extension, the real server, and the demo console.

Run `scripts/ensure_chromium.sh` first (`make test` does); without /usr/bin/chromium these tests
are skipped with that advice.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, Playwright, expect, sync_playwright

from tests.browser import BROWSER_ARGS as BASE_ARGS
from tests.browser import CHROMIUM
from tests.extension.kefu_process import ROOT, KefuProcess, configured_server

EXTENSION_DIR = ROOT / "extension"
# Fixed by the manifest's `key`, so the server's Origin allow-list can name it in advance.
EXTENSION_ID = "jlgbimhnmfomfdcmaapjdpfkhfmgohjc"
EXTENSION_URL = f"chrome-extension://{EXTENSION_ID}"
BROWSER_ARGS = [
    *BASE_ARGS,
    # Test tabs sit side by side in one window; none may be throttled as a background tab.
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]

expect.set_options(timeout=10_000)


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium: run scripts/ensure_chromium.sh")
    return CHROMIUM


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def plain_page_factory(playwright: Playwright, chromium: Path) -> Iterator[BrowserContext]:
    browser = playwright.chromium.launch(
        executable_path=str(chromium), headless=True, args=BROWSER_ARGS
    )
    context = browser.new_context()
    yield context
    context.close()
    browser.close()


@pytest.fixture
def plain_page(plain_page_factory: BrowserContext) -> Iterator[Page]:
    """A page of a browser without the extension: for fixture pages and pure extension code."""
    page = plain_page_factory.new_page()
    yield page
    page.close()


@pytest.fixture
def kefu(tmp_path: Path) -> Iterator[KefuProcess]:
    """The real server on free ports, with short clocks and a first nudge 2 s after an order."""
    process = configured_server(tmp_path, EXTENSION_URL)
    process.start()
    yield process
    process.stop()


@pytest.fixture
def extension_context(
    playwright: Playwright, chromium: Path, tmp_path: Path
) -> Iterator[BrowserContext]:
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path / "profile"),
        executable_path=str(chromium),
        headless=True,
        args=[
            f"--disable-extensions-except={EXTENSION_DIR}",
            f"--load-extension={EXTENSION_DIR}",
            *BROWSER_ARGS,
        ],
        viewport={"width": 1100, "height": 760},
        locale="zh-CN",
    )
    if not context.service_workers:
        context.wait_for_event("serviceworker")
    yield context
    context.close()


@dataclass
class Assistant:
    """The extension connected to the server, its panel open as a tab, and the demo console."""

    context: BrowserContext
    kefu: KefuProcess
    panel: Page
    demo: Page

    def open_demo(self, query: str = "") -> Page:
        page = self.context.new_page()
        page.goto(f"{self.kefu.demo_url}/{query}")
        expect(page.locator("html")).to_have_attribute("data-kefu-assist", "demo")
        return page

    # --- the demo console, as a buyer and as the agent ------------------------------------

    def buyer_says(self, text: str, buyer: str | None = None) -> None:
        if buyer is not None:
            self.demo.locator("select[name=buyer]").select_option(label=buyer)
        self.demo.locator("textarea[name=buyer-input]").fill(text)
        self.demo.locator("textarea[name=buyer-input] + button").click()

    @property
    def agent_input(self):  # noqa: ANN201 - a Playwright Locator
        return self.demo.locator("textarea[name=agent-input]")

    def agent_lines(self):  # noqa: ANN201
        return self.demo.get_by_role("log").locator(".line[data-from=agent]:not([hidden]) .text")

    def conversation_in_panel(self, conversation: str):  # noqa: ANN201
        return self.panel.locator(f'#waiting li[data-conversation="{conversation}"]')


def configure_extension(context: BrowserContext, server_url: str, token: str) -> None:
    options = context.new_page()
    options.goto(f"{EXTENSION_URL}/options/options.html")
    options.locator("input[name=server-url]").fill(server_url)
    options.locator("input[name=token]").fill(token)
    options.get_by_role("button", name="保存").click()
    expect(options.locator("#status")).to_have_text("已保存")
    options.close()


@pytest.fixture
def assistant(extension_context: BrowserContext, kefu: KefuProcess) -> Assistant:
    configure_extension(extension_context, kefu.ws_url, kefu.token)
    panel = extension_context.new_page()
    panel.goto(f"{EXTENSION_URL}/panel/panel.html")
    expect(panel.locator("#conn")).to_have_text("已连接")
    helper = Assistant(extension_context, kefu, panel, panel)
    helper.demo = helper.open_demo()
    return helper
