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


def connected_panel(context: BrowserContext, kefu: KefuProcess) -> Page:
    """The extension configured for the server, and its side panel open (as a tab), connected."""
    configure_extension(context, kefu.ws_url, kefu.token)
    panel = context.new_page()
    panel.goto(f"{EXTENSION_URL}/panel/panel.html")
    expect(panel.locator("#conn")).to_have_text("已连接")
    return panel


@pytest.fixture
def assistant(extension_context: BrowserContext, kefu: KefuProcess) -> Assistant:
    panel = connected_panel(extension_context, kefu)
    helper = Assistant(extension_context, kefu, panel, panel)
    helper.demo = helper.open_demo()
    return helper


FIXTURES = Path(__file__).parent / "fixtures"


@dataclass(frozen=True)
class ConsoleKind:
    """A rebuilt chat console, served at its real address (see fixtures/README.md)."""

    adapter: str
    origin: str
    url: str
    fixture: str
    first: str  # the conversation open when the page loads
    other: str  # another conversation of its session list
    input: str  # the agent's input box (a textarea or a contenteditable editor)
    agent_lines: str
    buyer_line: str  # a selector of the buyer line elements, for the tests' own checks


CONSOLES = {
    "pdd": ConsoleKind(
        "pdd",
        "https://mms.pinduoduo.com",
        "https://mms.pinduoduo.com/chat-merchant/index.html#/",
        "pdd.html",
        "5102938475610",
        "5102938475777",
        "#replyTextarea",
        "#msgListContainer li.onemsg .cs-item:not(.callback) .msg-content-box",
        "#msgListContainer li.onemsg .buyer-item",
    ),
    "jd": ConsoleKind(
        "dongdong",
        "https://dongdong.jd.com",
        "https://dongdong.jd.com/",
        "dongdong.html",
        "jd_lanlan",
        "jd_dawei88",
        ".EditorContent",
        ".chat-pane:not([hidden]) .message_right:not(:has(.message__robot-tag)) .message__content",
        ".chat-pane:not([hidden]) .message_left",
    ),
}


def serve_console(context: BrowserContext, kind: ConsoleKind) -> None:
    """Answer every request to the console's host with the rebuilt page: no network involved,
    and the manifest's content scripts run on the real host name."""
    body = (FIXTURES / kind.fixture).read_text(encoding="utf-8")
    context.route(
        f"{kind.origin}/**",
        lambda route: route.fulfill(status=200, content_type="text/html; charset=utf-8", body=body),
    )


@dataclass
class Console:
    """One rebuilt console open in the extension's browser, driven through its page script."""

    kind: ConsoleKind
    page: Page

    def call(self, method: str, *args: object) -> None:
        self.page.evaluate(f"args => window.fixture.{method}(...args)", list(args))

    @property
    def input(self):  # noqa: ANN201 - a Playwright Locator
        return self.page.locator(self.kind.input)

    def agent_lines(self):  # noqa: ANN201
        return self.page.locator(self.kind.agent_lines)

    def guard_notice(self):  # noqa: ANN201
        return self.page.locator("kefu-assist-guard .notice")

    def draft(self) -> str:
        return self.input.evaluate("box => 'value' in box ? box.value : box.innerText")


@dataclass
class Consoles:
    context: BrowserContext
    kefu: KefuProcess
    panel: Page

    def open(self, name: str) -> Console:
        kind = CONSOLES[name]
        serve_console(self.context, kind)
        page = self.context.new_page()
        page.goto(kind.url)
        expect(page.locator("html")).to_have_attribute("data-kefu-assist", kind.adapter)
        expect(page.locator(kind.input)).to_be_visible()
        return Console(kind, page)

    def conversation_in_panel(self, conversation: str):  # noqa: ANN201
        return self.panel.locator(f'#waiting li[data-conversation="{conversation}"]')


@pytest.fixture
def consoles(extension_context: BrowserContext, kefu: KefuProcess) -> Consoles:
    return Consoles(extension_context, kefu, connected_panel(extension_context, kefu))
