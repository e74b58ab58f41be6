"""What the dashboard answers, read from the HTML file: the fastest device per model, repeated
runs grouped, a roof a run beats refused (never a >100 % efficiency), per-operator tables that
say where their times come from, roofs coloured per precision, no empty chart for a device
without a finished run, and the latency timeline's median line."""

from __future__ import annotations

import base64
import re
import statistics
from html import unescape

import numpy as np
import pytest

from harness.analysis.ceilings import Ceilings, derive_ceilings, save_ceilings
from harness.analysis.static import analyze
from harness.report.dashboard import build_report
from harness.store.store import RunStore
from tests.report.html_tables import read_tables, table_by_id
from tests.report.models import depthwise_onnx
from tests.report.records import write_run
from tests.report.test_ceilings import CACHES, _events
from tests.report.test_dashboard import _figures

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def farm(tmp_path):
    """Two devices running two models (model_a twice on the phone), and a device whose only run failed."""
    store = RunStore(tmp_path / "results")
    runs = {
        "a1": write_run(store, "model_a", device_id="phone", median_s=4e-3, seed=1),
        "a2": write_run(store, "model_a", device_id="phone", median_s=4.4e-3, seed=2),
        "b_phone": write_run(store, "model_b", device_id="phone", median_s=10e-3, seed=3),
        "a_board": write_run(store, "model_a", device_id="board", median_s=6e-3, seed=4),
        "b_board": write_run(store, "model_b", device_id="board", median_s=8e-3, seed=5),
        "dead": write_run(store, "model_a", device_id="dead", status="failed", error="link lost", samples=0, seed=6),
    }
    html = build_report(store.root, tmp_path / "index.html").path.read_text()
    return runs, html


def test_fastest_device_per_model_is_highlighted(farm):
    runs, html = farm
    t = table_by_id(html, "fastest-tflite")
    assert t.headers == ["model", "board", "phone"]  # the device with no finished run has no column
    rows = {row[0].text: row for row in t.rows}
    a_board, a_phone = rows["model_a"][1], rows["model_a"][2]
    b_board, b_phone = rows["model_b"][1], rows["model_b"][2]
    assert "best" in a_phone.classes and "best" not in a_board.classes
    assert "best" in b_board.classes and "best" not in b_phone.classes
    # model_a on the phone: the median over its two repeated runs
    expected = statistics.median([runs["a1"].summary.latency.median_s, runs["a2"].summary.latency.median_s])
    assert float(a_phone.attrs["data-sort"]) == pytest.approx(expected)
    assert "2 runs" in a_phone.text and "×" not in a_phone.text
    assert f"×{runs['a_board'].summary.latency.median_s / expected:.2f}" in a_board.text


def test_repeated_runs_share_one_colour_and_one_legend_entry(farm):
    runs, html = farm
    traces, _ = _figures(html)["fig-latency-phone"]
    hist = [t for t in traces if t["meta"]["role"] == "latency"]
    a = [t for t in hist if t["meta"]["run_id"] in (runs["a1"].run_id, runs["a2"].run_id)]
    b = [t for t in hist if t["meta"]["run_id"] == runs["b_phone"].run_id]
    assert len(a) == 2 and len({t["legendgroup"] for t in a}) == 1 and len({t["line"]["color"] for t in a}) == 1
    assert [t.get("showlegend", True) for t in a].count(True) == 1
    assert a[0]["name"].startswith("model_a (2 runs)")
    assert b[0]["line"]["color"] != a[0]["line"]["color"] and b[0]["legendgroup"] != a[0]["legendgroup"]
    every = table_by_id(html, "summary-table")
    assert sum(c.text == "model_a (2 runs)" for c in every.column("model (configuration)")) == 2


def test_a_device_without_a_finished_run_gets_no_empty_chart(farm):
    _, html = farm
    figs = _figures(html)
    assert not [k for k in figs if k.endswith("-dead")]
    assert "Nothing to place on dead's roofline: no run finished (1 failed or aborted)." in unescape(html)
    assert "dead: no steady-state samples." in html


def test_every_table_is_sortable_and_filterable(farm):
    _, html = farm
    body = html[html.index("<body>"):]
    n_tables = body.count("<table ")
    assert n_tables >= 2  # the fastest-device table and every run
    assert body.count('class="table-block"') == body.count('class="table-filter"') == n_tables
    assert body.count('<button type="button" class="sort">') == sum(len(t.headers) for t in read_tables(html))
    assert "<script>" in body and "table-filter" in body[body.rindex("<script>"):]  # the inline sorter


