"""`harness ingest --format llama-bench | llama-timings | executorch` on every verbatim capture:
the values are checked in the written record (manifest, typed result, sample rows), and cut or
corrupt files are refused naming the line and the reason, with nothing written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.ingest.files import ingest_file
from harness.llm.results import LlmResult, rows_of
from harness.store.store import RunStore

CAPTURES = Path(__file__).parent / "captures"
MiB, GiB = 2**20, 2**30


def ingest(tmp_path, fmt: str, folder: str, name: str, **kw):
    results = tmp_path / "results"
    runs = ingest_file(fmt, CAPTURES / folder / name, results=results, **kw)
    store = RunStore(results)
    return [(m, store.load(m.run_id)) for m, _ in runs]


def phases(m) -> list[tuple[str, str, float]]:
    """(phase, test, rate rounded to the printed 2 decimals) of a record's LLM result."""
    return [(p.name, p.test, round(p.rate_per_s, 2)) for p in m.result(LlmResult).phases]


def only(runs):
    assert len(runs) == 1
    return runs[0]


# -- llama-bench --------------------------------------------------------------------------


def test_md_thread_sweep_is_one_record_per_thread_count(tmp_path):
    runs = ingest(tmp_path, "llama-bench", "llama_bench", "md_cpu_raspberry_pi5_2gb_thread_sweep_build836d571.txt")
    assert [m.config.threads for m, _ in runs] == [1, 2, 3, 4]
    assert [phases(m) for m, _ in runs] == [
        [("prefill", "pp512", 93.49), ("decode", "tg128", 32.42)],
        [("prefill", "pp512", 173.68), ("decode", "tg128", 33.84)],
        [("prefill", "pp512", 233.22), ("decode", "tg128", 29.37)],
        [("prefill", "pp512", 289.92), ("decode", "tg128", 27.28)],
    ]
    m, run = runs[0]
    r = m.result(LlmResult)
    assert (m.status, m.runtime.name, m.runtime.version, m.model.name, m.model.format) == (
        "ok", "llama_bench", "836d571", "qwen2 1B Q4_0", "gguf")
    assert m.model.size_bytes == round(403.20 * MiB) and r.model_n_params == pytest.approx(630.17e6)
    assert r.phases[0].rate_std_per_s == pytest.approx(0.20) and r.phases[0].units == 512
    assert (r.backends, r.build_number) == ("CPU", 1)
    assert run.samples.num_rows == 0  # markdown has averages only: no sample is made up
    assert m.summary.throughput_per_s == pytest.approx(32.42)  # the one decode test's printed rate
    assert m.config.stop.count == 5 and any("default 5 assumed" in n for n in m.notes)
    assert m.config.options == {"n_prompt": [0, 512], "n_gen": [0, 128], "n_depth": [0]}
    assert m.metadata["ingest_format"] == "llama-bench"
    assert "qwen2 1B Q4_0" in run.raw("llama_bench")


def test_md_vendor_lines_and_narrow_columns(tmp_path):
    m, _ = only(ingest(tmp_path, "llama-bench", "llama_bench", "md_cpu_riscv64_spacemit_k3_qwen3_0.6b_vendor_stderr_lines.txt"))
    assert phases(m) == [("prefill", "pp128", 499.75), ("decode", "tg128", 53.35)]
    r = m.result(LlmResult)
    assert (m.model.name, m.config.threads, r.n_ubatch, r.flash_attn) == ("qwen3 0.6B Q4_0", 8, 128, "1")
    assert m.config.options["flash_attn"] == "on" and m.config.options["n_ubatch"] == 128
    assert any("4 line(s) that are not results" in n for n in m.notes)

    m, _ = only(ingest(tmp_path, "llama-bench", "llama_bench",
                       "md_hexagon_htp_android_snapdragon_v79_narrow_cols_malformed_separator.txt"))
    assert phases(m) == [("prefill", "pp128", 169.42), ("decode", "tg64", 51.54)]
    r = m.result(LlmResult)
    assert (r.backends, r.n_gpu_layers, r.n_batch, m.config.threads, m.runtime.version) == ("HTP", 99, 128, 4, "6a8cf8914")
    assert m.model.size_bytes == round(729.75 * MiB)


