"""llama.cpp timing blocks of every era, on every verbatim capture, and cut lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.logs.llama_bench import LlamaLogError
from harness.logs.llama_timings import parse_llama_timings

CAPTURES = Path(__file__).parent / "captures" / "llama_timings"
MiB = 2**20


def one_block(name: str):
    log = parse_llama_timings((CAPTURES / name).read_text(), source=name)
    assert len(log.blocks) == 1
    return log.blocks[0], log


def test_perf_2025_timestamp_prefix():
    b, log = one_block("llama_perf_2025-01_build4424_mac_m4_metal_ci_log_timestamp_prefix.txt")
    assert (b.family, b.line, log.skipped.count) == ("llama_perf", 1, 0)
    assert b.load_s == pytest.approx(0.65514)
    assert (b.sample.time_s, b.sample.count, b.sample.unit) == (pytest.approx(0.00123), 71, "runs")
    assert (b.prompt_eval.time_s, b.prompt_eval.count, b.prompt_eval.unit) == (pytest.approx(0.04563), 7, "tokens")
    assert b.prefill_tokens_per_s == pytest.approx(153.41, abs=0.01)  # printed 153.41
    assert (b.eval.count, b.eval.unit) == (63, "runs") and b.decode_tokens_per_s == pytest.approx(98.94, abs=0.01)
    assert b.eval.per_token_s == pytest.approx(0.01011)
    assert (b.total_s, b.total_tokens) == (pytest.approx(0.68576), 70)


def test_perf_2025_graphs_reused_and_memory_breakdown():
    b, _ = one_block("llama_perf_2025-10_android_snapdragon_hexagon_htp0_graphs_reused_memory_breakdown.txt")
    assert b.graphs_reused == 473
    assert b.prefill_tokens_per_s == pytest.approx(136.21, abs=0.01)
    assert b.decode_tokens_per_s == pytest.approx(51.57, abs=0.01)
    assert (b.eval.count, b.total_tokens) == (475, 486)
    htp, host, repack = b.memory_breakdown
    assert (htp.name, htp.total_bytes, htp.free_bytes, htp.self_bytes, htp.unaccounted_bytes) == (
        "HTP0 (Hexagon)", 2048 * MiB, 2048 * MiB, 0, 0)
    assert (host.name, host.total_bytes, host.self_bytes, host.model_bytes, host.context_bytes, host.compute_bytes) == (
        "Host", None, 439 * MiB, 225 * MiB, 136 * MiB, 77 * MiB)
    assert (repack.name, repack.model_bytes) == ("HTP0-REPACK", 504 * MiB)


def test_perf_jetson_llama_cli():
    b, _ = one_block("llama_perf_2025_jetson_orin_nano_llama_cli_mistral.txt")
    assert b.load_s == pytest.approx(3.49872)
    assert b.sample.count == 532 and b.prompt_eval.count == 17 and b.eval.count == 514
    assert b.prefill_tokens_per_s == pytest.approx(7.75, abs=0.01)
    assert b.decode_tokens_per_s == pytest.approx(6.06, abs=0.01)
    assert (b.total_s, b.total_tokens) == (pytest.approx(92.93078), 531)


def test_print_timings_2023_05_ms_per_token_only():
    b, _ = one_block("llama_print_timings_2023-05_ms_per_token_only_no_tokens_per_second.txt")
    assert b.family == "llama_print_timings"
    assert b.prompt_eval.per_token_s == pytest.approx(0.07237) and b.prompt_eval.count == 353
    assert b.prefill_tokens_per_s == pytest.approx(353 / 25.54694)
    assert b.eval.per_token_s == pytest.approx(0.2537) and b.decode_tokens_per_s == pytest.approx(99 / 25.11673)
    assert b.total_s == pytest.approx(51.06918) and b.total_tokens is None


def test_print_timings_2023_07_inf_tokens_per_second_has_no_rate():
    b, _ = one_block("llama_print_timings_2023-07_build893_arm64_perplexity_inf_tokens_per_second.txt")
    assert b.eval.time_s == 0 and b.eval.count == 1
    assert b.decode_tokens_per_s is None and b.sample.tokens_per_s is None
    assert b.prefill_tokens_per_s == pytest.approx(3.26, abs=0.01) and b.load_s == pytest.approx(42.00607)


def test_server_slot_print_timing():
    b, log = one_block("llama_server_slot_print_timing_2025_jetson_orin_nano_split_prefix.txt")
    assert (b.family, b.slot_id, b.task_id) == ("server", 0, 0)
    assert (b.prompt_eval.count, b.eval.count, b.eval.unit) == (11, 100, "tokens")
    assert b.prefill_tokens_per_s == pytest.approx(7.79, abs=0.01)
    assert b.decode_tokens_per_s == pytest.approx(6.22, abs=0.01)
    assert (b.total_s, b.total_tokens, log.skipped.count) == (pytest.approx(17.49937), 111, 0)


def test_main_2023_03_earliest_format():
    b, _ = one_block("main_timings_2023-03_earliest_format_mem_per_token_predict_time.txt")
    assert (b.family, b.mem_per_token_bytes) == ("main", 22357508)
    assert b.load_s == pytest.approx(83.07667) and b.sample.time_s == pytest.approx(0.26712)
    assert b.predict.time_s == pytest.approx(193.44161) and b.predict.per_token_s == pytest.approx(0.36776)
    assert b.predict.tokens_per_s == pytest.approx(1 / 0.36776)
    assert b.total_s == pytest.approx(277.98041) and b.prompt_eval is None


def test_two_runs_make_two_blocks_and_other_lines_are_counted():
    one = (CAPTURES / "llama_perf_2025_jetson_orin_nano_llama_cli_mistral.txt").read_text()
    text = "main: build = 4424\n" + one + "\n> next prompt\n" + one
    log = parse_llama_timings(text)
    assert [b.line for b in log.blocks] == [2, 9]
    assert log.skipped.count == 2 and log.skipped.first[0] == "line 1: main: build = 4424"


def test_cut_timing_line_is_refused():
    with pytest.raises(LlamaLogError, match=r"t.log: line 2: timing line is cut or corrupt: 'prompt eval time =  45.6'"):
        parse_llama_timings("llama_perf_context_print:        load time =     655.14 ms\n"
                            "llama_perf_context_print: prompt eval time =  45.6", source="t.log")


def test_no_timing_lines_is_refused():
    with pytest.raises(LlamaLogError, match="no llama.cpp timing lines"):
        parse_llama_timings("hello\nworld\n")
