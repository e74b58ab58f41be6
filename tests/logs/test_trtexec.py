"""trtexec console logs (TensorRT 7 to 10) and JSON exports: the figures of every capture."""

from __future__ import annotations

import pytest

from harness.logs import trtexec, trtexec_json
from harness.logs.text import KEEP_FIRST, LogFormatError
from tests.logs.conftest import capture_path, every

approx = pytest.approx


def parse(name: str) -> trtexec.TrtexecLog:
    return trtexec.parse_file(capture_path("trtexec", name))


def test_every_capture_is_read_with_nothing_unrecognised():
    logs = [n for n in every("trtexec") if not n.endswith(".profile.json.txt")]
    assert len(logs) == 10
    for name in logs:
        log = parse(name)
        assert log.has_figures, name
        assert log.unrecognised.count == 0, (name, log.unrecognised)


def test_trt8_0_nano_full_run_keeps_the_metrics_apart():
    log = parse("trt8.0.1_jetson_nano_tegra_x1_exportTimes_enqueue_bound_warning.txt")
    assert (log.tensorrt_version, log.status) == ("8.0.1", "passed")
    assert log.flags["exportTimes"] == "times.json" and log.flags["fp16"] is True
    assert log.options["Precision"] == "FP32+FP16" and log.options["Iterations"] == "100"
    assert log.device["Selected Device"] == "NVIDIA Tegra X1" and log.device["Compute Capability"] == "5.3"
    assert (log.warmup_queries, log.warmup_s, log.queries, log.trace_s) == (1, approx(0.05), 100, approx(4.07195))
    assert log.throughput_qps == approx(24.5583) and log.throughput_source == "printed"
    # host latency, end-to-end, enqueue, H2D, GPU compute and D2H: six different figures
    assert log.latency.median_s == approx(40.6337e-3)
    assert log.end_to_end.mean_s == approx(40.6771e-3)
    assert log.enqueue.max_s == approx(40.6204e-3)
    assert log.h2d.min_s == approx(0.487671e-3)
    assert log.gpu_compute.median_s == approx(39.9982e-3) and log.gpu_compute.percentiles == {"99": approx(40.1931e-3)}
    assert log.d2h.mean_s == approx(0.0852185e-3)
    assert (log.total_host_walltime_s, log.total_gpu_compute_s) == (approx(4.07195), approx(4.00027))
    assert len(log.trace_averages) == 10
    first = log.trace_averages[0]
    assert (first.runs, first.gpu_compute_s, first.latency_s, first.end_to_end_s, first.enqueue_s) == (
        10, approx(39.9924e-3), approx(40.6451e-3), approx(40.7041e-3), approx(40.4169e-3))
    assert log.engine_load_s == approx(3.86437)
    assert log.engine_size_bytes == 10e6  # 'Loaded engine size: 10 MB' (TRT 8.0 says MB)
    assert log.tensorrt_messages == 12
    assert log.tool_warnings.count == 1 and "bound by Enqueue Time" in log.tool_warnings.first[0]
    assert "--useCudaGraph" in log.tool_warnings.first[0]  # the warning's second line is joined to it
    assert log.precision == "fp16"


def test_trt7_gpu_compute_block_and_profile_without_median():
    log = parse("trt7.1.3_jetson_agx_xavier_jp4.5.1_dla_gpu_compute_block_and_profile_no_timestamps_PARTIAL.txt")
    g = log.gpu_compute
    assert (g.min_s, g.max_s, g.mean_s, g.median_s) == (approx(3.60278e-3), approx(4.14014e-3), approx(3.68068e-3),
                                                        approx(3.66748e-3))
    assert g.percentiles == {"99": approx(3.87695e-3)}
    assert log.total_gpu_compute_s == approx(3.68068)
    assert log.latency is None and log.throughput_qps is None  # not in this excerpt: not made up
    assert log.profile_iterations == 1514
    names = [layer.name for layer in log.layers]
    assert names[0] == "data to nvm" and names[-1] == "prob" and len(names) == 6
    conv = log.layers[1]  # the DLA subgraph whose name overflows the column
    assert conv.name.startswith("{conv1/7x7_s2,") and conv.name.endswith("loss3/classifier}")
    assert (conv.total_s, conv.mean_s, conv.median_s, conv.percent) == (approx(0.29826), approx(0.20e-3), None, 5.4)
    reformat = log.layers[3]
    assert (reformat.name, reformat.total_s, reformat.percent) == ("prob input reformatter 0", approx(5.04637), 92.1)
    assert log.profile_total.total_s == approx(5.47795) and log.profile_total.mean_s == approx(3.62e-3)


