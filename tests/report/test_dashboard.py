"""The HTML dashboard, read as a file: sections, escaping, failed runs, downsampling, CLI."""

from __future__ import annotations

import json
import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from plotly.offline import get_plotlyjs

from harness.analysis.ceilings import derive_ceilings, save_ceilings
from harness.report.dashboard import build_report
from harness.report.downsample import log_histogram, minmax_buckets
from harness.store.store import RunStore
from tests.conftest import assert_one_line_error
from tests.report.models import depthwise_onnx
from tests.report.records import write_run
from tests.report.test_ceilings import _events

pytestmark = pytest.mark.timeout(120)

XSS = "<script>alert(1)</script>"


def _figures(html: str) -> dict[str, tuple[list, dict]]:
    """div id -> (traces, layout) of every plotly figure in the page."""
    out = {}
    for m in re.finditer(r'Plotly\.newPlot\(\s*"([^"]+)",\s*(\[.*?\]),\s*(\{.*?\}),\s*\{"displaylogo"', html, re.S):
        out[m.group(1)] = (json.loads(m.group(2)), json.loads(m.group(3)))
    return out


@pytest.fixture
def results(tmp_path):
    store = RunStore(tmp_path / "results")
    write_run(store, XSS, device_name="<img src=x onerror=alert(2)>", seed=1, telemetry_points=30_000)
    write_run(store, "model_b", seed=2, median_s=2e-3)
    write_run(store, "broken", seed=3, status="failed", error="init failed: <b>bad</b> & worse", samples=0)
    return store.root


def test_report_sections_escaping_and_single_plotly(results, tmp_path):
    info = build_report(results, tmp_path / "out" / "index.html")
    html = info.path.read_text()
    assert info.runs == 3 and info.failed == 1 and info.devices == 1
    for section in ("summary", "failed", "roofline", "latency", "timelines", "provenance"):
        assert f'id="{section}"' in html
    # plotly.js inlined once, nothing loaded from elsewhere
    assert html.count(get_plotlyjs()[:500]) == 1
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=", html)
    # hostile names are text, never markup
    assert XSS not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;bad&lt;/b&gt; &amp; worse" in html  # the failed run's error, escaped, listed
    failed = html[html.index('id="failed"'):html.index('id="roofline"')]
    assert "broken" in failed and "init failed" in failed and "agent_stderr.txt" in failed
    # provenance of every run
    assert len(re.findall(r'<details id="run-', html)) == 3


def test_figures_downsampled_and_windows_shaded(results, tmp_path):
    html = build_report(results, tmp_path / "index.html", max_points=400).path.read_text()
    figs = _figures(html)
    timelines = {k: v for k, v in figs.items() if k.startswith("fig-timeline-")}
    assert len(timelines) == 1  # only the run with telemetry
    traces, layout = next(iter(timelines.values()))
    roles = [t["meta"]["role"] for t in traces]
    assert roles.count("telemetry") == 3 and roles.count("latency_timeline") == 1
    assert all(t["meta"]["points"] <= 400 for t in traces)  # 10 000 points per channel → ≤ 2 × 200
    rects = [s for s in layout["shapes"] if s["type"] == "rect"]
    # idle baseline, cold start + warmup, steady state, idle baseline: each across all 4 rows
    assert len({(r["x0"], r["x1"]) for r in rects}) == 4 and len(rects) == 16
    run = next(m for m in RunStore(results).manifests() if m.run_id == traces[0]["meta"]["run_id"])
    t0 = run.timeline["baseline_start_ns"]
    steady = (run.timeline["steady_start_ns"] - t0) / 1e9, (run.timeline["steady_end_ns"] - t0) / 1e9
    assert any(r["x0"] == pytest.approx(steady[0]) and r["x1"] == pytest.approx(steady[1]) for r in rects)
    latency = figs["fig-latency-local"][0]
    assert {t["meta"]["run_id"] for t in latency if t["meta"]["role"] == "latency"} == {
        m.run_id for m in RunStore(results).manifests() if m.status == "ok"}


def test_minmax_buckets_keep_extremes_and_bound_size():
    rng = np.random.default_rng(0)
    y = rng.normal(size=100_003)
    y[12_345], y[99_999] = 50.0, -50.0
    x = np.arange(y.size)
    xs, ys = minmax_buckets(x, y, 500)
    assert len(xs) <= 1000 and np.all(np.diff(xs) > 0)
    assert ys.max() == 50.0 and ys.min() == -50.0
    short = np.arange(10.0)
    assert minmax_buckets(short, short, 500)[1].tolist() == short.tolist()
    centres, frac = log_histogram(np.concatenate([np.full(90, 1e-3), np.full(10, 1e-1)]))
    assert frac.sum() == pytest.approx(1.0) and centres[np.argmax(frac)] == pytest.approx(1e-3, rel=0.06)


