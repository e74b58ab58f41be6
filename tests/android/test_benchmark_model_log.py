"""The benchmark_model log parser against every verbatim capture (tests/android/fixtures/)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.runners.benchmark_model_log import BenchmarkLogError, parse_log, parse_stats
from tests.adb_emulator.fixtures import STAND_IN
from tests.android.conftest import FIXTURES, capture

MIB = 1024 * 1024


def test_every_capture_is_accepted():
    names = sorted(p.name for p in FIXTURES.glob("*.txt"))
    assert len(names) == 8
    for name in names:
        log = parse_log(capture(name))
        assert log.raw == capture(name)


def test_adb_cpu_xnnpack_count1_warmup():
    log = parse_log(capture("android_adb_cpu_xnnpack_count1_percentiles.txt"))
    assert log.dialect == "tflite" and not log.failed
    assert log.graph == "/data/local/tmp/mask_estimator_phy.tflite"
    assert log.params["Num threads"] == "4"
    assert log.model_size_bytes == pytest.approx(16.1527e6)
    assert log.init_s == pytest.approx(0.10232)
    assert log.first_s == pytest.approx(0.670083)
    assert log.warmup_mean_s == pytest.approx(0.670083)
    assert log.inference_mean_s == pytest.approx(0.699438)
    # count=1 warmup: only curr= and percentiles; min/max/mean are that one value
    w = log.warmup
    assert (w.count, w.min_s, w.max_s, w.mean_s, w.std_s) == (1, 0.670083, 0.670083, 0.670083, 0.0)
    s = log.steady
    assert s.count == 50
    assert (s.first_s, s.min_s, s.max_s, s.mean_s, s.std_s) == pytest.approx((0.591245, 0.502355, 2.270688, 0.699438, 0.325425))
    assert (s.p5_s, s.median_s, s.p95_s) == pytest.approx((0.502674, 0.576856, 1.373207))
    assert log.memory == pytest.approx({
        "footprint_delta_init_bytes": 98.0977 * MIB, "footprint_delta_overall_bytes": 99.2031 * MIB})
    (replaced,) = [d for d in log.delegations if d.kind == "replaced"]
    assert (replaced.delegate, replaced.replaced_nodes, replaced.total_nodes, replaced.partitions) == (
        "TfLiteXNNPackDelegate", 49, 49, 1)


def test_termux_blank_lines_inside_the_regular_runs():
    log = parse_log(capture("android_termux_float32_blank_lines_p5_median_p95.txt"))
    assert not log.failed
    assert log.warmup.count == 9 and log.warmup.mean_s == pytest.approx(0.0581474)
    assert log.steady.count == 1000 and log.steady.max_s == pytest.approx(0.686105)
    assert log.steady.median_s == pytest.approx(0.051891)
    assert log.run_limits == [{"min_runs": 5, "min_s": 0.5, "max_s": 150.0}, {"min_runs": 1000, "min_s": 1.0, "max_s": 150.0}]
    assert log.memory["footprint_delta_overall_bytes"] == pytest.approx(55.4961 * MIB)


def test_failed_prepare_is_a_failure_result_not_an_exception():
    text = capture("android_termux_int8_failed_prepare_ERROR.txt")
    log = parse_log(text)
    assert log.failed and not log.has_results
    assert "Node number 57 (BATCH_MATMUL) failed to prepare." in log.failure
    assert log.errors[-1] == "Benchmarking failed."
    (replaced,) = [d for d in log.delegations if d.kind == "replaced"]
    assert (replaced.replaced_nodes, replaced.total_nodes, replaced.partitions) == (2136, 2168, 65)
    assert log.raw == text


def test_imx_cpu_op_profiling_without_prefixes():
    log = parse_log(capture("imx8mp_mobilenet_CPU_op_profiling.log.txt"))
    assert log.dialect == "tflite-unprefixed"
    assert log.init_s == pytest.approx(0.002409)
    assert log.warmup.count == 4 and log.warmup.p5_s is None  # this TFLite printed no percentiles
    assert log.steady.count == 50 and log.steady.mean_s == pytest.approx(0.16298)
    assert log.memory == pytest.approx({"peak_footprint_init_bytes": 4.10156 * MIB,
                                        "peak_footprint_overall_bytes": 10.332 * MIB})
    init, regular = log.profiles
    assert (init.section, [r.node_type for r in init.rows]) == ("init", ["AllocateTensors"])
    assert init.rows[0].avg_s == pytest.approx(0.000948)
    ops = log.ops
    assert len(ops) == 31 and regular.nodes_observed == 31
    assert (ops[0].index, ops[0].node_type, ops[0].name) == (0, "CONV_2D", "[MobilenetV1/MobilenetV1/Conv2d_0/Relu6]:0")
    assert (ops[0].start_s, ops[0].first_s, ops[0].avg_s) == pytest.approx((0.00001, 0.007628, 0.00764))
    assert (ops[0].percent, ops[0].cdf_percent, ops[0].times_called) == (4.689, 4.689, 1)
    assert ops[-1].node_type == "SOFTMAX" and ops[-1].index == 30
    assert len(regular.tables["Top by Computation Time"]) == 10
    conv = regular.by_type[0]
    assert (conv.node_type, conv.count, conv.avg_s, conv.percent) == ("CONV_2D", 15, pytest.approx(0.143812), 88.285)
    assert regular.timings.count == 50 and regular.timings.mean_s == pytest.approx(0.16291)
    assert sum(o.avg_s for o in ops) == pytest.approx(0.16291, rel=0.01)


def test_op_memory_is_in_bytes():
    # the tool prints per-op memory as "mem KB" (bytes / 1000); the capture's ops all show 0.000
    row = "\t     0.000\t        1\t[MobilenetV1/MobilenetV1/Conv2d_0/Relu6]:0"
    text = capture("imx8mp_mobilenet_CPU_op_profiling.log.txt")
    assert row in text
    log = parse_log(text.replace(row, row.replace("     0.000", "    12.500"), 1))
    assert log.ops[0].mem_bytes == pytest.approx(12_500) and log.ops[1].mem_bytes == 0


def test_imx_npu_external_delegate_and_vendor_lines():
    log = parse_log(capture("imx8mp_mobilenet_NPU_op_profiling.log.txt"))
    kinds = {(d.kind, d.delegate) for d in log.delegations}
    assert ("full", "EXTERNAL") in kinds and ("created", "EXTERNAL") in kinds
    assert log.extra["delegates_to_apply"] == 1
    assert log.params["External delegate path"] == "/usr/lib/libvx_delegate.so"
    assert log.warmup.count == 1 and log.warmup.mean_s == pytest.approx(4.625131)
    assert log.warmup_mean_s == pytest.approx(4.62513)  # printed as 4.62513e+06 us
    assert log.steady.count == 379 and log.inference_mean_s == pytest.approx(0.00252559)
    assert [(o.node_type, o.index, o.times_called) for o in log.ops] == [("Vx Delegate", 31, 1)]
    init = log.profiles[0]
    assert [r.node_type for r in init.rows] == ["ModifyGraphWithDelegate", "AllocateTensors"]
    assert init.rows[1].times_called == 2
    # lines the tool did not write are kept, not fatal
    assert "W [HandleLayoutInfer:257]Op 18: default layout inference pass." in log.other_lines
    assert "Vx delegate: allowed_builtin_code set to 0." in log.other_lines


def test_litert2_benchmark_results_block():
    log = parse_log(capture("litert2_benchmark_litert_model_gpu_llm_prefill_PARTIAL.txt"))
    assert log.dialect == "litert2" and not log.failed
    assert log.extra["signature"] == "prefill_1024"
    assert log.init_s == pytest.approx(23.74473)
    assert log.first_s == pytest.approx(7.44104)
    assert log.warmup.count == 1 and log.warmup_mean_s == pytest.approx(7.44104)
    s = log.steady
    assert (s.count, s.mean_s, s.min_s, s.max_s, s.std_s) == (10, pytest.approx(7.4302), pytest.approx(7.4164),
                                                            pytest.approx(7.44886), pytest.approx(0.00992))
    assert log.extra["throughput_bytes_per_s"] == pytest.approx(27.46e6)
    assert log.memory == pytest.approx({"footprint_init_bytes": 6391.74 * MIB, "footprint_overall_bytes": 6391.74 * MIB})
    assert log.other_lines == ["..."]  # the reporter's elision


def test_tail_with_peak_memory_and_vmrss():
    log = parse_log(capture("tail_peak_memory_periodic_monitoring_vmrss_PARTIAL.txt"))
    assert not log.failed and not log.has_results
    assert log.memory == pytest.approx({
        "footprint_delta_init_bytes": 2.43359 * MIB,
        "footprint_delta_overall_bytes": 8.67578 * MIB,
        "peak_footprint_monitored_bytes": 13.1797 * MIB,
        "vmrss_end_bytes": 13 * MIB,
        "rss_anon_end_bytes": 7 * MIB,
        "rss_file_shmem_end_bytes": 6 * MIB,
    })


def test_ti_explicit_xnnpack_partial_delegation_without_blank_lines():
    log = parse_log(capture("ti_am62x_linux_xnnpack_percentiles.txt"))
    (partial,) = [d for d in log.delegations if d.kind == "partial"]
    assert (partial.delegate, partial.kernels) == ("XNNPACK", 1)
    assert log.warmup.count == 1 and log.steady.count == 50
    assert log.steady.p95_s == pytest.approx(0.904305)


def test_stats_line_forms():
    same = parse_stats("count=5 curr=1200(all same)")
    assert (same.count, same.min_s, same.max_s, same.mean_s, same.all_same) == (5, 0.0012, 0.0012, 0.0012, True)
    assert parse_stats("count=0").count == 0
    with pytest.raises(BenchmarkLogError, match="no count="):
        parse_stats("curr=5 first=3")


@pytest.mark.parametrize("text, message", [
    ("", "the text is empty"),
    ("Traceback (most recent call last):\n  File x\nKeyError: 1\n", "no line of it is recognisable"),
    ("INFO: STARTING!\nINFO: count=50 first=1 curr=2 min=1 max=x2 avg=1 std=0\n", "line 2: cannot read number 'x2'"),
    ("INFO: Inference timings in us: Init: 12, First inference: oops, Warmup (avg): 1, Inference (avg): 2\n",
     "line 1: cannot read 'Inference timings in us: Init: 12, First inference: oops"),
    ("INFO: Memory footprint delta from the start of the tool (MB): init=1.5 overall=\n", "line 1: cannot read"),
])
def test_unrecognisable_or_malformed_text_raises_with_the_raw_text(text, message):
    with pytest.raises(BenchmarkLogError) as e:
        parse_log(text)
    assert message in str(e.value)
    assert e.value.raw == text


def test_malformed_op_row_names_the_line():
    text = capture("imx8mp_mobilenet_CPU_op_profiling.log.txt").replace("\t    7.628\t", "\t", 1)
    with pytest.raises(BenchmarkLogError, match=r"line \d+: 8 cells in a 'Run Order' row with 9 columns") as e:
        parse_log(text)
    assert e.value.raw == text


def test_the_stand_in_output_parses_to_what_it_measured(tiny_model):
    proc = subprocess.run(
        [sys.executable, str(STAND_IN), f"--graph={tiny_model}", "--num_runs=25", "--min_secs=0",
         "--warmup_runs=3", "--warmup_min_secs=0", "--enable_op_profiling=true", "--use_nnapi=true"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    log = parse_log(proc.stderr)
    assert log.dialect == "tflite" and not log.failed
    assert log.warmup.count == 3 and log.steady.count == 25
    assert log.steady.min_s <= log.steady.median_s <= log.steady.max_s
    assert log.inference_mean_s == pytest.approx(log.steady.mean_s)
    assert [o.node_type for o in log.ops] == ["FULLY_CONNECTED"] * 3 + ["SOFTMAX"]
    assert all(o.times_called == 1 for o in log.ops)
    assert ("unsupported", "NNAPI") in {(d.kind, d.delegate) for d in log.delegations}
    assert log.profiles[1].timings.count == 25
