"""The report in a real browser: headless Chromium loads it offline, draws every plot,
logs no error, and runs none of the hostile names it shows."""

from __future__ import annotations

import pytest

from harness.analysis.ceilings import derive_ceilings, save_ceilings
from harness.report.dashboard import build_report
from harness.store.store import RunStore
from tests.report.browser import open_report, opened
from tests.report.models import depthwise_onnx
from tests.report.records import write_run
from tests.report.test_ceilings import _events

pytestmark = pytest.mark.timeout(120)

XSS = "<script>alert(1)</script>"
XSS_DEVICE = "<img src=x onerror=alert(2)>"


def test_report_in_headless_chromium(tmp_path):
    store = RunStore(tmp_path / "results")
    save_ceilings(derive_ceilings(_events(), "local"), store.root)
    model = depthwise_onnx(tmp_path / "dw.onnx")
    write_run(store, XSS, device_name=XSS_DEVICE, seed=1, telemetry_points=30_000, model_path=model)
    write_run(store, "model_b", device_name=XSS_DEVICE, seed=2, median_s=2e-3)
    write_run(store, "broken", device_name=XSS_DEVICE, seed=3, status="failed", error=f"{XSS} crashed", samples=0)
    info = build_report(store.root, tmp_path / "reports" / "index.html")

    shot = tmp_path / "report.png"
    page = open_report(info.path, shot)
    print(f"screenshot: {shot}")

    assert page.page_errors == []
    assert [c for c in page.console if c[0] in ("error", "warning")] == []
    assert page.dialogs == []  # no alert() ran
    assert all(u.startswith(("file://", "data:", "blob:")) for u in page.requests), page.requests
    ids = {f["id"] for f in page.figures}
    assert {"fig-roofline-local", "fig-latency-local"} <= ids
    assert any(i.startswith("fig-timeline-") for i in ids)
    assert all(f["drawn"] >= 1 for f in page.figures), page.figures
    # the hostile strings are on the page as text (table, failed runs, provenance)
    assert XSS in page.text and f"{XSS} crashed" in page.text and XSS_DEVICE in page.text
    roofline = next(f for f in page.figures if f["id"] == "fig-roofline-local")
    model = next(t for t in roofline["traces"] if (t["meta"] or {}).get("role") == "model")
    assert model["name"].startswith("&lt;script&gt;alert(1)&lt;/script&gt;")  # plotly shows entities literally
    assert shot.stat().st_size > 10_000


# The rows of a table as the reader sees them: visible rows' cells, in page order.
_ROWS_JS = """
(id) => Array.from(document.getElementById(id).tBodies[0].rows)
  .filter(r => !r.hidden).map(r => Array.from(r.cells).map(c => c.textContent.trim()))
"""


def test_tables_sort_and_filter_in_the_page_at_800px(tmp_path):
    store = RunStore(tmp_path / "results")
    save_ceilings(derive_ceilings(_events(), "local"), store.root)
    model = depthwise_onnx(tmp_path / "dw.onnx")
    for i, (name, median) in enumerate([("model_c", 3e-3), ("model_a", 1e-3), ("model_b", 2e-3), ("model_a", 1.1e-3)]):
        write_run(store, name, seed=i, median_s=median, model_path=model, telemetry_points=600 if i == 0 else 0)
    write_run(store, XSS, seed=9, status="failed", error="boom", samples=0)
    info = build_report(store.root, tmp_path / "index.html")

    with opened(info.path, width=800) as (page, log):
        before = page.evaluate(_ROWS_JS, "summary-table")
        assert [r[1] for r in before][:4] == ["model_c", "model_a (2 runs)", "model_b", "model_a (2 runs)"]
        median_col = page.evaluate("Array.from(document.querySelectorAll('#summary-table th')).findIndex("
                                   "th => th.textContent.trim() === 'median')")
        page.locator("#summary-table th button", has_text="median").first.click()
        asc = page.evaluate(_ROWS_JS, "summary-table")
        assert [r[1] for r in asc] == ["model_a (2 runs)", "model_a (2 runs)", "model_b", "model_c", XSS]  # missing last
        times = [float(r[median_col].split()[0]) for r in asc[:4]]
        assert times == sorted(times)
        assert page.get_attribute("#summary-table th:nth-child(%d)" % (median_col + 1), "aria-sort") == "ascending"
        page.locator("#summary-table th button", has_text="median").first.click()
        desc = page.evaluate(_ROWS_JS, "summary-table")
        assert [r[1] for r in desc][:4] == ["model_c", "model_b", "model_a (2 runs)", "model_a (2 runs)"]

        block = page.locator(".table-block", has=page.locator("#summary-table"))
        block.locator("input.table-filter").fill("model_a")
        filtered = page.evaluate(_ROWS_JS, "summary-table")
        assert len(filtered) == 2 and all("model_a" in r[1] for r in filtered)
        assert block.locator(".table-count").inner_text() == "2 of 5 row(s)"
        block.locator("input.table-filter").fill("MODEL_A ok")  # every word, any case
        assert len(page.evaluate(_ROWS_JS, "summary-table")) == 2
        block.locator("input.table-filter").fill("")
        assert len(page.evaluate(_ROWS_JS, "summary-table")) == 5

        # 800 px: the page does not scroll sideways; a wide table scrolls inside its own box
        assert page.evaluate("document.documentElement.scrollWidth") <= 800
        wide = page.evaluate("(() => { const w = document.querySelector('#summary-table').parentElement;"
                             " return [w.scrollWidth, w.clientWidth, getComputedStyle(w).overflowX]; })()")
        assert wide[0] > wide[1] and wide[2] == "auto"
        widths = page.evaluate("Array.from(document.querySelectorAll('.plotly-graph-div')).map(d => d.getBoundingClientRect().right)")
        assert widths and max(widths) <= 800
        page.screenshot(path=str(tmp_path / "report-800.png"), full_page=True)
        print(f"screenshot: {tmp_path / 'report-800.png'}")

    assert log.page_errors == [] and log.dialogs == []
    assert [c for c in log.console if c[0] in ("error", "warning")] == []
    assert log.requests and all(u.startswith(("file://", "data:", "blob:")) for u in log.requests), log.requests
