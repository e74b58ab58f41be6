"""MLPerf Tiny results.txt and log.txt: the figures of every capture (performance, energy,
accuracy, streaming; EnergyRunner 3 and the v1.3 runner; relayed DUT lines)."""

from __future__ import annotations

import pytest

from harness.logs import mlperf_tiny as tiny
from harness.logs.text import LogFormatError
from tests.logs.conftest import capture_path, every

approx = pytest.approx


def parse(name: str) -> tiny.TinyRun:
    return tiny.parse_file(capture_path("mlperf_tiny", name))


def test_every_capture_is_read_with_nothing_unrecognised():
    names = every("mlperf_tiny")
    assert len(names) == 18
    for name in names:
        run = parse(name)
        assert run.mode is not None, name
        assert run.unrecognised.count == 0, (name, run.unrecognised)
        assert ("log" in name) == (run.kind == "log"), name


def test_v05_performance_results_windows_and_median():
    run = parse("v0.5_reference_nucleo_l4r5zi_kws_performance_results.txt")
    assert (run.mode, run.benchmark) == ("performance", "ulp-mlperf")
    assert [w.index for w in run.windows] == [2, 4, 6, 8, 10]
    w = run.windows[0]
    assert (w.inferences, w.runtime_s, w.throughput_per_s, w.requirements_met) == (100, 18.192, 5.497, True)
    assert run.median_throughput_per_s == 5.497 == run.computed_median_throughput_per_s
    assert run.latency_s == approx(1 / 5.497) and run.warnings == []


def test_v05_performance_log_device_windows_from_the_protocol_lines():
    run = parse("v0.5_reference_nucleo_l4r5zi_kws_performance_log.txt")
    assert (run.run_name, run.runner_version, run.config["iterInfer"], run.config["model"]) == (
        "ML Performance 1.0.1", "3.0.6", "100", "kws01")
    assert run.device == {"profile": "ULPMark for tinyML Firmware V0.0.1", "model": "kws01"}
    assert len(run.windows) == 5
    w = run.windows[0]
    assert (w.inferences, w.warmups, w.laps_us, w.input_file) == (100, 1, [251222283, 269414673],
                                                                 "tst_000000_Stop_7.bin")
    assert w.elapsed_s == approx(18.19239) and w.throughput_per_s == approx(100 / 18.19239)
    assert w.results[5] == 0.761 and len(w.results) == 12
    assert run.computed_median_throughput_per_s == approx(5.4968, abs=1e-4)


def test_results_and_log_combined():
    results = parse("v0.5_reference_nucleo_l4r5zi_kws_performance_results.txt")
    log = parse("v0.5_reference_nucleo_l4r5zi_kws_performance_log.txt")
    both = tiny.combine(results, log)
    assert [w.index for w in both.windows] == [2, 4, 6, 8, 10]
    assert both.windows[4].input_file == "tst_000004_On_5.bin" and both.windows[4].laps_us == [325328299, 343520632]
    assert both.windows[0].runtime_s == 18.192 and both.windows[0].elapsed_s == approx(18.19239)
    assert both.config["model"] == "kws01" and both.median_throughput_per_s == 5.497


def test_energy_results_windows_in_joules_and_watts():
    run = parse("v0.5_reference_nucleo_l4r5zi_kws_energy_results.txt")
    assert (run.mode, run.benchmark) == ("energy", "ulp-ml")
    e = run.energy_windows[0]
    assert (e.index, e.at_s, e.duration_s) == (2, approx(2.87), approx(18.05))
    assert (e.energy_j, e.power_w, e.energy_per_inference_j) == (approx(0.73724257), approx(0.040835414),
                                                                 approx(7372.426e-6))
    assert run.median_energy_per_inference_j == approx(7373.704e-6)
    assert run.computed_median_energy_per_inference_j == approx(7373.704e-6)
    assert run.median_throughput_per_s == 5.539 and len(run.windows) == 5


def test_energy_log_relayed_through_the_interface_board():
    run = parse("v0.5_reference_nucleo_l4r5zi_kws_energy_log.txt")
    assert run.run_name == "ML Energy 1.0.1" and run.device["timestamp_mode"] == "energy"
    assert run.device["model"] == "kws01" and len(run.windows) == 5
    assert all(w.laps_us == [] and w.elapsed_s is None for w in run.windows)  # energy mode: edges, not stamps
    assert run.windows[1].results[1] == 0.148 and run.windows[1].input_file == "tst_000001_Left_2.bin"
    assert run.device_noise.count == 1 and "tensor_arena" in run.device_noise.first[0]


def test_gap9_ulp_ml_prefix_and_vww():
    run = parse("v1.0_greenwaves_gap9_650_240_vww_energy_results_ulp-ml_prefix.txt")
    assert run.median_energy_per_inference_j == approx(40.801e-6)
    assert run.energy_windows[4].energy_per_inference_j == approx(40.681e-6)
    assert run.windows[0].inferences == 6000 and run.median_throughput_per_s == 577.979
    perf = parse("v1.0_greenwaves_gap9_650_240_vww_performance_results.txt")
    assert perf.median_throughput_per_s == 577.028 and perf.windows[0].inferences == 10000