def test_trt7_throughput_zero_is_derived_from_the_walltime():
    text = "\n".join([
        "[06/12/2022-22:34:00] [I] Timing trace has 1806 queries over 3.00461 s",
        "[06/12/2022-22:34:00] [I] Host Latency",
        "[06/12/2022-22:34:00] [I] min: 1.64058 ms (end to end 1.66368 ms)",
        "[06/12/2022-22:34:00] [I] max: 6.2915 ms (end to end 7.65552 ms)",
        "[06/12/2022-22:34:00] [I] mean: 1.66069 ms (end to end 3.00909 ms)",
        "[06/12/2022-22:34:00] [I] median: 1.65601 ms (end to end 3.01636 ms)",
        "[06/12/2022-22:34:00] [I] percentile: 1.67065 ms at 99% (end to end 3.03931 ms at 99%)",
        "[06/12/2022-22:34:00] [I] throughput: 0 qps",
        "[06/12/2022-22:34:00] [I] walltime: 3.00461 s",
    ])
    log = trtexec.parse(text)
    assert log.throughput_qps == approx(1806 / 3.00461) and log.throughput_source == "walltime"
    assert log.latency.median_s == approx(1.65601e-3) and log.end_to_end.median_s == approx(3.01636e-3)
    assert log.end_to_end.percentiles == {"99": approx(3.03931e-3)}
    assert any("integer-division" in w for w in log.warnings)
    # without a query count there is nothing honest to report
    alone = trtexec.parse("\n".join(text.splitlines()[1:]))
    assert alone.throughput_qps is None and any("no query count" in w for w in alone.warnings)


def test_no_data_transfers_zeros_are_not_measured():
    log = parse("trt10.3_jetson_jp6_resnet50_sample_noDataTransfers_zero_h2d_d2h_PARTIAL.txt")
    assert log.tensorrt_version == "10.3.0" and log.flags["noDataTransfers"] is True
    assert log.h2d is None and log.d2h is None and log.not_measured == ["h2d", "d2h"]
    assert log.latency.mean_s == approx(3.14068e-3) == log.gpu_compute.mean_s
    assert log.gpu_compute.percentiles == {"90": approx(3.14587e-3), "95": approx(3.14771e-3),
                                           "99": approx(3.15039e-3)}
    assert log.throughput_qps == approx(318.007)
    # zeros without the flag (an excerpt that cut the command line) are recognised too
    cut = "\n".join(ln for ln in capture_path("trtexec", "trt10.3_jetson_jp6_resnet50_sample_noDataTransfers_zero_h2d_d2h"
                                              "_PARTIAL.txt").read_text().splitlines() if "&&&&" not in ln)
    assert trtexec.parse(cut).not_measured == ["h2d", "d2h"]


def test_trt10_x86_crash_after_passed_is_a_warning():
    log = parse("trt10.0.1_x86_sm89_custom_plugins_segfault_zh_after_passed_PARTIAL.txt")
    assert (log.tensorrt_version, log.status, log.throughput_qps) == ("10.0.1", "passed", approx(742.821))
    assert log.flags["staticPlugins"].endswith("libcustom_plugins.so")
    assert log.gpu_compute.percentiles["95"] == approx(2.40967e-3)
    assert log.enqueue.median_s == approx(0.549438e-3)
    assert any("crashed after trtexec's last line" in w and "段错误" in w for w in log.warnings)
    assert "coefficient of variance = 43.467%" in log.tool_warnings.first[0]


