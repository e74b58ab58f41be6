"""Open a report in Debian's headless Chromium through playwright (nothing downloaded)."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@dataclass
class PageReport:
    console: list[tuple[str, str]] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    figures: list[dict] = field(default_factory=list)
    text: str = ""
    screenshot: Path | None = None


# Every plotly div: id, whether plotly drew it (an svg), and its traces' meta/x/name.
_FIGURES_JS = """
() => Array.from(document.querySelectorAll('.plotly-graph-div')).map(d => ({
  id: d.id,
  drawn: d.querySelectorAll('svg.main-svg').length,
  traces: (d.data || []).map(t => ({meta: t.meta || null, name: t.name || null,
                                    x: t.x ? Array.from(t.x).map(Number) : null})),
}))
"""


@contextmanager
def opened(path: Path, width: int = 1400, height: int = 1000):
    """The report loaded in headless Chromium at this viewport: (page, what it logged and requested)."""
    from playwright.sync_api import sync_playwright

    out = PageReport()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.on("console", lambda m: out.console.append((m.type, m.text)))
            page.on("pageerror", lambda e: out.page_errors.append(str(e)))

            def on_dialog(dialog):
                out.dialogs.append(dialog.message)
                dialog.dismiss()

            page.on("dialog", on_dialog)
            page.on("request", lambda r: out.requests.append(r.url))
            page.goto(path.resolve().as_uri(), wait_until="load")
            if page.evaluate("document.querySelectorAll('.plotly-graph-div').length > 0"):
                page.wait_for_function("document.querySelectorAll('.plotly-graph-div svg.main-svg').length > 0")
            yield page, out
        finally:
            browser.close()


def open_report(path: Path, screenshot: Path, wait_ms: int = 800) -> PageReport:
    with opened(path) as (page, out):
        page.wait_for_timeout(wait_ms)
        out.figures = page.evaluate(_FIGURES_JS)
        out.text = page.inner_text("body")
        page.screenshot(path=str(screenshot), full_page=True)
        out.screenshot = screenshot
    return out