def test_roofline_computed_at_report_time_for_runs_recorded_before_ceilings(tmp_path):
    store = RunStore(tmp_path / "results")
    model = depthwise_onnx(tmp_path / "dw.onnx")
    m = write_run(store, "dw", model_path=model)
    assert m.summary.roofline is None  # no ceilings when it ran
    save_ceilings(derive_ceilings(_events(), "local"), store.root)
    html = build_report(store.root, tmp_path / "index.html").path.read_text()
    traces, _ = _figures(html)["fig-roofline-local"]
    point = next(t for t in traces if t["meta"]["role"] == "model")
    assert point["meta"]["run_id"] == m.run_id
    assert "computed at report time" in point["name"]
    # its working set (weights + peak live activations, under 1 MB) fits in the two threads' L2s
    assert point["meta"]["level"] == "L2"
    ridge = next(t for t in traces if t["meta"]["role"] == "ridge")
    assert (ridge["meta"]["level"], ridge["meta"]["x"]) == ("L2", pytest.approx(70e9 / 90e9))
    assert {t["meta"]["level"] for t in traces if t["meta"]["role"] == "bandwidth"} == {"L1", "L2", "L3", "DRAM"}


def test_cli_report_defaults_and_errors(cli, tmp_path):
    write_run(RunStore(tmp_path / "results"), "m1")
    proc = cli("report", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["path"] == "reports/index.html" and out["runs"] == 1
    assert (tmp_path / "reports" / "index.html").stat().st_size == out["size_bytes"]
    assert_one_line_error(cli("report", "--results", "nowhere"), "nowhere", "no such results folder")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(cli("report", "--results", "empty"), "no run records")


def test_unreadable_table_is_reported_on_the_page_not_fatal(results, tmp_path):
    run = next(m for m in RunStore(results).manifests() if m.model.name == "model_b")
    samples = results / run.run_id / "samples.parquet"
    samples.write_bytes(b"PAR1 this is not parquet")
    html = build_report(results, tmp_path / "index.html").path.read_text()
    assert f"{samples}: unreadable" in html
    assert "fig-latency-local" in html  # the other runs are still plotted


def test_hostile_device_and_run_ids_do_not_reach_figure_markup(tmp_path):
    """A crafted manifest's ids end up in plotly's div ids (written unescaped into HTML and JS)."""
    hostile = '"><img src=x onerror=alert(1)>'
    store = RunStore(tmp_path / "results")
    m = write_run(store, "m", telemetry_points=300)
    run_dir = store.root / m.run_id
    data = json.loads((run_dir / "manifest.json").read_text())
    data["run_id"] = m.run_id + hostile
    data["device"]["id"] = "dev" + hostile
    (run_dir / "manifest.json").write_text(json.dumps(data))
    for table in run_dir.glob("*.parquet"):  # a whole crafted record: its tables hold its own run id
        rows = pq.read_table(table)
        rows = rows.set_column(rows.schema.get_field_index("run_id"), "run_id",
                               pa.array([data["run_id"]] * rows.num_rows))
        pq.write_table(rows, table)
    run_dir.rename(store.root / data["run_id"])
    html = build_report(store.root, tmp_path / "index.html").path.read_text()
    body = html[html.index("</head>"):]
    assert "<img src=x onerror=alert(1)>" not in html and "<img" not in body
    figs = _figures(html)
    safe = "_img_src_x_onerror_alert_1__"
    assert f"fig-latency-dev__{safe}" in figs
    assert f"fig-timeline-{m.run_id}__{safe}" in figs  # the run's telemetry was still found and plotted


def test_ceilings_are_read_once_per_device(tmp_path, monkeypatch):
    import harness.analysis.ceilings as ceilings_mod

    store = RunStore(tmp_path / "results")
    for seed in range(3):
        write_run(store, f"m{seed}", seed=seed)  # recorded without ceilings: roofline computed at report time
    save_ceilings(derive_ceilings(_events(), "local"), store.root)
    reads = []
    real = ceilings_mod.load_ceilings
    monkeypatch.setattr(ceilings_mod, "load_ceilings", lambda *a, **k: reads.append(a) or real(*a, **k))
    build_report(store.root, tmp_path / "index.html")
    assert len(reads) == 1