def test_trt10_thor_prefix_stripped():
    log = parse("trt10.13_jetson_agx_thor_jp7.0_prefix_stripped_3lines_PARTIAL.txt")
    assert log.throughput_qps == approx(1.55139)
    assert log.latency.percentiles == {"90": approx(0.664195), "95": approx(0.666219), "99": approx(0.684747)}
    assert log.gpu_compute is None and log.enqueue is None


def test_trt8_4_batch16_and_p99_only():
    log = parse("trt8.4.0_jetson_agx_xavier_meta_tegra_mnist_batch16_p99only_PARTIAL.txt")
    assert (log.tensorrt_version, log.flags["batch"], log.throughput_qps) == ("8.4.0", "16", approx(41087.7))
    assert log.d2h.max_s == approx(0.00537109e-3) and list(log.latency.percentiles) == ["99"]


def test_dla_foreignnode_profile_with_median_column():
    log = parse("trt8.5.2_jetson_agx_orin_jp5.1.1_dla_foreignnode_profile_table_PARTIAL.txt")
    assert log.profile_iterations == 4932 and len(log.layers) == 4
    first, dla = log.layers[0], log.layers[1]
    assert first.name == "Reformatting CopyNode for Input Tensor 0 to {ForeignNode[conv1/7x7_s2...loss3/classifier]}"
    assert (dla.total_s, dla.mean_s, dla.median_s, dla.percent) == (approx(5.08998), approx(1.032e-3),
                                                                    approx(1.0321e-3), 93.1)
    assert log.profile_total.median_s == approx(1.1033e-3)


def test_dump_profile_run_has_no_summary_and_verbose_noise_is_counted():
    log = parse("trt8.5.2_jetson_xavier_nx_dumpProfile_verbose_no_perf_summary.txt")
    assert (log.tensorrt_version, log.status) == ("8.5.2", "passed")
    assert log.throughput_qps is None and log.latency is None
    assert log.verbose_lines == 50 and log.options["Percentiles"] == "90,95,99"
    assert log.profile_iterations == 309 and len(log.layers) == 28
    lstm = next(layer for layer in log.layers if layer.name == "{ForeignNode[lstm_W...Max_reduce_min]}")
    assert (lstm.total_s, lstm.mean_s, lstm.median_s, lstm.percent) == (approx(2.13062), approx(6.8952e-3),
                                                                        approx(6.2962e-3), 69.4)
    assert log.layers[0].name == "[HostToDeviceCopy 0]"
    assert sum(layer.total_s for layer in log.layers) == approx(log.profile_total.total_s, rel=1e-3)
    assert (log.engine_load_s, log.engine_deserialize_s, log.engine_size_bytes) == (approx(0.0366376),
                                                                                    approx(1.89224), 28 * 2**20)


def test_indented_excerpt_and_two_streams():
    log = parse("trt8.6plus_2025_agx_orin_32gb_resnet18_p90_p95_p99_indented4_PARTIAL.txt")
    assert log.throughput_qps == approx(974.492) and log.h2d.percentiles["99"] == approx(0.0395508e-3)
    assert log.trace_averages[0].enqueue_s == approx(0.391095e-3) and log.trace_averages[0].end_to_end_s is None
    two = parse("trt8.x_2025_orin_nano_8gb_streams2_p99only_walltime_lt_gpu_PARTIAL.txt")
    assert (two.total_host_walltime_s, two.total_gpu_compute_s) == (approx(0.147555), approx(0.274469))
    assert any("queries overlapped" in w for w in two.warnings)
    assert two.gpu_compute.median_s == approx(12.3491e-3) and two.latency.median_s == approx(13.4062e-3)


def test_export_profile_json_from_a_dla_run():
    prof = trtexec_json.parse_profile_file(
        capture_path("trtexec", "trt_exportProfile_json_jetson_agx_xavier_googlenet_dla_mark_at_10.profile.json.txt"))
    assert prof.iterations == 11296 and len(prof.layers) == 8
    nvm = prof.layers[3]
    assert (nvm.name, nvm.total_s, nvm.mean_s, nvm.percent) == (
        "(Unnamed Layer* 10) [Convolution]_output from nvm", approx(37.8475), approx(3.35052e-3), 93.0982)
    assert prof.layers[0].median_s is None
    assert sum(layer.percent for layer in prof.layers) == approx(100, abs=0.01)


