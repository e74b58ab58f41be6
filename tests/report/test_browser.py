"""The report in a real browser: headless Chromium loads it offline, draws every plot,
logs no error, and runs none of the hostile names it shows."""

from __future__ import annotations

import pytest

from harness.analysis.ceilings import derive_ceilings, save_ceilings
from harness.report.dashboard import build_report
from harness.store.store import RunStore
from tests.report.browser import open_report
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
