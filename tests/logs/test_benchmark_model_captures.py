"""benchmark_model logs that real tools printed and the old parser refused or misread, imported
the way `harness ingest` does (a run record), with their figures checked."""

from __future__ import annotations

import pytest

from harness.errors import HarnessError
from harness.ingest.files import ingest_file
from harness.runners.benchmark_model_log import KEEP_LINES, BenchmarkLogError, parse_file, parse_lines, parse_log
from harness.store.results import ToolAggregates
from harness.store.store import RunStore
from tests.logs.conftest import capture_path, every

approx = pytest.approx
MIB = 2**20


@pytest.fixture
def ingest(tmp_path):
    def _ingest(name: str, **kw):
        path = capture_path("tflite", name)
        ((manifest, _run),) = ingest_file("benchmark_model", path, results=tmp_path / "results", **kw)
        return RunStore(tmp_path / "results").load(manifest.run_id), parse_log(path.read_text(errors="replace"))
    return _ingest


def test_every_capture_but_the_c_api_program_is_imported(ingest):
    names = every("tflite")
    assert len(names) == 9
    for name in names:
        if name.startswith("tflite_c_api"):
            continue
        run, log = ingest(name)
        assert run.manifest.status == "ok", (name, log.failure)
        assert log.other_line_count == 0, (name, log.other_lines)


def test_tf1_14_space_aligned_tables_without_a_section_heading(ingest):
    run, log = ingest("tf1.14era_2019_android_pixel_bigcores_op_profiling_space_aligned_tables.txt")
    agg = run.manifest.result(ToolAggregates)
    assert agg.warmup.count == 6 and agg.steady.count == 50
    assert agg.steady.mean_s == approx(0.115062) and agg.warmup_mean_s == approx(0.0861843)
    assert run.manifest.phases.init_s == approx(1.892e-3)
    assert log.run_limits == [{"min_runs": 1, "min_s": 0.5}, {"min_runs": 50, "min_s": 1.0}]
    ops = run.ops.to_pylist()
    assert len(ops) == 65 and [o["index"] for o in ops] == list(range(65))  # no ':N' in the names: run order
    assert (ops[0]["type"], ops[0]["name"], ops[0]["time_s"], ops[0]["count"]) == (
        "CONV_2D", "[MobilenetV2/Conv/Relu6]", approx(7.237e-3), 50)
    assert ops[-1]["type"] == "RESHAPE"
    regular = log.profiles[0]
    assert regular.nodes_observed == 65 and regular.timings.mean_s == approx(0.114924)
    assert [(t.node_type, t.count) for t in regular.by_type][:2] == [("CONV_2D", 36), ("DEPTHWISE_CONV_2D", 17)]


def test_tf2_1_old_parameter_format_single_warmup(ingest):
    run, log = ingest("tf2.1era_zedboard_zynq7000_armv7_old_param_format_no_stats.txt")
    assert log.dialect == "tflite-unprefixed" and log.params["Use gpu"] == "0" and log.delegate is None
    assert log.warmup.count == 1 and log.warmup.mean_s == approx(0.751932)
    assert log.steady.count == 50 and log.steady.std_s == approx(293e-6)
    assert run.manifest.phases.init_s == approx(0.021039) and log.inference_mean_s == approx(0.747733)
    assert run.manifest.config.threads == 1 and run.manifest.model.name == "mobilenet_v1_1.0_224_quant"


def test_tf2_5_zero_delegates_and_no_warmup_percentiles(ingest):
    run, log = ingest("tf2.5era_2021_raspberry_pi4_going_to_apply_0_delegates_PARTIAL.txt")
    assert log.extra["delegates_to_apply"] == 0 and log.model_size_bytes == approx(0.184108e6)
    assert (log.warmup.count, log.steady.count) == (7028, 14192)
    assert run.manifest.config.stop.count == 14192 and run.manifest.phases.first_s == approx(2.071e-3)


def test_logcat_prefixes_threadtime_and_android_studio(ingest):
    run, log = ingest("tf2.9_2022_android_logcat_nnapi_partial_execution_44_kernels_PARTIAL.txt")
    assert log.dialect == "tflite"
    (partial,) = [d for d in log.delegations if d.kind == "partial"]
    assert (partial.delegate, partial.kernels) == ("NNAPI", 44)
    assert (log.warmup.count, log.steady.count, log.steady.mean_s) == (40, 75, approx(12.1676e-3))
    assert run.manifest.phases.init_s == approx(0.126059)

    run, log = ingest("tf2.x_2023_android_studio_logcat_format_qti_nnapi_accelerators_PARTIAL.txt")
    assert log.params["Use NNAPI"] == "1" and log.delegate == "nnapi"
    assert run.manifest.runtime.delegate == "nnapi" and run.manifest.config.delegate == "nnapi"
    assert log.params["NNAPI accelerators available"] == "qti-default,qti-dsp,qti-gpu,qti-hta,nnapi-reference"
    assert log.extra["args"] == "--graph=/data/local/tmp/yolov8n-seg_float32.tflite --num_threads=4 --use_nnapi=true"
    assert run.manifest.model.name == "yolov8n-seg_float32" and run.manifest.config.threads == 4
    # the log stops after 'Loaded model': imported, with a warning saying what is missing
    assert any(w.startswith("truncated log") and "the parameters are kept" in w for w in run.manifest.summary.warnings)