def test_single_window_run_has_its_median_computed():
    run = parse("v1.0_qualcomm_snapdragon_hdk_ad_performance_results_single_window.txt")
    assert len(run.windows) == 1 and run.windows[0].throughput_per_s == 10199.626
    assert run.median_throughput_per_s is None and run.computed_median_throughput_per_s == 10199.626
    assert run.latency_s == approx(1 / 10199.626)
    assert any("no median throughput line" in w for w in run.warnings)


def test_syntiant_log_with_debug_lines_and_a_glued_protocol_token():
    run = parse("v1.0_syntiant_ndp9120_0v9_30mhz_kws_performance_log_dut_debug_lines_no_final_newline.txt")
    assert run.runner_version == "3.0.10" and len(run.windows) == 5
    assert all(w.warmups == 1 and w.inferences == 2500 for w in run.windows)  # '...1526042425m-warmup-start-1'
    assert run.windows[0].laps_us == [1526566428, 1537499699] and run.windows[0].results[7] == 0.902
    assert run.device_noise.count == 15  # Acts / Softmax / Activations lines, counted


def test_sub_one_throughput_outlier_window_and_median_only():
    bosch = parse("v1.1_bosch_nucleo_g0b1re_ic_performance_results_sub1_infps.txt")
    assert bosch.median_throughput_per_s == 0.599 and bosch.windows[0].inferences == 10
    sky = parse("v1.2_skymizer_tinkerv_linux_andes_nn_ic_performance_results.txt")
    assert sky.windows[2].throughput_per_s == 29.71 and sky.median_throughput_per_s == 29.967
    qc = parse("v1.3_qualcomm_snapdragon_mtp_ic_performance_results_median_only_crlf.txt")
    assert qc.windows == [] and qc.median_throughput_per_s == 10436.648


def test_accuracy_in_both_wordings():
    old = parse("v0.5_reference_nucleo_l4r5zi_kws_accuracy_results.txt")
    assert (old.mode, old.top1, old.auc) == ("accuracy", approx(0.901), 0.99)
    nuvoton = parse("v1.1_nuvoton_numaker_m467hj_zephyr_vww_accuracy_results.txt")
    assert (nuvoton.top1, nuvoton.auc) == (approx(0.847), 0.77)
    new = parse("v1.3_st_nucleo_u385rg_q_kws_accuracy_results_top1_equals_crlf.txt")
    assert (new.top1, new.auc) == (approx(0.902), 0.995)


def test_v13_runner_results_log_and_power_edition():
    res = parse("v1.3_st_nucleo_u385rg_q_kws_performance_results_crlf_new_runner.txt")
    assert [w.index for w in res.windows] == [1, 2, 3, 4, 5]
    assert res.windows[0].runtime_s == 12.07688 and res.windows[0].throughput_per_s == approx(20.70071077960533)
    assert res.median_throughput_per_s == 20.703
    log = parse("v1.3_st_nucleo_u385rg_q_kws_performance_log_crlf_new_runner.txt")
    assert log.device == {"name": "STMicroelectronics", "profile": "ULPMark for tinyML Firmware V0.0.1",
                          "model": "kws01"}
    w = log.windows[2]
    assert (w.index, w.inferences, w.warmups, w.input_file) == (3, 250, 1, "tst_000002_Right_6.bin")
    assert w.runtime_s == 12.073976  # the full-precision repeat after the '----' line wins
    assert w.results[6] == 0.996
    energy = parse("v1.3_st_nucleo_u385rg_q_kws_energy_results_power_edition_crlf.txt")
    assert [e.index for e in energy.energy_windows] == [0, 1, 2, 3, 4]
    e = energy.energy_windows[1]
    assert (e.duration_s, e.inferences, e.power_w, e.energy_j, e.energy_per_inference_j) == (
        approx(12.056), 250, approx(5.0875e-3), approx(61335.292e-6), approx(245.341e-6))
    assert energy.median_energy_per_inference_j == approx(245.3412e-6) and energy.warnings == []


def test_streaming_wake_word_energy():
    run = parse("v1.3_st_nucleo_u385rg_q_sww_energy_results_streaming_crlf.txt")
    assert run.energy_windows[0].duration_s == approx(1203.165)
    assert run.energy_windows[0].energy_per_inference_j == approx(4.7827768)
    assert run.streaming == {"true_positives": 44, "false_negatives": 6, "false_positives": 4,
                             "duty_cycle": approx(0.60618), "period_s": approx(0.03207),
                             "estimated_throughput_per_s": approx(51.44)}


def test_a_zero_length_window_in_a_log_is_flagged():
    text = ("00001.000 dut: m-warmup-start-1\n00001.001 dut: m-warmup-done\n00001.002 dut: m-infer-start-10\n"
            "00001.003 dut: m-lap-us-5000\n00001.004 dut: m-lap-us-5000\n00001.005 dut: m-infer-done\n"
            "00001.006 dut: m-results-[0.5,0.5]\n")
    run = tiny.parse(text)
    assert run.windows[0].elapsed_s == 0 and run.windows[0].throughput_per_s is None
    assert any("zero length is invalid" in w for w in run.warnings)


@pytest.mark.parametrize("text, message", [
    ("", "the file is empty"),
    ("hello\n", "no performance or energy window"),
])
def test_refused_text_names_what_is_missing(text, message):
    with pytest.raises(LogFormatError, match=message):
        tiny.parse(text, "results.txt")
