"""End to end on this host: measure the ceilings, run several zoo models, write the report,
and check the roofline places the depthwise-heavy MobileNet left of the ridge and a dense
CNN right of it — in the stored numbers and in the figure the browser draws.

One thread throughout (ceilings and runs alike): a single thread's ceilings are the least
disturbed by whatever else shares the CI machine, and the runs then meet the ceilings they
are judged against.
"""

from __future__ import annotations

import json

import pytest

from harness import zoo
from harness.analysis.static import analyze
from harness.store.store import RunStore
from tests.report.browser import open_report

pytestmark = pytest.mark.timeout(240)

MOBILENET = "mobilenet_v2_0.35_96-fp32-tflite"  # inverted residuals: depthwise 3x3 + 1x1, AI ≈ 2 op/B
MOBILENET_ONNX = "mobilenet_v2_0.35_96-fp32-onnx"  # same network, per-op times from onnxruntime
DENSE = "ic01-fp32-tflite"  # MLPerf Tiny ResNet-8: full 3x3 convolutions, AI ≈ 18 op/B


def test_multi_model_local_report_places_mobilenet_left_of_the_ridge(cli, tmp_path):
    ceil = cli("ceilings", "--device", "local", "--threads", "1", "--json")
    assert ceil.returncode == 0, ceil.stderr
    ceilings = json.loads(ceil.stdout)
    ridge = ceilings["peak_ops_per_s"]["fp32"] / ceilings["bandwidth_bytes_per_s"]["DRAM"]

    run = cli("run", "-d", "local", "-m", MOBILENET, "-m", DENSE, "-m", MOBILENET_ONNX, "--threads", "1",
              "--stop", "fixed", "--count", "300", "--op-profile", "20", "--no-thermal-gate", "--json")
    assert run.returncode == 0, run.stderr
    report = cli("report", "--json")
    assert report.returncode == 0, report.stderr
    out = tmp_path / json.loads(report.stdout)["path"]

    runs = {m.model.name: m for m in RunStore(tmp_path / "results").manifests()}
    rl = {name: m.summary.roofline for name, m in runs.items()}
    assert all(r is not None for r in rl.values()), {k: runs[k].summary.warnings for k, r in rl.items() if r is None}
    for r in rl.values():
        assert r["dtype"] == "fp32" and r["level"] == "DRAM"
        assert r["ridge_point"] == pytest.approx(ridge)
        assert r["per_op_min_time_s"] >= r["model_min_time_s"]
    mobilenet, dense, onnx = rl[MOBILENET], rl[DENSE], rl[MOBILENET_ONNX]
    print(f"ridge {ridge:.2f} op/B; AI {MOBILENET} {mobilenet['arithmetic_intensity']:.2f}, "
          f"{DENSE} {dense['arithmetic_intensity']:.2f}; ceilings {ceilings['peak_ops_per_s']} "
          f"{ceilings['bandwidth_bytes_per_s']}")
    assert mobilenet["arithmetic_intensity"] < ridge and mobilenet["bound"] == "memory"
    assert dense["arithmetic_intensity"] > ridge and dense["bound"] == "compute"
    # per-op truth from onnxruntime's profiler: a large share of the MobileNet's time is in
    # memory-bound ops (how large moves with the measured ridge, so only its consistency is exact)
    assert onnx["n_ops_timed"] >= 20
    mem_share = sum(o["time_share"] or 0 for o in onnx["ops"] if o["bound"] == "memory")
    assert onnx["memory_bound_time_share"] == pytest.approx(mem_share, rel=1e-6)
    assert 0.25 < onnx["memory_bound_time_share"] < 1
    # every depthwise convolution (ONNX Conv with [C, 1, k, k] weights) sits left of the ridge
    static = analyze(zoo.model_file(MOBILENET_ONNX))
    dw_names = {o.name for o in static.ops if o.type == "Conv" and o.input_shapes[1][1] == 1 and o.input_shapes[1][2] > 1}
    depthwise = [o for o in onnx["ops"] if o["name"] in dw_names]
    assert len(depthwise) == 17 and all(o["bound"] == "memory" for o in depthwise)
    assert sum(o["time_share"] or 0 for o in depthwise) > 0.2  # and they take a good part of the time

    page = open_report(out, tmp_path / "report.png")
    print(f"screenshot: {tmp_path / 'report.png'}")
    assert page.page_errors == [] and page.dialogs == []
    fig = next(f for f in page.figures if f["id"] == "fig-roofline-local")
    ridge_trace = next(t for t in fig["traces"] if (t["meta"] or {}).get("role") == "ridge")
    points = {t["meta"]["run_id"]: t["x"][0] for t in fig["traces"] if (t["meta"] or {}).get("role") == "model"}
    assert ridge_trace["x"][0] == pytest.approx(ridge, rel=1e-6)
    assert points[runs[MOBILENET].run_id] < ridge_trace["x"][0] < points[runs[DENSE].run_id]
    assert any((t["meta"] or {}).get("role") == "ops" for t in fig["traces"])  # per-op points drawn