def test_logcat_partial_xnnpack_delegation_and_missing_lines(ingest):
    run, log = ingest("tf2.x_2026_android_logcat_s_tflite_oneplus_cph2641_xnnpack_partial_delegation.txt")
    (rep,) = [d for d in log.delegations if d.kind == "replaced"]
    assert (rep.replaced_nodes, rep.total_nodes, rep.partitions) == (539, 548, 19)
    assert (log.warmup.count, log.steady.count, log.steady.median_s) == (3, 25, approx(0.141253))
    assert log.memory["footprint_delta_overall_bytes"] == approx(73.4102 * MIB)
    assert any("539 of 548 nodes" in w for w in run.manifest.summary.warnings)

    run, log = ingest("tf2.x_2026_android_logcat_s_tflite_ssd_mobilenetv3_fp16_lines_missing_PARTIAL.txt")
    # one statistics line, no 'Running benchmark' lines: the timings line says it is the regular runs
    assert log.warmup is None and (log.steady.count, log.steady.mean_s) == (25, approx(52.970e-3))
    assert log.warmup_mean_s == approx(57.2372e-3) and log.parse_warnings == []
    (rep,) = [d for d in log.delegations if d.kind == "replaced"]
    assert (rep.replaced_nodes, rep.total_nodes, rep.partitions) == (431, 461, 58)


def test_litert_profile_with_delegate_internal_nodes_uses_run_order(ingest):
    run, log = ingest("litert_2025_android_sme2_core_kleidiai_benchmark_results_block_op_profiling_run_order_PARTIAL.txt")
    assert log.dialect == "litert2"
    assert (log.warmup.count, log.steady.count) == (1055, 2112)
    assert log.extra["throughput_bytes_per_s"] == approx(525.55e6)
    ops = run.ops.to_pylist()
    assert [o["index"] for o in ops] == [0, 1, 2, 3, 4]
    gemm = ops[3]
    assert (gemm["type"], gemm["name"], gemm["time_s"]) == (
        "Fully Connected (NC, PF32) GEMM", "Delegate/Fully Connected (NC, PF32) GEMM:1", approx(0.382e-3))
    assert any("run-order positions" in n for n in run.manifest.notes)


def test_the_c_api_program_output_is_not_a_benchmark_model_log(tmp_path):
    with pytest.raises(HarnessError, match="only TFLite runtime lines; its errors: 'TfLiteGpuDelegate Init"):
        ingest_file("benchmark_model",
                    capture_path("tflite", "tflite_c_api_2.9.1_android_gpu_delegate_old_replacing_format_init_failure_"
                                 "segfault.txt"), results=tmp_path / "results")
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())


@pytest.mark.parametrize("line, replaced, total, parts", [
    ("Replacing 2 node(s) with delegate (TfLiteGpuDelegateV2) node, yielding 1 partitions.", 2, None, 1),
    ("Replacing 64 out of 64 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 1 partitions "
     "for the whole graph.", 64, 64, 1),
    ("Replacing 5 out of 9 node(s) with delegate (TfLiteNnapiDelegate) node, yielding 2 partitions for subgraph 1.",
     5, 9, 2),
])
def test_every_replacing_wording(line, replaced, total, parts):
    log = parse_log(f"STARTING!\nINFO: {line}\nINFO: count=5 first=10 curr=10 min=10 max=10 avg=10 std=0\n")
    (d,) = log.delegations
    assert (d.replaced_nodes, d.total_nodes, d.partitions) == (replaced, total, parts)


def test_runtime_version_delegate_and_truncation_kept_with_the_warmup():
    text = ("INFO: STARTING!\nINFO: Tensorflow Version : 2.15.0\nINFO: Graph: [m.tflite]\nINFO: Use gpu: [1]\n"
            "INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if "
            "exceeding 150 seconds.\nINFO: count=9 first=200 curr=100 min=90 max=200 avg=110 std=30\n")
    log = parse_log(text)
    assert (log.runtime_version, log.delegate) == ("2.15.0", "gpu")
    assert log.warmup.count == 9 and log.steady is None and not log.failed
    assert log.parse_warnings and "the warmup statistics" in log.parse_warnings[0]


def test_nan_cells_and_duplicate_indices_in_op_tables():
    text = capture_path("tflite", "litert_2025_android_sme2_core_kleidiai_benchmark_results_block_op_profiling_run_"
                        "order_PARTIAL.txt").read_text()
    text = text.replace("\t    0.538\t    0.382\t 92.948%", "\t      nan\t      nan\t     nan%", 1)
    log = parse_log(text)
    gemm = log.ops[3]
    assert gemm.avg_s != gemm.avg_s and gemm.first_s != gemm.first_s  # NaN kept as NaN
    assert gemm.times_called == 1


def test_a_lone_key_value_line_is_not_a_log_and_an_empty_text_says_so():
    with pytest.raises(BenchmarkLogError, match=r"only 1 'key: \[value\]' parameter line"):
        parse_log("Author: [someone]\n")
    with pytest.raises(BenchmarkLogError, match="the text is empty"):
        parse_log("")


def test_streamed_parse_keeps_no_text_and_bounds_the_lines_it_keeps(tmp_path):
    path = tmp_path / "noisy.log"
    with open(path, "w") as fh:
        fh.write("INFO: STARTING!\n")
        for i in range(3 * KEEP_LINES):
            fh.write(f"vendor chatter {i}\nWARN: warning {i}\n")
        fh.write("INFO: count=5 first=10 curr=10 min=10 max=10 avg=10 std=0\n")
    log = parse_file(path)
    assert log.raw is None
    assert (log.other_line_count, len(log.other_lines)) == (3 * KEEP_LINES, KEEP_LINES)
    assert (log.warning_count, len(log.warnings)) == (3 * KEEP_LINES, KEEP_LINES)
    assert parse_lines(iter(path.read_text().splitlines())).other_line_count == 3 * KEEP_LINES
