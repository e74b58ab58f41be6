"""onnxruntime_perf_test output: the figures of every capture, and every wording over the years."""

from __future__ import annotations

import pytest

from harness.logs import onnxruntime_perf_test as ort
from harness.logs.text import LogFormatError
from tests.logs.conftest import capture_path, every

approx = pytest.approx


def parse(name: str) -> ort.OrtPerfResult:
    return ort.parse_file(capture_path("onnxruntime_perf_test", name))


def test_every_capture_is_read_with_nothing_unrecognised():
    names = every("onnxruntime_perf_test")
    assert len(names) == 5
    for name in names:
        r = parse(name)
        assert r.mean_s is not None and r.requests, name
        assert r.unrecognised.count == 0, (name, r.unrecognised)


def test_ort_1_20_acl_with_percentiles_and_the_repeated_summary():
    r = parse("ort1.20.1_embedded_linux_sdk_acl_ep_parallel_executor_mobilenetv3_excerpt.txt")
    assert (r.session_creation_s, r.first_inference_s) == (approx(0.0273071), approx(0.020))
    assert (r.total_inference_s, r.requests, r.mean_s, r.total_run_s) == (approx(0.14188), 8, approx(0.017735),
                                                                         approx(0.141991))
    assert r.throughput_per_s == approx(56.3415) and r.throughput_source == "printed"
    assert (r.cpu_usage, r.peak_working_set_bytes) == (approx(0.98), 35299328)
    assert (r.min_s, r.max_s) == (approx(0.0159831), approx(0.0232702))
    assert r.percentiles == {"50": approx(0.0167086), "90": approx(0.0232702), "95": approx(0.0232702),
                             "99": approx(0.0232702), "99.9": approx(0.0232702)}
    assert any("only 8 requests" in w for w in r.warnings)


def test_ort_1_3_without_throughput_or_percentiles():
    r = parse("ort1.3.1_2020_android_acl_ep_squeezenet_no_qps_no_percentiles.txt")
    assert (r.session_creation_s, r.mean_s, r.requests, r.cpu_usage) == (approx(0.127918), approx(0.144871), 10,
                                                                          approx(0.68))
    assert r.first_inference_s is None and r.percentiles == {}
    assert r.throughput_per_s == approx(10 / 1.44916) and r.throughput_source == "derived"
    assert r.peak_working_set_bytes == 158171136


def test_cost_total_wording_threads_and_preamble():
    r = parse("ort_2025_android_vivo_x300_dimensity9500_c1pro_sme2_cost_total.txt")
    assert (r.mean_s, r.mean_kind) == (approx(98.961997e-3), "total")
    assert r.intra_op_threads == 1 and r.preamble == ["Disabling intra-op thread spinning between runs"]
    assert (r.first_inference_s, r.percentiles["50"], r.peak_working_set_bytes) == (approx(0.196),
                                                                                   approx(0.0995086), 271122432)
    sm = parse("ort_spacemit_ort2.0_riscv_k1_or_k3_spacemit_ep_thread_option_cost_total.txt")
    assert sm.execution_provider == "SpaceMITExecutionProvider"
    assert sm.preamble == ["setting SPACEMIT_EP_INTRA_THREAD_NUM : 4"]
    assert (sm.mean_s, sm.throughput_per_s, sm.cpu_usage) == (approx(7.270205e-3), approx(137.435), approx(0.62))


def test_windows_10000_runs():
    r = parse("ort_dev_2025_windows_x64_squeezenet_10000runs.txt")
    assert (r.requests, r.mean_s, r.throughput_per_s) == (10000, approx(0.940745e-3), approx(1062.57))
    assert r.percentiles["99.9"] == approx(0.00136) and r.percentiles["99"] == approx(0.0012057)
    assert r.warnings == []  # the repeated summary agrees with the first one


def test_early_2020_wording_without_spaces():
    r = ort.parse("Setting intra_op_num_threads to 0\nSession creation time cost:1.84149 s\n"
                  "Total inference time cost:0.734606 s\nTotal inference requests:1\n"
                  "Average inference time cost:734.606 ms\nTotal inference run time:0.734761 s\n")
    assert (r.session_creation_s, r.total_inference_s, r.requests, r.mean_s, r.total_run_s) == (
        approx(1.84149), approx(0.734606), 1, approx(0.734606), approx(0.734761))


def test_legacy_total_time_cost_and_latency_is_wording():
    r = ort.parse("Total time cost: 58.8053\nTotal iterations: 1000\nAverage time cost: 58.8053 ms\n"
                  "Total run time: 58.8102 s\nMin Latency is 0.0559777 sec\nMax Latency is 0.0623472 sec\n"
                  "P50 Latency is 0.0587108 sec\nP999 Latency is 0.0623472 sec\n")
    assert (r.total_inference_s, r.requests, r.mean_s, r.total_run_s) == (approx(58.8053), 1000, approx(58.8053e-3),
                                                                         approx(58.8102))
    assert (r.min_s, r.max_s, r.percentiles) == (approx(0.0559777), approx(0.0623472),
                                                 {"50": approx(0.0587108), "99.9": approx(0.0623472)})
    no_space = ort.parse("Total time cost:1.5\nTotal iterations:10\nAverage time cost:150 ms\n")
    assert (no_space.total_inference_s, no_space.mean_s) == (approx(1.5), approx(0.15))


def test_a_vendor_builds_total_cpu_usage_over_all_cores():
    r = ort.parse("using SpaceMITExecutionProvider \nTotal inference time cost: 6.22935 s\n"
                  "Total inference requests: 100\nAverage inference time cost: 62.2935 ms\n"
                  "Total CPU usage: 382 %\nPeak working set size: 114634752 bytes\n")
    assert r.total_cpu_usage == approx(3.82) and r.cpu_usage is None
    assert r.execution_provider == "SpaceMITExecutionProvider"


def test_disagreeing_repeated_summary_is_a_warning():
    r = ort.parse("Average inference time cost: 1 ms\nAvg CPU usage: 50 %\nAvg CPU usage:60\nRuns:4\n"
                  "Total inference requests: 5\n")
    assert r.cpu_usage == approx(0.5)
    assert any("cpu_usage = 0.6" in w for w in r.warnings) and any("requests = 4" in w for w in r.warnings)


@pytest.mark.parametrize("text, message", [
    ("", "the file is empty"),
    ("Session creation time cost: 0.1 s\nPeak working set size: 100 bytes\n", "no 'Average inference time cost'"),
    ("random text\n", "first line: 'random text'"),
])
def test_refused_text_names_the_missing_figures(text, message):
    with pytest.raises(LogFormatError, match=message):
        ort.parse(text, "perf.txt")
