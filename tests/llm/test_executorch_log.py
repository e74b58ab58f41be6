"""ExecuTorch PyTorchObserver runs on every verbatim capture, cross-checked with the stats block."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.logs.executorch import parse_executorch
from harness.logs.llama_bench import LlamaLogError

CAPTURES = Path(__file__).parent / "captures" / "executorch"
MiB = 2**20


def one_run(name: str):
    log = parse_executorch((CAPTURES / name).read_text(), source=name)
    assert len(log.runs) == 1
    return log.runs[0], log


def assert_matches_stats(run):
    """The observer's figures agree with what the runner printed (to its 1 ms resolution)."""
    st = run.stats
    assert st is not None
    assert (st.prompt_tokens, st.generated_tokens) == (run.prompt_tokens, run.generated_tokens)
    assert st.ttft_s == pytest.approx(run.ttft_s, abs=1e-6)
    assert st.prefill_s == pytest.approx(run.prefill_s, abs=1e-6)
    assert st.decode_s == pytest.approx(run.decode_s, abs=1e-6)
    assert st.inference_s == pytest.approx(run.inference_s, abs=1e-6)
    assert st.prefill_tokens_per_s == pytest.approx(run.prefill_tokens_per_s, rel=1e-6)
    assert st.decode_tokens_per_s == pytest.approx(run.decode_tokens_per_s, rel=1e-6)


def test_android_2024_stats_before_observer_glued_text_and_rss():
    run, log = one_run("llama_main_android_2024-10_full_run_stats_before_observer_glued_prompt_log.txt")
    assert (run.line, run.prompt_tokens, run.generated_tokens) == (32, 5, 114)
    assert (run.ttft_s, run.prefill_s, run.decode_s) == (pytest.approx(0.102), pytest.approx(0.102), pytest.approx(2.901))
    assert run.model_load_s == pytest.approx(3.926) and run.sampling_s == pytest.approx(0.143)
    assert run.decode_tokens_per_s == pytest.approx(39.296794, rel=1e-6)
    assert run.resolution_s == 0.001 and run.inference_start_epoch_s == pytest.approx(1727953988.203)
    assert run.rss_bytes == {k: round(1223.152344 * MiB) for k in ("after_load", "after_prefill", "after_generation")}
    assert run.stats.line == 24 and run.stats.sampling_tokens == 119
    assert_matches_stats(run)
    assert log.skipped.count == 20


def test_kleidiai_2024_tab_separated_stats():
    run, log = one_run("llama_main_android_kleidiai_epoch2024-03_fully_tab_separated_stats.txt")
    assert (run.prompt_tokens, run.generated_tokens, run.ttft_s) == (54, 53, pytest.approx(0.185))
    assert run.prefill_tokens_per_s == pytest.approx(291.891892, rel=1e-6)
    assert run.model_load_s == pytest.approx(3.577) and run.rss_bytes == {}
    assert_matches_stats(run)
    assert log.skipped.count == 0


def test_vulkan_2025_tokenizer_error_and_unprefixed_stats():
    run, log = one_run("llama_main_vulkan_galaxy_s24_2025-10_tokenizer_error_line_stats_no_log_prefix.txt")
    assert (run.line, run.prompt_tokens, run.generated_tokens) == (13, 14, 54)
    assert run.ttft_s == pytest.approx(0.164) and run.decode_s == pytest.approx(1.025)
    assert run.decode_tokens_per_s == pytest.approx(52.682927, rel=1e-6)
    assert_matches_stats(run)
    assert log.skipped.first[0].startswith("line 1: E tokenizers:hf_tokenizer.cpp:60]")


def test_xnnpack_2025_rss_lines_and_glued_log():
    run, _ = one_run("llama_main_xnnpack_kleidiai_android_2025-08_tab_separated_stats_rss_lines_glued_log.txt")
    assert (run.prompt_tokens, run.generated_tokens, run.ttft_s) == (54, 36, pytest.approx(0.130))
    assert run.prefill_tokens_per_s == pytest.approx(415.384615, rel=1e-6)
    assert run.rss_bytes == {"after_prefill": round(1122.1875 * MiB), "after_generation": round(1122.1875 * MiB)}
    assert run.peak_rss_bytes == round(1122.1875 * MiB)
    assert_matches_stats(run)


def test_voxtral_zero_model_load_is_absent():
    run, _ = one_run("voxtral_runner_2025-08_model_load_zero_wrapped_text_before_observer.txt")
    assert run.model_load_s is None and run.stats.model_load_s == 0.0
    assert (run.prompt_tokens, run.generated_tokens) == (388, 99)
    assert run.ttft_s == pytest.approx(5.054) and run.decode_s == pytest.approx(11.167)
    assert run.stats.sampling_tokens == 487
    assert_matches_stats(run)


def test_cut_observer_is_refused():
    with pytest.raises(LlamaLogError, match=r"run.log: line 2: PyTorchObserver JSON does not parse"):
        parse_executorch('text\nPyTorchObserver {"prompt_tokens":5,"generated_tok', source="run.log")


def test_observer_without_figures_is_refused():
    with pytest.raises(LlamaLogError, match=r"line 1: PyTorchObserver lacks inference_start_ms"):
        parse_executorch('PyTorchObserver {"prompt_tokens":5,"generated_tokens":3,"inference_end_ms":9,'
                         '"prompt_eval_end_ms":4,"first_token_ms":4}')


def test_no_observer_is_refused():
    with pytest.raises(LlamaLogError, match="no PyTorchObserver line"):
        parse_executorch("\tPrompt Tokens: 54    Generated Tokens: 36\n")
