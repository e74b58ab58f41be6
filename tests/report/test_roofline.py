"""Roofline math, the join of static op counts with measured op times, and the summary hook."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.analysis.ceilings import Ceilings
from harness.analysis.roofline import OpCost, Roof, join_op_times, memory_bound_share, op_points, run_roofline, summarize_roofline
from harness.analysis.static import analyze
from tests.report.models import depthwise_onnx

pytestmark = pytest.mark.timeout(60)


def test_roof_attainable_ridge_and_bound():
    roof = Roof(peak_ops_per_s=100e9, bandwidth_bytes_per_s=20e9)
    assert roof.ridge == pytest.approx(5.0)
    assert roof.attainable(1.0) == pytest.approx(20e9)  # slope
    assert roof.attainable(50.0) == pytest.approx(100e9)  # flat
    assert roof.bound(4.99) == "memory" and roof.bound(5.01) == "compute"
    assert roof.min_time_s(1e9, 1e6) == pytest.approx(1e9 / 100e9)
    with pytest.raises(ValueError):
        Roof(0.0, 1.0)


def test_whole_model_point_efficiency_and_bound():
    ops = [OpCost(0, "conv", "CONV_2D", flops=2e9, bytes=1e8)]  # AI 20
    r = run_roofline(ops, median_s=0.04, roof=Roof(100e9, 20e9), dtype="fp32", level="DRAM")
    assert r["arithmetic_intensity"] == pytest.approx(20.0)
    assert r["bound"] == "compute"
    assert r["achieved_ops_per_s"] == pytest.approx(2e9 / 0.04)
    assert r["attainable_ops_per_s"] == pytest.approx(100e9)
    assert r["efficiency"] == pytest.approx(0.5)
    assert r["memory_bound_time_share"] is None  # nothing timed
    assert r["memory_bound_time_share_modelled"] == 0.0


costs = st.lists(
    st.tuples(st.floats(0, 1e10), st.floats(0, 1e9)).filter(lambda fb: fb[0] + fb[1] > 0), min_size=1, max_size=40
)


@settings(max_examples=200, deadline=None)
@given(costs, st.floats(1e8, 1e13), st.floats(1e8, 1e12))
def test_per_op_bound_never_below_whole_model_bound(work, peak, bw):
    """Σ max(Fi/P, Bi/BW) ≥ max(ΣF/P, ΣB/BW): a whole-model roofline can only flatter."""
    ops = [OpCost(i, f"op{i}", "X", f, b) for i, (f, b) in enumerate(work)]
    r = run_roofline(ops, None, Roof(peak, bw), dtype="fp32", level="DRAM")
    assert r["per_op_min_time_s"] >= r["model_min_time_s"] * (1 - 1e-9)
    assert r["per_op_min_time_s"] <= (r["flops"] / peak + r["bytes"] / bw) * (1 + 1e-9)


def test_memory_bound_share_weights_by_time():
    roof = Roof(100e9, 10e9)  # ridge 10
    ops = [
        OpCost(0, "dw", "DEPTHWISE_CONV_2D", flops=1e6, bytes=1e6, time_s=3e-3),  # AI 1: memory
        OpCost(1, "pw", "CONV_2D", flops=1e8, bytes=1e6, time_s=1e-3),  # AI 100: compute
        OpCost(2, "reshape", "RESHAPE", flops=0, bytes=0, time_s=0.5e-3),  # no work: not classified
    ]
    pts = op_points(ops, roof)
    assert [p["bound"] for p in pts] == ["memory", "compute", None]
    assert [p["time_share"] for p in pts] == pytest.approx([3 / 4.5, 1 / 4.5, 0.5 / 4.5])
    assert memory_bound_share(pts, "time_s") == pytest.approx(0.75)


class _Op:
    def __init__(self, index, name, type_, flops, outputs, nbytes=100):
        self.index, self.name, self.type, self.flops = index, name, type_, flops
        self.bytes_read, self.bytes_written, self.outputs = nbytes, nbytes, outputs


def test_join_matches_names_fused_tensor_groups_and_keeps_the_rest_unattributed():
    static = [
        _Op(0, "conv1", "Conv", 1000, ["c1"]),
        _Op(1, "relu1", "Relu", 10, ["r1"]),
        _Op(2, "dw2", "Conv", 300, ["c2"]),
        _Op(3, "clip2", "Clip", 20, ["r2"]),
        _Op(4, "pw3", "Conv", 900, ["c3"]),
    ]
    measured = [
        {"name": "r1_nchwc", "type": "Conv", "time_s": 1e-3},  # conv1+relu1 fused, named by its output
        {"name": "dw2", "type": "FusedConv", "time_s": 2e-3},  # fused, kept the first node's name
        {"name": "c3_nchwc", "type": "Conv", "time_s": 3e-3},
        {"name": "ReorderOutput", "type": "ReorderOutput", "time_s": 0.5e-3},
    ]
    joined, info = join_op_times(static, measured)
    times = {c.name: c.time_s for c in joined}
    assert times["conv1"] == pytest.approx(1e-3)  # the group's time goes to its heaviest op
    assert math.isnan(times["relu1"]) and math.isnan(times["clip2"])
    assert times["dw2"] == pytest.approx(2e-3)
    assert times["pw3"] == pytest.approx(3e-3)
    assert info["op_time_unattributed_s"] == pytest.approx(0.5e-3)
    assert info["unattributed_ops"] == ["ReorderOutput"]


def _ceilings(peak=50e9, bw=10e9, **kw) -> Ceilings:
    return Ceilings(device="t", peak_ops_per_s={"fp32": peak, "int8": 2 * peak},
                    bandwidth_bytes_per_s={"L2": 5 * bw, "DRAM": bw}, method="measured", **kw)


def test_summarize_roofline_from_a_real_static_analysis(tmp_path):
    path = depthwise_onnx(tmp_path / "dw.onnx")
    analysis = analyze(path)
    r = summarize_roofline("fp32", 1e-3, [], analysis, _ceilings())
    assert r["flops"] == pytest.approx(analysis.flops)
    assert r["bytes"] == pytest.approx(analysis.bytes_moved)
    assert r["arithmetic_intensity"] == pytest.approx(analysis.arithmetic_intensity)
    assert r["level"] == "DRAM" and r["ridge_point"] == pytest.approx(5.0)
    assert r["achieved_ops_per_s"] == pytest.approx(analysis.flops / 1e-3)
    assert r["n_ops"] == len(analysis.ops) and r["n_ops_timed"] == 0
    dw = next(o for o in r["ops"] if o["name"] == "dw")
    assert dw["bound"] == "memory"  # a depthwise conv: ~2 ops per byte
    assert set(r["attainable_by_level"]) == {"L2", "DRAM"}
    # an int8 model is judged against the int8 peak; no ceilings or no analysis: no roofline
    assert summarize_roofline("int8", 1e-3, [], analysis, _ceilings())["peak_ops_per_s"] == pytest.approx(100e9)
    assert summarize_roofline("fp32", 1e-3, [], None, _ceilings()) is None
    assert summarize_roofline("fp32", 1e-3, [], analysis, None) is None


def test_summarize_roofline_with_measured_op_times_and_thread_note(tmp_path):
    analysis = analyze(depthwise_onnx(tmp_path / "dw.onnx"))
    names = [o.name for o in analysis.ops]
    measured = [{"name": n, "type": "", "time_s": 1e-4 * (i + 1)} for i, n in enumerate(names)]
    r = summarize_roofline("fp32", 1e-3, measured, analysis, _ceilings(threads=2), threads=1)
    assert r["n_ops_timed"] == len(names)
    assert sum(o["time_share"] for o in r["ops"]) == pytest.approx(1.0)
    assert 0.0 <= r["memory_bound_time_share"] <= 1.0
    assert any("1 thread(s)" in n for n in r["notes"])


def test_runs_with_runtime_aggregates_only_use_the_reported_median(tmp_path):
    """benchmark_model prints aggregates, no samples: the roofline uses its median and says so."""
    from harness.analysis.summary import derive_summary
    from harness.store.record import TABLE_SCHEMAS, Summary
    from tests.report.records import RunStore, write_run

    from harness.store.results import AggregateStats, ToolAggregates

    m = write_run(RunStore(tmp_path / "results"), "agg", samples=10)
    m.results = [ToolAggregates(source="benchmark_model", steady=AggregateStats(count=50, median_s=2e-3, mean_s=3e-3))]
    base = Summary()
    empty = {name: schema.empty_table() for name, schema in TABLE_SCHEMAS.items()}
    analysis = analyze(depthwise_onnx(tmp_path / "dw.onnx"))
    s = derive_summary(m, base, empty["samples"], empty["telemetry"], empty["ops"], analysis, _ceilings())
    assert s.latency is None
    assert s.roofline["median_s"] == 2e-3 and "reported by the runtime" in s.roofline["latency_source"]
    assert s.roofline["achieved_ops_per_s"] == pytest.approx(analysis.flops / 2e-3)


# -- the roof follows the working set; a ceiling a run beats is refused ---------------------

CACHES = [
    {"level": 1, "size_bytes": 32 << 10, "shared_cpus": 1},
    {"level": 2, "size_bytes": 1 << 20, "shared_cpus": 1},
    {"level": 3, "size_bytes": 32 << 20, "shared_cpus": 2},
]


def _measured(peak=50e9, dram=10e9, **target) -> Ceilings:
    """Measured ceilings of a 2-CPU target with its cache sizes (L1 > L2 > L3 > DRAM bandwidth)."""
    return Ceilings(device="dev", peak_ops_per_s={"fp32": peak, "int8": 2 * peak},
                    bandwidth_bytes_per_s={"L1": 20 * dram, "L2": 9 * dram, "L3": 4 * dram, "DRAM": dram},
                    method="measured", threads=2, duration_s=10.0,
                    target={"caches": CACHES, "cpu_count": 2, "loadavg_start": 0.1, "loadavg_end": 0.3, **target})


def _analysis(flops: float, weight_bytes: int, live: int, n_ops: int = 4):
    """A static analysis with `n_ops` equal ops and this footprint (weights + peak live activations)."""
    ops = [_Op(i, f"op{i}", "CONV_2D", flops / n_ops, [f"t{i}"], nbytes=(weight_bytes + live) // (2 * n_ops))
           for i in range(n_ops)]
    return SimpleNamespace(ops=ops, weight_bytes=weight_bytes, activation_bytes=SimpleNamespace(peak_live=live))


@pytest.mark.parametrize("weights, live, threads, level, reason", [
    (20_000, 8_000, 2, "L1", "fit in L1 (0.0625 MiB for 2 thread(s))"),
    (700_000, 100_000, 2, "L2", "fit in L2 (2 MiB for 2 thread(s))"),
    (1_400_000, 200_000, 1, "L3", "fit in L3 (32 MiB for 1 thread(s))"),  # one thread: one private L2
    (90_000_000, 1_000_000, 2, "DRAM", "exceed L3 (32 MiB): judged against DRAM"),
])
def test_roof_follows_the_model_working_set(weights, live, threads, level, reason):
    c = _measured()
    r = summarize_roofline("fp32", 1.0, [], _analysis(1e6, weights, live), c, threads=threads)
    assert r["level"] == level and reason in r["level_reason"]
    assert r["bandwidth_bytes_per_s"] == c.bandwidth_bytes_per_s[level]
    assert r["ridge_point"] == pytest.approx(50e9 / c.bandwidth_bytes_per_s[level])
    assert r["footprint_bytes"] == weights + live


def test_roof_is_dram_without_cache_sizes_and_says_why(tmp_path):
    r = summarize_roofline("fp32", 1e-3, [], analyze(depthwise_onnx(tmp_path / "dw.onnx")), _ceilings())
    assert r["level"] == "DRAM" and "cache sizes unknown (measured ceilings)" in r["level_reason"]


def test_a_deliberately_low_ceiling_is_refused_not_shown_as_efficiency():
    # 1 GFLOP in 1 ms is 1 Top/s, on a target whose ceilings claim 10 Gop/s and 1 GB/s
    low = _measured(peak=10e9, dram=1e9)
    analysis = _analysis(1e9, 50_000_000, 1_000_000)  # AI ≈ 39 op/B: compute-bound against DRAM
    r = summarize_roofline("fp32", 1e-3, [], analysis, low)
    assert r["bound"] == "compute" and r["ceiling_too_low"] is True
    assert r["efficiency"] is None and r["efficiency_raw"] == pytest.approx(100.0)
    note = next(n for n in r["notes"] if n.startswith("ceiling too low"))
    assert "10000% of the fp32 peak" in note and "harness ceilings --device dev --remeasure" in note
    assert r["ceilings_busy"] == []

    # the same low ceilings, measured while the target was loaded: the note says so
    busy = _measured(peak=10e9, dram=1e9, loadavg_start=4.0)
    r = summarize_roofline("fp32", 1e-3, [], analysis, busy)
    assert r["ceilings_busy"] and "load average 4.00" in r["ceilings_busy"][0]
    assert "measured while the target was busy (load average 4.00" in next(n for n in r["notes"] if "too low" in n)

    # a memory-bound op faster than its bandwidth roof is refused the same way
    pts = op_points([OpCost(0, "dw", "DEPTHWISE_CONV_2D", flops=1e6, bytes=1e6, time_s=1e-6)], Roof(1e12, 1e9))
    assert pts[0]["bound"] == "memory" and pts[0]["ceiling_too_low"] and pts[0]["efficiency"] is None


@settings(max_examples=150, deadline=None)
@given(st.floats(1e7, 1e13), st.floats(1e6, 1e12), st.floats(1e-6, 10.0), st.floats(1e5, 1e10),
       st.integers(1_000, 100_000_000), st.integers(1, 4))
def test_roofline_never_contradicts_itself_whatever_the_ceilings(peak, dram, median_s, flops, weights, threads):
    """On any host's ceilings: the bound matches the side of the ridge, an efficiency is never
    above 100 %, a refused one always says so, and the per-op bound is never below the model's."""
    r = summarize_roofline("fp32", median_s, [], _analysis(flops, weights, weights // 10), _measured(peak, dram),
                           threads=threads)
    assert r["bound"] == ("memory" if r["arithmetic_intensity"] < r["ridge_point"] else "compute")
    assert r["ridge_point"] == pytest.approx(peak / r["bandwidth_bytes_per_s"])
    assert r["efficiency"] is None or 0 < r["efficiency"] <= 1.0
    assert bool(r.get("ceiling_too_low")) == (r["efficiency"] is None)
    if r.get("ceiling_too_low"):
        assert r["efficiency_raw"] > 1.0 and any(n.startswith("ceiling too low") for n in r["notes"])
    assert r["per_op_min_time_s"] >= r["model_min_time_s"] * (1 - 1e-9)


def test_per_op_times_say_how_many_profiling_iterations_they_come_from(tmp_path):
    analysis = analyze(depthwise_onnx(tmp_path / "dw.onnx"))
    few = [{"name": o.name, "type": "", "time_s": 1e-4, "count": 20} for o in analysis.ops]
    r = summarize_roofline("fp32", 1e-3, few, analysis, _ceilings())
    assert r["op_profile_iterations"] == 20 and r["op_profile_few"] is True
    assert "20 profiling iteration(s)" in r["op_time_source"]
    assert r["op_time_to_median"] == pytest.approx(len(analysis.ops) * 1e-4 / 1e-3)
    many = [dict(m, count=500) for m in few]
    assert summarize_roofline("fp32", 1e-3, many, analysis, _ceilings())["op_profile_few"] is False
    assert "op_profile_iterations" not in summarize_roofline("fp32", 1e-3, [], analysis, _ceilings())


def test_depthwise_mobilenet_is_memory_bound_and_a_dense_cnn_compute_bound_against_a_phone_class_roof():
    """The placement the local end-to-end test cannot promise on every host: against fixed
    ceilings (50 Gop/s fp32, 10 GB/s DRAM, ridge 5 op/B) and the zoo models' static analyses."""
    from harness import zoo

    phone = Ceilings(device="phone", peak_ops_per_s={"fp32": 50e9}, bandwidth_bytes_per_s={"DRAM": 10e9},
                     method="datasheet")
    mobilenet = summarize_roofline("fp32", 1e-3, [], analyze(zoo.model_file("mobilenet_v2_0.35_96-fp32-onnx")), phone)
    dense = summarize_roofline("fp32", 1e-3, [], analyze(zoo.model_file("ic01-fp32-tflite")), phone)
    assert mobilenet["level"] == dense["level"] == "DRAM" and mobilenet["ridge_point"] == pytest.approx(5.0)
    assert mobilenet["bound"] == "memory" and dense["bound"] == "compute"
    static = analyze(zoo.model_file("mobilenet_v2_0.35_96-fp32-onnx"))
    dw_names = {o.name for o in static.ops if o.type == "Conv" and o.input_shapes[1][1] == 1 and o.input_shapes[1][2] > 1}
    depthwise = [o for o in mobilenet["ops"] if o["name"] in dw_names]
    assert len(depthwise) == 17 and all(o["bound"] == "memory" for o in depthwise)
    assert mobilenet["memory_bound_time_share_modelled"] > 0.5
