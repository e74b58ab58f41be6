"""End to end on this host: measure the ceilings, run several zoo models, write the report,
and check that the roofline never contradicts itself — in the stored numbers and in the
figure the browser draws — whatever this host's ceilings are: each model is judged against
the memory level its working set fits in, its bound matches its side of that ridge, no
efficiency exceeds 100 %, and the per-op bound is never below the whole-model bound.
(Where the models sit against a fixed, phone-class roof is checked in test_roofline.py,
independently of this host.)

One thread throughout (ceilings and runs alike): a single thread's ceilings are the least
disturbed by whatever else shares the CI machine, and the runs then meet the ceilings they
are judged against.
"""

from __future__ import annotations

import json

import pytest

from harness import zoo
from harness.analysis.ceilings import Ceilings, roof_for
from harness.analysis.static import analyze
from harness.store.store import RunStore
from tests.report.browser import open_report

pytestmark = pytest.mark.timeout(240)

MOBILENET = "mobilenet_v2_0.35_96-fp32-tflite"  # inverted residuals: depthwise 3x3 + 1x1, AI ≈ 2 op/B
MOBILENET_ONNX = "mobilenet_v2_0.35_96-fp32-onnx"  # same network, per-op times from onnxruntime
DENSE = "ic01-fp32-tflite"  # MLPerf Tiny ResNet-8: full 3x3 convolutions, AI ≈ 18 op/B


def test_multi_model_local_report_is_consistent_with_its_ceilings(cli, tmp_path):
    ceil = cli("ceilings", "--device", "local", "--threads", "1", "--json")
    assert ceil.returncode == 0, ceil.stderr
    ceilings = json.loads(ceil.stdout)
    peak, bandwidth = ceilings["peak_ops_per_s"]["fp32"], ceilings["bandwidth_bytes_per_s"]

    run = cli("run", "-d", "local", "-m", MOBILENET, "-m", DENSE, "-m", MOBILENET_ONNX, "--threads", "1",
              "--stop", "fixed", "--count", "300", "--op-profile", "20", "--no-thermal-gate", "--json")
    assert run.returncode == 0, run.stderr
    report = cli("report", "--json")
    assert report.returncode == 0, report.stderr
    out = tmp_path / json.loads(report.stdout)["path"]

    runs = {m.model.name: m for m in RunStore(tmp_path / "results").manifests()}
    rl = {name: m.summary.roofline for name, m in runs.items()}
    assert all(r is not None for r in rl.values()), {k: runs[k].summary.warnings for k, r in rl.items() if r is None}
    stored = Ceilings.model_validate_json((tmp_path / "results" / "ceilings" / "local.json").read_text())
    for name, r in rl.items():
        static = analyze(zoo.model_file(name))
        footprint = static.weight_bytes + static.activation_bytes.peak_live
        assert r["dtype"] == "fp32" and r["footprint_bytes"] == footprint
        # the roof follows the working set, and the report can say why
        assert r["level"] == roof_for(stored, "fp32", footprint, 1).level and r["level_reason"]
        assert r["ridge_point"] == pytest.approx(peak / bandwidth[r["level"]])
        assert r["bound"] == ("memory" if r["arithmetic_intensity"] < r["ridge_point"] else "compute")
        assert r["per_op_min_time_s"] >= r["model_min_time_s"] * (1 - 1e-9)  # equal up to rounding for one-op models
        assert r["efficiency"] is None or 0 < r["efficiency"] <= 1
        assert bool(r.get("ceiling_too_low")) == (r["efficiency"] is None)
    mobilenet, dense, onnx = rl[MOBILENET], rl[DENSE], rl[MOBILENET_ONNX]
    print(f"AI {MOBILENET} {mobilenet['arithmetic_intensity']:.2f} vs {mobilenet['level']} ridge "
          f"{mobilenet['ridge_point']:.2f}; {DENSE} {dense['arithmetic_intensity']:.2f} vs {dense['level']} ridge "
          f"{dense['ridge_point']:.2f}; ceilings {ceilings['peak_ops_per_s']} {bandwidth}; busy {ceilings['busy']}")
    assert mobilenet["arithmetic_intensity"] < dense["arithmetic_intensity"]
    # per-op truth from onnxruntime's profiler, labelled with how many iterations it comes from
    assert onnx["n_ops_timed"] >= 20
    assert onnx["op_profile_iterations"] == 20 and onnx["op_profile_few"] is True
    mem_share = sum(o["time_share"] or 0 for o in onnx["ops"] if o["bound"] == "memory")
    assert onnx["memory_bound_time_share"] == pytest.approx(mem_share, rel=1e-6)
    for o in onnx["ops"]:
        if o["bound"] is not None:
            assert o["bound"] == ("memory" if o["arithmetic_intensity"] < onnx["ridge_point"] else "compute")
    static = analyze(zoo.model_file(MOBILENET_ONNX))
    dw_names = {o.name for o in static.ops if o.type == "Conv" and o.input_shapes[1][1] == 1 and o.input_shapes[1][2] > 1}
    depthwise = [o for o in onnx["ops"] if o["name"] in dw_names]
    assert len(depthwise) == 17 and sum(o["time_share"] or 0 for o in depthwise) > 0.05

    page = open_report(out, tmp_path / "report.png")
    print(f"screenshot: {tmp_path / 'report.png'}")
    assert page.page_errors == [] and page.dialogs == []
    fig = next(f for f in page.figures if f["id"] == "fig-roofline-local")
    ridges = {(t["meta"]["dtype"], t["meta"]["level"]): t["x"][0]
              for t in fig["traces"] if (t["meta"] or {}).get("role") == "ridge"}
    points = {t["meta"]["run_id"]: t["x"][0] for t in fig["traces"] if (t["meta"] or {}).get("role") == "model"}
    for name, r in rl.items():
        ridge = ridges[("fp32", r["level"])]  # every roof a run is judged against is drawn
        assert ridge == pytest.approx(r["ridge_point"], rel=1e-6)
        assert (points[runs[name].run_id] < ridge) == (r["bound"] == "memory")
    assert any((t["meta"] or {}).get("role") == "ops" for t in fig["traces"])  # per-op points drawn