def _low_ceilings(busy: bool) -> Ceilings:
    """Ceilings far below what any host reaches: 100 Mop/s, 100 MB/s."""
    return Ceilings(device="local", peak_ops_per_s={"fp32": 1e8}, method="measured", threads=2, duration_s=10.0,
                    bandwidth_bytes_per_s={"L1": 4e8, "L2": 2e8, "L3": 1.5e8, "DRAM": 1e8},
                    target={"caches": CACHES, "cpu_count": 2, "loadavg_start": 3.5 if busy else 0.1,
                            "loadavg_end": 0.2})


@pytest.mark.parametrize("when", ["record", "report"])
def test_a_run_beating_a_deliberately_low_ceiling_is_refused_in_the_page(tmp_path, when):
    store = RunStore(tmp_path / "results")
    model = depthwise_onnx(tmp_path / "dw.onnx")
    low = _low_ceilings(busy=True)
    save_ceilings(low, store.root)
    kw = {"analysis": analyze(model), "ceilings": low} if when == "record" else {}
    m = write_run(store, "dw", model_path=model, median_s=1e-3, **kw)
    assert (m.summary.roofline is not None) == (when == "record")
    html = build_report(store.root, tmp_path / "index.html").path.read_text()

    eff = table_by_id(html, "summary-table").column("efficiency")[0]
    assert eff.text.startswith("ceiling too low: re-measure") and "too-low" in eff.classes
    roof = table_by_id(html, "roofline-table-local")
    assert roof.column("efficiency")[0].text == "ceiling too low: re-measure"
    judged = roof.column("judged against")[0].text
    assert "fp32 peak, L2 bandwidth" in judged and "fit in L2" in judged
    # no percentage above 100 anywhere in a table
    pcts = [float(x) for t in read_tables(html) for row in t.rows for c in row for x in re.findall(r"(\d+(?:\.\d+)?)%", c.text)]
    assert pcts and max(pcts) <= 100.0
    banner = re.search(r'<div class="alert" role="note">(.*?)</div>', html).group(1)
    assert "measured while local was busy (load average 3.50 on 2 CPU(s)" in banner
    assert "1 run(s) beat them" in banner and "harness ceilings --device local --remeasure" in banner
    traces, _ = _figures(html)["fig-roofline-local"]
    point = next(t for t in traces if t["meta"]["role"] == "model")
    assert "ceiling too low: re-measure" in point["hovertext"][0]


def test_quiet_ceilings_a_run_does_not_beat_show_no_banner(tmp_path):
    store = RunStore(tmp_path / "results")
    model = depthwise_onnx(tmp_path / "dw.onnx")
    save_ceilings(derive_ceilings(_events(), "local"), store.root)
    write_run(store, "dw", model_path=model, median_s=1.0)  # one second per inference: far under any roof
    html = build_report(store.root, tmp_path / "index.html").path.read_text()
    assert 'class="alert"' not in html
    eff = table_by_id(html, "summary-table").column("efficiency")[0]
    assert re.match(r"\d+\.\d% \((memory|compute)-bound vs L2, report time\)", eff.text), eff.text


def test_per_operator_table_with_time_shares_and_where_the_times_come_from(tmp_path):
    store = RunStore(tmp_path / "results")
    model = depthwise_onnx(tmp_path / "dw.onnx")
    ceilings = derive_ceilings(_events(), "local")
    save_ceilings(ceilings, store.root)
    analysis = analyze(model)
    op_times = [{"name": o.name, "type": o.type, "time_s": 1e-4 * (i + 1), "count": 20} for i, o in enumerate(analysis.ops)]
    m = write_run(store, "dw", model_path=model, op_times=op_times, analysis=analysis, ceilings=ceilings)
    html = build_report(store.root, tmp_path / "index.html").path.read_text()

    ops = table_by_id(html, f"ops-{m.run_id}")
    assert ops.headers == ["#", "op", "type", "time", "share of op time", "FLOPs", "bytes", "AI (op/B)", "bound",
                           "achieved", "efficiency"]
    assert len(ops.rows) == len(analysis.ops)
    shares = [float(c.attrs["data-sort"]) for c in ops.column("share of op time")]
    assert shares == sorted(shares, reverse=True) and sum(shares) == pytest.approx(1.0)
    slowest = max(analysis.ops, key=lambda o: op_times[analysis.ops.index(o)]["time_s"])
    assert ops.rows[0][1].text == slowest.name and ops.rows[0][2].text == slowest.type
    assert {c.text for c in ops.column("bound")} <= {"memory", "compute", "–"}
    section = html[html.index('id="operators"'):html.index('id="latency"')]
    assert "mean per op over 20 profiling iteration(s)" in section
    assert "Fewer than 30 iterations: indicative only" in section
    by_type = next(t for t in read_tables(section) if t.headers[0] == "op type")
    assert {row[0].text for row in by_type.rows} == {o.type for o in analysis.ops}
    # the roofline's per-op points say the same in their hover text
    traces, _ = _figures(html)["fig-roofline-local"]
    op_trace = next(t for t in traces if t["meta"]["role"] == "ops")
    assert op_trace["meta"]["iterations"] == 20
    assert all("20 profiling iteration(s)" in h and "indicative only" in h for h in op_trace["hovertext"])


