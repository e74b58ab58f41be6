"""`harness ingest --format trtexec|onnxruntime_perf_test|mlperf_tiny` on every capture of those
tools: each becomes a run record whose figures are checked in the record read back from disk
(typed results, phases, memory, samples, ops), not only "parsed". The benchmark_model
captures are ingested and value-checked in tests/logs/test_benchmark_model_captures.py."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from harness.errors import HarnessError
from harness.ingest.files import ingest_file
from harness.runners.trtexec_record import TrtexecResult
from harness.store.results import MlperfTinyResult, MonitorEnergy, ToolAggregates
from harness.store.store import RunStore
from tests.logs.conftest import capture_path, every

approx = pytest.approx


@pytest.fixture
def ingest(tmp_path):
    def _ingest(fmt: str, tool: str, name: str, path=None):
        ((manifest, _run),) = ingest_file(fmt, path or capture_path(tool, name), results=tmp_path / "results")
        return RunStore(tmp_path / "results").load(manifest.run_id)
    return _ingest


# -- trtexec ---------------------------------------------------------------------------------

TRTEXEC = {
    # capture: (TensorRT version, model, throughput qps, metric -> median s, not measured, op rows)
    "trt10.0.1_x86_sm89_custom_plugins_segfault_zh_after_passed_PARTIAL.txt":
        ("10.0.1", "7.29", 742.821, {"enqueue": 0.549438e-3}, [], 0),
    "trt10.13_jetson_agx_thor_jp7.0_prefix_stripped_3lines_PARTIAL.txt":
        (None, "unknown", 1.55139, {}, [], 0),
    "trt10.3_jetson_jp6_resnet50_sample_noDataTransfers_zero_h2d_d2h_PARTIAL.txt":
        ("10.3.0", "ResNet50", 318.007, {}, ["h2d", "d2h"], 0),
    "trt7.1.3_jetson_agx_xavier_jp4.5.1_dla_gpu_compute_block_and_profile_no_timestamps_PARTIAL.txt":
        (None, "unknown", None, {"gpu_compute": 3.66748e-3}, [], 6),
    "trt8.0.1_jetson_nano_tegra_x1_exportTimes_enqueue_bound_warning.txt":
        ("8.0.1", "best_deepstream.onnx_b1_gpu0_fp16", 24.5583, {"latency": 40.6337e-3, "gpu_compute": 39.9982e-3}, [],
         0),
    "trt8.4.0_jetson_agx_xavier_meta_tegra_mnist_batch16_p99only_PARTIAL.txt":
        ("8.4.0", "mnist16", 41087.7, {}, [], 0),
    "trt8.5.2_jetson_agx_orin_jp5.1.1_dla_foreignnode_profile_table_PARTIAL.txt":
        (None, "unknown", None, {}, [], 4),
    "trt8.5.2_jetson_xavier_nx_dumpProfile_verbose_no_perf_summary.txt":
        ("8.5.2", "LPR_net", None, {}, [], 28),
    "trt8.6plus_2025_agx_orin_32gb_resnet18_p90_p95_p99_indented4_PARTIAL.txt":
        (None, "unknown", 974.492, {}, [], 0),
    "trt8.x_2025_orin_nano_8gb_streams2_p99only_walltime_lt_gpu_PARTIAL.txt":
        (None, "unknown", None, {"gpu_compute": 12.3491e-3, "latency": 13.4062e-3}, [], 0),
}


def test_every_trtexec_capture_has_its_record_checked():
    logs = [n for n in every("trtexec") if not n.endswith(".profile.json.txt")]
    assert sorted(logs) == sorted(TRTEXEC)


@pytest.mark.parametrize("name", sorted(TRTEXEC))
def test_trtexec_capture_ingested(ingest, name):
    version, model, qps, medians, not_measured, ops = TRTEXEC[name]
    run = ingest("trtexec", "trtexec", name)
    m = run.manifest
    r = m.result(TrtexecResult)
    assert m.status == "ok" and m.runtime.name == "trtexec" and m.runtime.version == version
    assert m.model.name == model and r.tensorrt_version == version
    if qps is not None:
        assert r.throughput_qps == approx(qps)
    for metric, median in medians.items():
        assert r.printed[metric].median_s == approx(median)
    assert r.not_measured == not_measured and not set(not_measured) & set(r.printed)
    assert run.ops.num_rows == ops and run.samples.num_rows == 0  # no export beside the log: no samples made up
    assert r.engine.source == "log" and r.sample_metric is None
    if r.printed:  # the summary's latency is trtexec's own figure, said so
        assert m.summary.roofline is None and "no steady-state samples" not in m.summary.warnings


def test_trtexec_nano_log_keeps_the_six_metrics_apart_and_its_options(ingest):
    run = ingest("trtexec", "trtexec", "trt8.0.1_jetson_nano_tegra_x1_exportTimes_enqueue_bound_warning.txt")
    m, r = run.manifest, run.manifest.result(TrtexecResult)
    assert set(r.printed) == {"latency", "end_to_end", "enqueue", "h2d", "gpu_compute", "d2h"}
    assert (r.printed["end_to_end"].mean_s, r.printed["enqueue"].max_s, r.printed["h2d"].min_s,
            r.printed["d2h"].mean_s) == (approx(40.6771e-3), approx(40.6204e-3), approx(0.487671e-3),
                                          approx(0.0852185e-3))
    assert r.printed["gpu_compute"].percentiles == {"p99": approx(40.1931e-3)} and r.printed["latency"].count == 100
    assert (r.queries, r.warmup_queries, r.total_gpu_compute_s) == (100, 1, approx(4.00027))
    assert m.phases.load_s == approx(3.86437) and r.engine.size_bytes == 10e6
    assert m.model.format == "tensorrt" and m.config.stop.count == 100 and m.config.options == {"precision": "fp16"}
    assert any("bound by Enqueue Time" in w for w in m.summary.warnings)
    assert any("--exportTimes=times.json, which is not beside it" in n for n in m.notes)
    assert r.details["device"]["Selected Device"] == "NVIDIA Tegra X1"
    # its typical latency is trtexec's median host latency, said so
    assert m.summary.latency is None and r.typical_latency()[0] == approx(40.6337e-3)


def test_trtexec_no_data_transfers_zeros_are_not_measured(ingest):
    run = ingest("trtexec", "trtexec", "trt10.3_jetson_jp6_resnet50_sample_noDataTransfers_zero_h2d_d2h_PARTIAL.txt")
    r = run.manifest.result(TrtexecResult)
    assert "h2d" not in r.printed and "d2h" not in r.printed and r.not_measured == ["h2d", "d2h"]
    assert r.printed["gpu_compute"].mean_s == approx(3.14068e-3) and r.precision == "fp16"
    assert run.manifest.config.options == {"precision": "fp16", "no_data_transfers": True}
    assert any("not measured" in w for w in run.manifest.summary.warnings)


def test_trtexec_exports_beside_the_log_become_samples_and_ops(ingest, tmp_path):
    """The nano log names --exportTimes=times.json and --exportProfile=profile.json: put exports there
    (the profile is the DLA capture; the times a stand-in trtexec run's), and they are read."""
    folder = tmp_path / "session"
    folder.mkdir()
    log = folder / "trtexec.log"
    shutil.copy(capture_path("trtexec", "trt8.0.1_jetson_nano_tegra_x1_exportTimes_enqueue_bound_warning.txt"), log)
    shutil.copy(capture_path("trtexec", "trt_exportProfile_json_jetson_agx_xavier_googlenet_dla_mark_at_10.profile"
                                        ".json.txt"), folder / "profile.json")
    queries = [{"startEnqMs": 50 + 41 * i, "endEnqMs": 50.4 + 41 * i, "startH2dMs": 50.5 + 41 * i,
                "endH2dMs": 51 + 41 * i, "startComputeMs": 51 + 41 * i, "endComputeMs": 91 + 41 * i,
                "startD2hMs": 91 + 41 * i, "endD2hMs": 91.1 + 41 * i, "h2dMs": 0.5, "computeMs": 40 + i / 100,
                "d2hMs": 0.1, "latencyMs": 40.6 + i / 100, "endToEndMs": 40.6 + i / 100} for i in range(100)]
    (folder / "times.json").write_text("[\n" + "\n".join(("  " if i == 0 else ", ") + str(q).replace("'", '"')
                                                       for i, q in enumerate(queries)) + "\n]\n")
    run = ingest("trtexec", "trtexec", None, path=log)
    r = run.manifest.result(TrtexecResult)
    samples = run.samples.to_pylist()
    assert len(samples) == 100 and samples[3]["latency_ns"] == round(40.63e6) and r.sample_metric == "latency"
    assert samples[3]["start_ns"] == round(50.5e6 + 3 * 41e6)  # trtexec's own origin, as the record says
    assert "own" in r.clock["origin"] and "steady_start_ns" not in run.manifest.timeline
    assert r.per_query["gpu_compute"].median_s == approx(40.495e-3) and r.per_query["latency"].count == 100
    assert run.manifest.summary.latency.median_s == approx(41.095e-3)
    ops = run.ops.to_pylist()
    assert len(ops) == 8 and ops[3]["name"] == "(Unnamed Layer* 10) [Convolution]_output from nvm"
    assert ops[3]["time_s"] == approx(3.35052e-3) and ops[3]["count"] == 11296
    assert not any("not beside it" in n for n in run.manifest.notes)


def test_a_trtexec_profile_export_alone_is_not_a_log(tmp_path):
    with pytest.raises(HarnessError, match="not trtexec output") as e:
        ingest_file("trtexec", capture_path("trtexec", "trt_exportProfile_json_jetson_agx_xavier_googlenet_dla_mark_at_"
                                                       "10.profile.json.txt"), results=tmp_path / "r")
    assert str(e.value).count("trt_exportProfile_json") == 1  # the path is named once
    assert not (tmp_path / "r").exists()


def test_a_failed_trtexec_log_is_a_failed_record_of_its_kind(tmp_path):
    log = tmp_path / "failed.log"
    log.write_text("&&&& RUNNING TensorRT.trtexec [TensorRT v8502] # trtexec --onnx=yolo.onnx\n"
                   "[04/01/2024-10:00:00] [E] [TRT] ModelImporter.cpp:776: ERROR: ModelImporter.cpp:134 In function "
                   "parseGraph:\n[04/01/2024-10:00:00] [E] [8] No importer registered for op: DCNv2\n"
                   "[04/01/2024-10:00:00] [E] Failed to parse onnx file\n"
                   "&&&& FAILED TensorRT.trtexec [TensorRT v8502] # trtexec --onnx=yolo.onnx\n")
    ((m, _),) = ingest_file("trtexec", log, results=tmp_path / "r")
    assert m.status == "failed" and m.error.kind == "unsupported_op" and m.error.transient is False
    assert "Failed to parse onnx file" in m.error.message and m.model.name == "yolo"


# -- onnxruntime_perf_test ------------------------------------------------------------------

ORT = {
    # capture: (requests, mean s, median s, session s, first s, peak bytes, cpu fraction, qps, qps source, threads)
    "ort1.20.1_embedded_linux_sdk_acl_ep_parallel_executor_mobilenetv3_excerpt.txt":
        (8, 17.735e-3, 0.0167086, 0.0273071, 0.020, 35299328, 0.98, 56.3415, "printed", None),
    "ort1.3.1_2020_android_acl_ep_squeezenet_no_qps_no_percentiles.txt":
        (10, 144.871e-3, None, 0.127918, None, 158171136, 0.68, 10 / 1.44916, "derived", None),
    "ort_2025_android_vivo_x300_dimensity9500_c1pro_sme2_cost_total.txt":
        (5, 98.961997e-3, 0.0995086, 0.217932, 0.196, 271122432, 0.11, 10.104, "printed", 1),
    "ort_dev_2025_windows_x64_squeezenet_10000runs.txt":
        (10000, 0.940745e-3, 0.0009458, 0.0183481, 0.002, 50905088, 0.74, 1062.57, "printed", None),
    "ort_spacemit_ort2.0_riscv_k1_or_k3_spacemit_ep_thread_option_cost_total.txt":
        (10, 7.270205e-3, 0.00727787, 0.169475, 0.109, 91336704, 0.62, 137.435, "printed", 1),
}


def test_every_onnxruntime_perf_test_capture_has_its_record_checked():
    assert sorted(every("onnxruntime_perf_test")) == sorted(ORT)


@pytest.mark.parametrize("name", sorted(ORT))
def test_onnxruntime_perf_test_capture_ingested(ingest, name):
    requests, mean, median, session, first, peak, cpu, qps, qps_source, threads = ORT[name]
    run = ingest("onnxruntime_perf_test", "onnxruntime_perf_test", name)
    m = run.manifest
    agg = m.result(ToolAggregates)
    assert m.status == "ok" and m.runtime.name == "onnxruntime_perf_test" and m.model.format == "onnx"
    assert agg.source == "onnxruntime_perf_test" and run.samples.num_rows == 0  # statistics only, none made up
    assert agg.steady.count == requests == m.config.stop.count and agg.steady.mean_s == approx(mean)
    assert agg.steady.median_s == (approx(median) if median is not None else None)
    assert m.phases.init_s == approx(session) and m.phases.first_s == (approx(first) if first else None)
    assert m.summary.memory["peak_working_set_bytes"] == peak
    assert agg.details["cpu_usage"] == approx(cpu)
    assert agg.details["throughput_per_s"] == approx(qps) and agg.details["throughput_source"] == qps_source
    assert m.config.threads == threads
    expected = median if median is not None else mean
    assert agg.typical_latency()[0] == approx(expected) and "no steady-state samples" not in m.summary.warnings


def test_onnxruntime_perf_test_percentiles_and_vendor_provider(ingest):
    run = ingest("onnxruntime_perf_test", "onnxruntime_perf_test", "ort_dev_2025_windows_x64_squeezenet_10000runs.txt")
    agg = run.manifest.result(ToolAggregates)
    assert agg.steady.percentiles == {"p50": approx(0.0009458), "p90": approx(0.0010243), "p95": approx(0.0010686),
                                      "p99": approx(0.0012057), "p99.9": approx(0.00136)}
    assert (agg.steady.min_s, agg.steady.max_s) == (approx(0.0007726), approx(0.0018647))
    vendor = ingest("onnxruntime_perf_test", "onnxruntime_perf_test",
                    "ort_spacemit_ort2.0_riscv_k1_or_k3_spacemit_ep_thread_option_cost_total.txt").manifest
    assert vendor.runtime.details["execution_provider"] == "SpaceMITExecutionProvider"
    assert vendor.result(ToolAggregates).details["mean_kind"] == "total"
    few = ingest("onnxruntime_perf_test", "onnxruntime_perf_test",
                 "ort_2025_android_vivo_x300_dimensity9500_c1pro_sme2_cost_total.txt").manifest
    assert any("only 5 requests" in w for w in few.summary.warnings)


# -- MLPerf Tiny -----------------------------------------------------------------------------

TINY = {
    # capture: (mode, windows, median throughput, valid, top1, auc, median energy J/inf, samples, combined)
    "v0.5_reference_nucleo_l4r5zi_kws_accuracy_results.txt": ("accuracy", 0, None, None, 0.901, 0.99, None, 0, False),
    "v0.5_reference_nucleo_l4r5zi_kws_energy_log.txt": ("energy", 5, 5.539, True, None, None, 7373.704e-6, 0, True),
    "v0.5_reference_nucleo_l4r5zi_kws_energy_results.txt": ("energy", 5, 5.539, True, None, None, 7373.704e-6, 0, True),
    "v0.5_reference_nucleo_l4r5zi_kws_performance_log.txt": ("performance", 5, 5.497, True, None, None, None, 5, True),
    "v0.5_reference_nucleo_l4r5zi_kws_performance_results.txt":
        ("performance", 5, 5.497, True, None, None, None, 5, True),
    "v1.0_greenwaves_gap9_650_240_vww_energy_results_ulp-ml_prefix.txt":
        ("energy", 5, 577.979, True, None, None, 40.801e-6, 0, False),
    "v1.0_greenwaves_gap9_650_240_vww_performance_results.txt":
        ("performance", 5, 577.028, True, None, None, None, 0, False),
    "v1.0_qualcomm_snapdragon_hdk_ad_performance_results_single_window.txt":
        ("performance", 1, 10199.626, True, None, None, None, 0, False),
    "v1.0_syntiant_ndp9120_0v9_30mhz_kws_performance_log_dut_debug_lines_no_final_newline.txt":
        ("performance", 5, None, None, None, None, None, 5, False),
    "v1.1_bosch_nucleo_g0b1re_ic_performance_results_sub1_infps.txt":
        ("performance", 5, 0.599, True, None, None, None, 0, False),
    "v1.1_nuvoton_numaker_m467hj_zephyr_vww_accuracy_results.txt": ("accuracy", 0, None, None, 0.847, 0.77, None, 0, False),
    "v1.2_skymizer_tinkerv_linux_andes_nn_ic_performance_results.txt":
        ("performance", 5, 29.967, True, None, None, None, 0, False),
    "v1.3_qualcomm_snapdragon_mtp_ic_performance_results_median_only_crlf.txt":
        ("performance", 0, 10436.648, None, None, None, None, 0, False),
    "v1.3_st_nucleo_u385rg_q_kws_accuracy_results_top1_equals_crlf.txt":
        ("accuracy", 0, None, None, 0.902, 0.995, None, 0, False),
    "v1.3_st_nucleo_u385rg_q_kws_energy_results_power_edition_crlf.txt":
        ("energy", 0, None, None, None, None, 245.3412e-6, 0, False),
    "v1.3_st_nucleo_u385rg_q_kws_performance_log_crlf_new_runner.txt":
        ("performance", 5, 20.703, True, None, None, None, 0, True),
    "v1.3_st_nucleo_u385rg_q_kws_performance_results_crlf_new_runner.txt":
        ("performance", 5, 20.703, True, None, None, None, 0, True),
    "v1.3_st_nucleo_u385rg_q_sww_energy_results_streaming_crlf.txt":
        ("energy", 0, None, None, None, None, 4782776.800e-6, 0, False),
}


def test_every_mlperf_tiny_capture_has_its_record_checked():
    assert sorted(every("mlperf_tiny")) == sorted(TINY)


@pytest.mark.parametrize("name", sorted(TINY))
def test_mlperf_tiny_capture_ingested(ingest, name):
    mode, windows, median, valid, top1, auc, energy, samples, combined = TINY[name]
    run = ingest("mlperf_tiny", "mlperf_tiny", name)
    m = run.manifest
    r = m.result(MlperfTinyResult)
    assert m.status == "ok" and r.mode == mode and len(r.windows) == windows and r.valid == valid
    if median is not None:
        assert r.median_throughput_per_s == approx(median) and r.latency_s == approx(1 / median)
    assert (r.top1, r.auc) == ((approx(top1), approx(auc)) if top1 is not None else (None, None))
    if energy is not None:
        e = m.result(MonitorEnergy)
        assert e.j_per_inference_median == approx(energy) and m.summary.energy_j_per_inference == approx(energy)
    else:
        assert m.result(MonitorEnergy) is None
    assert run.samples.num_rows == samples
    assert any("combined with" in n for n in m.notes) == combined
    for w in r.windows:  # every window: inferences, runtime and a latency that is their quotient
        assert w.inferences > 0 and w.elapsed_s > 0 and w.latency_s == approx(w.elapsed_s / w.inferences)
    assert "no steady-state samples" not in m.summary.warnings


def test_mlperf_tiny_results_and_log_combined_into_device_stamped_windows(ingest):
    run = ingest("mlperf_tiny", "mlperf_tiny", "v0.5_reference_nucleo_l4r5zi_kws_performance_results.txt")
    r = run.manifest.result(MlperfTinyResult)
    assert [w.window for w in r.windows] == [2, 4, 6, 8, 10] and {w.inferences for w in r.windows} == {100}
    assert all(len(w.lap_us) == 2 and w.results for w in r.windows)  # the log's device stamps and predictions
    samples = run.samples.to_pylist()
    assert [s["inferences"] for s in samples] == [100] * 5
    for s, w in zip(samples, r.windows):  # the device's own µs stamps: (lap1 - lap0) / inferences
        assert s["latency_ns"] == round((w.lap_us[1] - w.lap_us[0]) * 1000 / 100)
    assert run.manifest.summary.latency.median_s == approx(18.192 / 100, rel=2e-3)
    assert run.manifest.runtime.details["device"]["model"] == "kws01" and run.manifest.model.name == "kws01"


def test_mlperf_tiny_energy_windows_and_streaming(ingest):
    gap9 = ingest("mlperf_tiny", "mlperf_tiny", "v1.0_greenwaves_gap9_650_240_vww_energy_results_ulp-ml_prefix.txt")
    e = gap9.manifest.result(MonitorEnergy)
    assert [w.window for w in e.windows] == [2, 4, 6, 8, 10]
    first = e.windows[0]
    assert (first.start_s, first.elapsed_s, first.energy_j, first.power_w, first.energy_j_per_inference) == (
        approx(86.21), approx(10.38), approx(247755.150e-6), approx(23868.512e-6), approx(41.293e-6))
    assert first.inferences is None  # EnergyRunner 3 prints no count for an energy window
    assert gap9.manifest.summary.power_w_mean == approx(e.power_w_mean)
    st = ingest("mlperf_tiny", "mlperf_tiny", "v1.3_st_nucleo_u385rg_q_kws_energy_results_power_edition_crlf.txt")
    w = st.manifest.result(MonitorEnergy).windows
    assert [x.window for x in w] == [0, 1, 2, 3, 4] and w[1].elapsed_s == approx(12.056) and w[0].inferences == 250
    assert w[0].power_w == approx(5.0860e-3) and w[0].start_s is None
    sww = ingest("mlperf_tiny", "mlperf_tiny", "v1.3_st_nucleo_u385rg_q_sww_energy_results_streaming_crlf.txt")
    assert sww.manifest.result(MlperfTinyResult).streaming == {
        "true_positives": 44, "false_negatives": 6, "false_positives": 4, "duty_cycle": approx(0.60618),
        "period_s": approx(0.03207), "estimated_throughput_per_s": approx(51.44)}


def test_single_window_and_median_only_files_say_what_they_lack(ingest):
    one = ingest("mlperf_tiny", "mlperf_tiny", "v1.0_qualcomm_snapdragon_hdk_ad_performance_results_single_window.txt")
    assert any("no median throughput line" in w for w in one.manifest.summary.warnings)
    only = ingest("mlperf_tiny", "mlperf_tiny", "v1.3_qualcomm_snapdragon_mtp_ic_performance_results_median_only_crlf"
                                                ".txt").manifest
    assert only.summary.latency is None
    assert only.result(MlperfTinyResult).typical_latency() == (approx(1 / 10436.648), approx(
        "1 / median throughput of the MLPerf Tiny windows"))


def test_the_cli_lists_and_uses_the_formats(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "harness", "ingest", "--format", "mlperf_tiny",
                           str(capture_path("mlperf_tiny", "v1.1_nuvoton_numaker_m467hj_zephyr_vww_accuracy_results.txt")),
                           "--json"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["top1"], out["auc"], out["mode"]) == (approx(0.847), approx(0.77), "accuracy")
    help_text = subprocess.run([sys.executable, "-m", "harness", "ingest", "--help"], capture_output=True, text=True,
                               timeout=120, env={"COLUMNS": "200", "PATH": ""}).stdout
    for fmt in ("benchmark_model", "trtexec", "onnxruntime_perf_test", "mlperf_tiny"):
        assert fmt in help_text
    listed = json.loads(subprocess.run([sys.executable, "-m", "harness", "runtimes", "--json"], capture_output=True,
                                       text=True, timeout=120).stdout)
    assert {"benchmark_model", "trtexec", "onnxruntime_perf_test", "mlperf_tiny"} <= {
        f["format"] for f in listed["ingest_formats"]}
    assert "tensorrt" in {f["format"] for f in listed["formats"]} and "trtexec" in {r["runner"] for r in listed["runners"]}
    bad = subprocess.run([sys.executable, "-m", "harness", "ingest", "--format", "onnxruntime_perf_test",
                          str(capture_path("mlperf_tiny", "v1.1_nuvoton_numaker_m467hj_zephyr_vww_accuracy_results.txt"))],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and bad.stderr.startswith("error: ") and len(bad.stderr.strip().splitlines()) == 1
    assert "not onnxruntime_perf_test output" in bad.stderr