def test_export_times_json_tensorrt_8_and_7_keys_and_warmup_split():
    text = (
        '[\n  { "startEnqMs" : 1.5, "endEnqMs" : 2.0, "startH2dMs" : 2.0, "endH2dMs" : 2.5, "startComputeMs" : 2.5,'
        ' "endComputeMs" : 7.5, "startD2hMs" : 7.5, "endD2hMs" : 7.6, "h2dMs" : 0.5, "computeMs" : 5,'
        ' "d2hMs" : 0.1, "latencyMs" : 5.6, "endToEndMs" : 6.1 }\n'
        ', { "startEnqMs" : 8, "endEnqMs" : 8.25, "startH2dMs" : 8.5, "endH2dMs" : 9, "startComputeMs" : 9,'
        ' "endComputeMs" : 13, "startD2hMs" : 13, "endD2hMs" : 13.2, "h2dMs" : 0.5, "computeMs" : 4,'
        ' "d2hMs" : 0.2, "latencyMs" : 4.7, "endToEndMs" : 5.2 }\n]\n')
    times = trtexec_json.parse_times(text, warmup_queries=1, queries=1)
    assert times.warmup_count == 1 and len(times) == 2
    assert times.gpu_compute_s == [approx(5e-3), approx(4e-3)]
    assert times.enqueue_s == [approx(0.5e-3), approx(0.25e-3)] and times.end_to_end_s[1] == approx(5.2e-3)
    # TensorRT 7 names the transfers In/Out; one JSON document over several lines is read too
    t7 = trtexec_json.parse_times('[{"startInMs": 0, "endInMs": 1, "startComputeMs": 1, "endComputeMs": 3,\n'
                                  '"startOutMs": 3, "endOutMs": 3.5, "inMs": 1, "computeMs": 2, "outMs": 0.5,\n'
                                  '"latencyMs": 3.5, "endToEndMs": 3.5}]')
    assert (t7.h2d_s, t7.gpu_compute_s, t7.d2h_s) == ([approx(1e-3)], [approx(2e-3)], [approx(0.5e-3)])
    assert t7.enqueue_s[0] != t7.enqueue_s[0]  # not printed by TensorRT 7: NaN, not 0
    with pytest.raises(LogFormatError, match="no 'computeMs'"):
        trtexec_json.parse_times('[{"name": "conv", "timeMs": 1}]')


@pytest.mark.parametrize("text, message", [
    ("", "the file is empty"),
    ("   \n\n", "the file is empty"),
    ("hello\nworld\n", "not trtexec output: none of its figures"),
    ("Throughput: fast\n", "not trtexec output"),
])
def test_refused_text_names_what_is_missing(text, message):
    with pytest.raises(LogFormatError, match=message):
        trtexec.parse(text, "run.log")


def test_a_run_that_failed_before_its_summary_is_kept():
    log = trtexec.parse("&&&& RUNNING TensorRT.trtexec [TensorRT v8601] # trtexec --onnx=x.onnx\n"
                        "[12/01/2025-10:00:00] [E] Error[4]: [network.cpp::validate::2925] Error Code 4\n"
                        "&&&& FAILED TensorRT.trtexec [TensorRT v8601] # trtexec --onnx=x.onnx\n")
    assert log.status == "failed" and log.tool_errors.count == 1 and not log.has_figures
    assert any("the run failed" in w for w in log.warnings)


def test_unrecognised_lines_are_counted_and_only_the_first_few_kept():
    noise = "\n".join(f"[01/01/2025-00:00:00] [I] vendor line {i}" for i in range(5000))
    log = trtexec.parse(noise + "\n[01/01/2025-00:00:00] [I] Throughput: 10 qps\n")
    assert log.unrecognised.count == 5000 and len(log.unrecognised.first) == KEEP_FIRST
    assert log.throughput_qps == 10