def test_int8_and_fp16_roofs_have_their_own_colours(tmp_path):
    store = RunStore(tmp_path / "results")
    model = depthwise_onnx(tmp_path / "dw.onnx")
    c = derive_ceilings(_events(), "local")
    c.peak_ops_per_s.update(fp16=140e9, int8=280e9)
    save_ceilings(c, store.root)
    write_run(store, "dw32", model_path=model, seed=1)
    write_run(store, "dw8", model_path=model, seed=2, precision="int8")
    html = build_report(store.root, tmp_path / "index.html").path.read_text()
    traces, _ = _figures(html)["fig-roofline-local"]
    peaks = {t["meta"]["dtype"]: t["line"]["color"] for t in traces if t["meta"]["role"] == "peak"}
    assert set(peaks) == {"fp32", "fp16", "int8"} and len(set(peaks.values())) == 3
    ridges = {t["meta"]["dtype"]: t["line"]["color"] for t in traces if t["meta"]["role"] == "ridge"}
    assert ridges == {"fp32": peaks["fp32"], "int8": peaks["int8"]}  # each ridge in its precision's colour
    runs = {t["marker"]["color"] for t in traces if t["meta"]["role"] == "model"}
    assert len(runs) == 2 and not runs & set(peaks.values())


def test_latency_timeline_shows_the_median(tmp_path):
    store = RunStore(tmp_path / "results")
    m = write_run(store, "m", telemetry_points=3000, samples=500, seed=7)
    html = build_report(store.root, tmp_path / "index.html").path.read_text()
    traces, _ = next(v for k, v in _figures(html).items() if k.startswith("fig-timeline-"))
    line = next(t for t in traces if t["meta"]["role"] == "latency_timeline")
    bands = [t for t in traces if t["meta"]["role"] == "latency_band"]
    median = next(t for t in traces if t["meta"]["role"] == "latency_median")
    assert len(bands) == 2 and bands[1]["fill"] == "tonexty"
    assert median["meta"]["y"] == pytest.approx(m.summary.latency.median_s * 1e3)
    per = line["meta"]["per_bucket"]
    assert per == 5 and line["meta"]["points"] == 100  # 500 samples, five per bucket
    stored = RunStore(store.root).load(m.run_id).table("samples").to_pandas()
    steady = stored[stored.phase == "steady"].latency_ns.to_numpy() / 1e6
    expected = np.median(steady[:per * 100].reshape(100, per), axis=1)
    y = line["y"]  # plotly writes float32 arrays as base64 typed arrays
    got = np.frombuffer(base64.b64decode(y["bdata"]), dtype=np.float32) if isinstance(y, dict) else np.asarray(y)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_what_makes_runs_repeats_of_one_configuration(tmp_path):
    from harness.report.gather import config_key

    store = RunStore(tmp_path / "results")
    one = write_run(store, "m", seed=1)
    again = write_run(store, "m", seed=2)
    assert config_key(one) == config_key(again)
    profiled = again.model_copy(deep=True)
    profiled.config.options["op_profile"] = 20  # profiling runs after the timed inferences
    assert config_key(profiled) == config_key(one)
    assert config_key(write_run(store, "m", seed=3, threads=4)) != config_key(one)
    assert config_key(write_run(store, "m", seed=4, device_id="other")) != config_key(one)
    keyed = one.model_copy(update={"benchmark_key": "k1"})
    assert config_key(keyed) == "k1"  # the record's own key, when it has one