@pytest.mark.parametrize("name, rates, backend, ngl", [
    ("md_cuda_jetson_orin_nano_8gb_jp6.2_total_vram_line_build_number_1.txt", (874.77, 23.85), "CUDA", 99),
    ("md_cuda_build_cpu_only_dev_none_ngl_minus1_jetson_orin_nano.txt", (40.39, 12.75), "CUDA", -1),
    ("md_cuda_jetson_agx_orin_build4675_fa_col_indented24_notes.txt", (128.64, 5.37), "CUDA", 99),
    ("md_metal_blas_apple_mac_qwen2_14b_build4840_zh_notes.txt", (114.96, 11.27), "Metal,BLAS", None),
])
def test_md_gpu_builds(tmp_path, name, rates, backend, ngl):
    m, _ = only(ingest(tmp_path, "llama-bench", "llama_bench", name))
    assert [p[2] for p in phases(m)] == list(rates)
    r = m.result(LlmResult)
    assert r.backends == backend and r.n_gpu_layers == ngl
    assert m.config.options.get("n_gpu_layers") == ngl


def test_json_2023_samples_are_rows_in_seconds_per_token(tmp_path):
    m, run = only(ingest(tmp_path, "llama-bench", "llama_bench", "json_build1275_2023_old_schema_cuda_metal_bools.txt"))
    r = m.result(LlmResult)
    pp, tg = r.phases
    assert (pp.name, pp.units, pp.repetitions, tg.name, tg.units, tg.repetitions) == ("prefill", 512, 5, "decode", 128, 5)
    rows = rows_of(run.samples, "prefill", pp.rows)
    seconds = [lat * n / 1e9 for lat, n in zip(rows["latency_ns"].to_pylist(), rows["inferences"].to_pylist())]
    assert seconds == pytest.approx([0.213837238, 0.211635853, 0.212328053, 0.211329715, 0.212698907], abs=1e-6)
    assert rows["inferences"].to_pylist() == [512] * 5
    # the figures are computed from the rows, and agree with what llama-bench printed
    assert pp.rate_per_s == pytest.approx(2410.974041, rel=1e-5) and pp.reported["avg_ts"] == pytest.approx(2410.974041)
    assert pp.time_s.mean_s == pytest.approx(0.212365953, rel=1e-6)
    assert tg.rate_per_s == pytest.approx(130.965708, rel=1e-5)
    assert (m.model.name, m.model.size_bytes, m.config.threads, m.config.stop.count) == ("ggml-model-q4_0", 3825065984, 16, 5)
    assert (r.type_k, r.build_commit, r.model_type) == (None, "3469684", "llama 7B mostly Q4_0")


def test_csv_2026_schema_averages(tmp_path):
    m, run = only(ingest(tmp_path, "llama-bench", "llama_bench",
                         "csv_jetson_orin_cuda_build7772_2026_llama8b_f16_fa1_comment_prefix_stripped.txt"))
    pp, tg = m.result(LlmResult).phases
    assert (pp.rate_per_s, tg.rate_per_s, tg.rate_std_per_s) == (pytest.approx(177.866833), pytest.approx(3.400850),
                                                                  pytest.approx(0.000393))
    assert tg.time_s.mean_s == pytest.approx(37.637646806) and pp.time_s.std_s == pytest.approx(294642e-9)
    assert run.samples.num_rows == 0  # CSV carries no repetitions
    assert (m.model.name, m.model.size_bytes, m.runtime.version) == ("meta-llama-3.1-8b-instruct.f16", 16061055232, "287a33017")
    assert m.config.options["flash_attn"] == "on" and m.config.options["n_gpu_layers"] == 99


def test_jsonl_fork_latency_fields_kept_as_printed(tmp_path):
    m, run = only(ingest(tmp_path, "llama-bench", "llama_bench",
                         "jsonl_fork_build6321_2025_openblas_bigendian_ttft_itl_fields_sci_notation_empty_arrays.txt"))
    pp, tg = m.result(LlmResult).phases
    assert phases(m) == [("prefill", "pp512", 81.43), ("decode", "tg128", 23.29)]
    assert run.samples.num_rows == 10 and tg.repetitions == 5
    assert "ttft_s" not in pp.reported  # printed as 0 with no samples: not measured
    assert tg.reported["ttft_s"] == pytest.approx(0.043519547) and tg.reported["itl_s"] == pytest.approx(0.042956096)
    assert tg.reported["samples_itl_s"][0] == pytest.approx(0.0434463)
    assert m.config.options["flash_attn"] == "off" and m.model.name == "granite-3.3-2b-instruct-be.IQ4_XS"


