"""The history section of the HTML report in headless Chromium: trends with their band, change
points and alarms marked, the latest-night table sortable, a click on a point opens its run;
offline, one file, no console errors."""

from __future__ import annotations

import numpy as np
import pytest

from harness.report.dashboard import build_report
from harness.store.store import RunStore
from tests.regression.records import night_name, write
from tests.report.browser import opened

pytestmark = pytest.mark.timeout(600)
XSS = "<img src=x onerror=alert(3)>"


def nightly_store(root) -> RunStore:
    """Three measures over 24 nights: kws01 with a 20 % step at night 14, a quiet one with a
    hostile name, and an LLM's two phases; night 20 of the quiet one ran on a degraded board."""
    store = RunStore(root / "results")
    rng = np.random.default_rng(0)
    for night in range(24):
        for r in range(2):
            step = 1.2 if night >= 14 else 1.0
            write(store, model="kws01-int8", level=1e-3 * step * np.exp(rng.normal(0, 0.01)), night=night,
                  seed=100 * night + r, n=30, sd=0.01, metadata={"build": f"b{night}"})
            degraded = {"farm.degraded": "1"} if night == 20 else {}
            write(store, model=XSS, level=4e-3 * (1.5 if night == 20 else 1.0) * np.exp(rng.normal(0, 0.01)),
                  night=night, seed=100 * night + 50 + r, n=30, sd=0.01, metadata=degraded)
        if night % 2 == 0:
            write(store, model="tiny-llm", kind="phases", level=300.0, decode_level=30.0, night=night,
                  seed=100 * night + 90, sd=0.01)
    return store


def test_history_page_in_chromium(tmp_path):
    store = nightly_store(tmp_path)
    info = build_report(store.root, tmp_path / "index.html")
    html = info.path.read_text()
    assert 'id="history"' in html and "history-latest" in html
    with opened(info.path) as (page, log):
        page.wait_for_function("document.querySelectorAll('.history-figure .plotly-graph-div svg.main-svg').length >= 4")
        figures = page.evaluate("""() => Array.from(document.querySelectorAll('.history-figure .plotly-graph-div'))
            .map(d => ({id: d.id, traces: d.data.map(t => ({meta: t.meta || {}, x: t.x ? Array.from(t.x) : [],
                                                           customdata: t.customdata ? Array.from(t.customdata) : []}))}))""")
        assert len(figures) == 4  # kws01, the hostile one, prefill, decode
        kws = next(f for f in figures if any(t["meta"].get("role") == "change_point" for t in f["traces"]))
        roles = {t["meta"].get("role"): t for t in kws["traces"]}
        assert {"median", "band_low", "band_high", "change_point", "alarm"} <= set(roles)
        assert roles["change_point"]["x"][0] in (night_name(13), night_name(14), night_name(15))
        assert len(roles["median"]["x"]) == 24
        run_ids = {m.run_id for m in store.manifests()}
        assert set(roles["median"]["customdata"]) <= run_ids  # each point names its run
        quiet = next(f for f in figures if f is not kws and len(next(t for t in f["traces"]
                                                                    if t["meta"].get("role") == "median")["x"]) == 23)
        assert not any(t["meta"].get("role") == "alarm" for t in quiet["traces"])  # degraded night left out

        # a click on a point opens the run it came from
        target = roles["median"]["customdata"][5]
        page.evaluate("""([id, i]) => { const gd = document.getElementById(id);
            const tr = gd.data.findIndex(t => t.meta && t.meta.role === 'median');
            gd.emit('plotly_click', {points: [{curveNumber: tr, pointNumber: i, customdata: gd.data[tr].customdata[i]}]}); }""",
                      [kws["id"], 5])
        assert page.evaluate("location.hash") == f"#run-{target}"
        assert page.evaluate(f"document.getElementById('run-{target}').open") is True
        # and a real mouse click on a drawn point does the same
        page.evaluate("location.hash = ''")
        point = page.locator(f"#{kws['id']} .scatterlayer .trace .points path").nth(8)
        point.scroll_into_view_if_needed()
        point.click(force=True)
        page.wait_for_function("location.hash.startsWith('#run-')")
        assert page.evaluate("location.hash")[5:] in run_ids

        # the latest night against a week before, sortable by the change
        rows = page.evaluate("""() => Array.from(document.getElementById('history-latest').tBodies[0].rows)
            .map(r => Array.from(r.cells).map(c => c.textContent.trim()))""")
        assert len(rows) == 4 and {r[0] for r in rows} == {"rpi5"}
        by_model = {r[1]: r for r in rows}
        assert by_model["kws01-int8"][2] == night_name(23) and by_model["kws01-int8"][4] == night_name(16)
        assert by_model["kws01-int8"][6] in ("+0.0 %",) or abs(float(by_model["kws01-int8"][6].split()[0])) < 5
        assert by_model[XSS][1] == XSS  # shown as text
        assert by_model["tiny-llm · decode"][2] == night_name(22)
        page.locator("#history-latest th button", has_text="Δ").click()
        page.locator("#history-latest th button", has_text="Δ").click()  # descending
        assert page.get_attribute("#history-latest th:nth-child(7)", "aria-sort") == "descending"
        page.screenshot(path=str(tmp_path / "history.png"), full_page=True)
        print(f"screenshot: {tmp_path / 'history.png'}")

    assert log.page_errors == [] and log.dialogs == []
    assert [c for c in log.console if c[0] in ("error", "warning")] == []
    assert all(u.startswith(("file://", "data:", "blob:")) for u in log.requests), log.requests


def test_no_history_yet_says_so(tmp_path):
    store = RunStore(tmp_path / "results")
    write(store, night=0)
    html = build_report(store.root, tmp_path / "index.html").path.read_text()
    assert "No nightly history yet" in html