def test_batched_bench_rows(tmp_path):
    m, run = only(ingest(tmp_path, "llama-bench", "llama_bench", "batched_bench_raw_file_leading_blank_line_2rows.txt"))
    assert m.runtime.name == "llama-batched-bench" and m.config.threads == 28
    # recomputed from the printed times (rounded to ms), so within a rounding of the printed rates
    printed = [("prefill", "pp512+tg128 x4", 337.95), ("decode", "pp512+tg128 x4", 53.37),
               ("prefill", "pp512+tg128 x8", 341.31), ("decode", "pp512+tg128 x8", 70.30)]
    got = [(p.name, p.test, p.rate_per_s) for p in m.result(LlmResult).phases]
    assert [g[:2] for g in got] == [p[:2] for p in printed]
    assert [g[2] for g in got] == pytest.approx([p[2] for p in printed], abs=0.02)
    assert [p.reported["rate_per_s"] for p in m.result(LlmResult).phases] == [p[2] for p in printed]
    pp = m.result(LlmResult).phases[0]
    assert pp.units == 2048 and pp.time_s.mean_s == pytest.approx(6.060) and pp.reported["n_kv"] == 2560
    assert run.samples.num_rows == 4


def test_csv_header_and_rows_disagree_is_refused_and_nothing_written(tmp_path):
    path = CAPTURES / "llama_bench" / "csv_build1275_2023_old_schema_header_row_field_mismatch.txt"
    with pytest.raises(HarnessError) as e:
        ingest_file("llama-bench", path, results=tmp_path / "results")
    assert str(e.value) == f"{path}: line 2: CSV row has 27 fields but the header (line 1) names 26"
    assert RunStore(tmp_path / "results").manifests() == []


@pytest.mark.parametrize("cut, where", [(-300, "JSON does not parse"), (-40, "JSON does not parse")])
def test_cut_json_is_refused(tmp_path, cut, where):
    text = (CAPTURES / "llama_bench" / "json_build1275_2023_old_schema_cuda_metal_bools.txt").read_text()
    path = tmp_path / "cut.json"
    path.write_text(text[:cut])
    with pytest.raises(HarnessError, match=rf"cut.json: line \d+: {where}"):
        ingest_file("llama-bench", path, results=tmp_path / "results")


@pytest.mark.parametrize("fmt, name, text, message", [
    ("llama-bench", "notes.txt", "just some notes\n", r"notes.txt: no llama-bench results"),
    ("llama-timings", "t.log", "llama_perf_context_print:        load time =     655.14 ms\n"
                               "llama_perf_context_print: prompt eval time =  45.6", r"t.log: line 2: timing line is cut"),
    ("executorch", "run.log", 'text\nPyTorchObserver {"prompt_tokens":5,"generated_tok',
     r"run.log: line 2: PyTorchObserver JSON does not parse"),
])
def test_a_file_that_is_not_whole_is_refused_and_nothing_written(tmp_path, fmt, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(HarnessError, match=message):
        ingest_file(fmt, path, results=tmp_path / "results")
    assert RunStore(tmp_path / "results").manifests() == []


def test_a_cut_markdown_row_names_its_line(tmp_path):
    lines = (CAPTURES / "llama_bench" / "md_cpu_raspberry_pi5_2gb_thread_sweep_build836d571.txt").read_text().splitlines()
    path = tmp_path / "cut.md"
    path.write_text("\n".join(lines[:5] + [lines[5][:50]]) + "\n")
    with pytest.raises(HarnessError, match=r"cut.md: line 6: table row has \d cells but the header names 7 \(cut short\?\)"):
        ingest_file("llama-bench", path, results=tmp_path / "results")


# -- llama.cpp timing blocks ---------------------------------------------------------------


@pytest.mark.parametrize("name, prefill, decode, load_s, runtime", [
    ("llama_perf_2025-01_build4424_mac_m4_metal_ci_log_timestamp_prefix.txt",
     ("pp7+tg64", 7, 153.41), (63, 98.94), 0.65514, "llama.cpp"),
    ("llama_perf_2025-10_android_snapdragon_hexagon_htp0_graphs_reused_memory_breakdown.txt",
     ("pp11+tg476", 11, 136.21), (475, 51.57), 0.61794, "llama.cpp"),
    ("llama_perf_2025_jetson_orin_nano_llama_cli_mistral.txt", ("pp17+tg515", 17, 7.75), (514, 6.06), 3.49872,
     "llama.cpp"),
    ("llama_print_timings_2023-05_ms_per_token_only_no_tokens_per_second.txt", ("pp353+tg100", 353, 13.82),
     (99, 3.94), 25.85383, "llama.cpp"),
    ("llama_print_timings_2023-07_build893_arm64_perplexity_inf_tokens_per_second.txt", ("pp384+tg2", 384, 3.26),
     None, 42.00607, "llama.cpp"),
    ("llama_server_slot_print_timing_2025_jetson_orin_nano_split_prefix.txt", ("pp11+tg101", 11, 7.79), (100, 6.22),
     None, "llama-server"),
])
def test_llama_timings(tmp_path, name, prefill, decode, load_s, runtime):
    m, run = only(ingest(tmp_path, "llama-timings", "llama_timings", name))
    r = m.result(LlmResult)
    pp = r.of("prefill")[0]
    assert (pp.test, pp.units, round(pp.rate_per_s, 2)) == prefill
    assert pp.ttft_s is None  # these logs time no first token
    if decode is None:
        assert r.of("decode") == [] and m.summary.throughput_per_s is None
    else:
        tg = r.of("decode")[0]
        assert (tg.units, round(tg.rate_per_s, 2)) == decode
        assert m.summary.throughput_per_s == pytest.approx(tg.rate_per_s)
    assert m.phases.load_s == (pytest.approx(load_s) if load_s is not None else None)
    assert m.runtime.name == runtime and run.samples.num_rows == len(r.phases)


def test_llama_timings_memory_breakdown_and_earliest_format(tmp_path):
    m, _ = only(ingest(tmp_path, "llama-timings", "llama_timings",
                       "llama_perf_2025-10_android_snapdragon_hexagon_htp0_graphs_reused_memory_breakdown.txt"))
    details = m.result(LlmResult).details
    assert details["graphs_reused"] == 473 and details["total_tokens"] == 486
    assert [b["name"] for b in details["memory_breakdown_bytes"]] == ["HTP0 (Hexagon)", "Host", "HTP0-REPACK"]
    m, _ = only(ingest(tmp_path, "llama-timings", "llama_timings",
                       "main_timings_2023-03_earliest_format_mem_per_token_predict_time.txt"))
    (p,) = m.result(LlmResult).phases
    assert (p.name, p.units, p.test) == ("prefill+decode", 526, "526 tokens")  # 193441.61 ms / 367.76 ms per token
    assert p.rate_per_s == pytest.approx(526 / 193.44161)
    assert m.phases.load_s == pytest.approx(83.07667) and m.result(LlmResult).details["mem_per_token_bytes"] == 22357508


# -- ExecuTorch ----------------------------------------------------------------------------


@pytest.mark.parametrize("name, tokens, ttft_s, rates, peak_mib, load_s", [
    ("llama_main_android_2024-10_full_run_stats_before_observer_glued_prompt_log.txt", (5, 114), 0.102,
     (49.02, 39.30), 1223.152344, 3.926),
    ("llama_main_android_kleidiai_epoch2024-03_fully_tab_separated_stats.txt", (54, 53), 0.185, (291.89, 38.63),
     None, 3.577),
    ("llama_main_vulkan_galaxy_s24_2025-10_tokenizer_error_line_stats_no_log_prefix.txt", (14, 54), 0.164,
     (85.37, 52.68), None, 2.277),
    ("llama_main_xnnpack_kleidiai_android_2025-08_tab_separated_stats_rss_lines_glued_log.txt", (54, 36), 0.130,
     (415.38, 53.02), 1122.1875, 0.9),
    ("voxtral_runner_2025-08_model_load_zero_wrapped_text_before_observer.txt", (388, 99), 5.054, (76.77, 8.87),
     None, None),
])
def test_executorch(tmp_path, name, tokens, ttft_s, rates, peak_mib, load_s):
    m, run = only(ingest(tmp_path, "executorch", "executorch", name))
    r = m.result(LlmResult)
    pp, tg = r.phases
    assert (pp.units, tg.units) == tokens
    assert pp.ttft_s.median_s == pytest.approx(ttft_s, abs=1e-9) and pp.ttft_s.n == 1
    assert (round(pp.rate_per_s, 2), round(tg.rate_per_s, 2)) == rates
    assert m.summary.memory.get("peak_rss_bytes") == (pytest.approx(round(peak_mib * MiB)) if peak_mib else None)
    assert m.phases.load_s == (pytest.approx(load_s) if load_s else None)
    assert m.runtime.name == "executorch" and m.model.format == "pte"
    assert run.samples["phase"].to_pylist() == ["ttft", "prefill", "decode"]
    assert r.details["resolution_s"] == 0.001


def test_cli_ingest_json_and_an_error_line(tmp_path):
    cmd = [sys.executable, "-m", "harness", "ingest", "--format", "llama-bench", "--results", str(tmp_path / "r")]
    ok = subprocess.run([*cmd, str(CAPTURES / "llama_bench" / "md_metal_blas_apple_mac_qwen2_14b_build4840_zh_notes.txt"),
                         "--json"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    out = json.loads(ok.stdout)
    assert [p["rate_per_s"] for p in out["results"][0]["phases"]] == [114.96, 11.27]
    bad = subprocess.run([*cmd, str(CAPTURES / "llama_bench" / "csv_build1275_2023_old_schema_header_row_field_mismatch.txt")],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines()[-1].startswith("error: ") and "line 2: CSV row has 27 fields" in bad.stderr
