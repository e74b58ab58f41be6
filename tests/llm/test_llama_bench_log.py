"""llama-bench / llama-batched-bench parser on every verbatim capture, and on cut or corrupt input."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from harness.logs.llama_bench import LlamaLogError, parse_llama_bench

CAPTURES = Path(__file__).parent / "captures" / "llama_bench"
MiB, GiB = 2**20, 2**30


def parse(name: str):
    return parse_llama_bench((CAPTURES / name).read_text(), source=name)


def rates(log):
    return [(t.test, t.tokens_per_s, t.tokens_per_s_stddev) for t in log.tests]


def test_md_raspberry_pi5_thread_sweep():
    log = parse("md_cpu_raspberry_pi5_2gb_thread_sweep_build836d571.txt")
    assert (log.format, log.tool, log.build_commit, log.build_number) == ("md", "llama-bench", "836d571", 1)
    assert [t.n_threads for t in log.tests] == [1, 1, 2, 2, 3, 3, 4, 4]
    assert [t.phase for t in log.tests[:2]] == ["prefill", "decode"]
    assert rates(log)[:2] == [("pp512", 93.49, 0.20), ("tg128", 32.42, 0.14)]
    assert rates(log)[-1] == ("tg128", 27.28, 0.02)
    t = log.tests[0]
    assert (t.n_prompt, t.n_gen, t.n_depth, t.line) == (512, 0, 0, 3)
    assert t.model_type == "qwen2 1B Q4_0" and t.backends == "CPU"
    assert t.model_size_bytes == pytest.approx(403.20 * MiB)
    assert t.model_n_params == pytest.approx(630.17e6)
    assert (t.build_commit, t.build_number) == ("836d571", 1)
    assert t.mean_s is None and t.samples_s == []  # markdown gives rates only
    assert log.skipped.count == 0


def test_md_riscv_vendor_stderr_lines_skipped_and_counted():
    log = parse("md_cpu_riscv64_spacemit_k3_qwen3_0.6b_vendor_stderr_lines.txt")
    assert log.skipped.count == 4
    assert log.skipped.first[2].startswith("line 3: CPU_RISCV64_SPACEMIT: alloc_chunk: open(/dev/tcm_sync_mem)")
    assert rates(log) == [("pp128", 499.75, 0.22), ("tg128", 53.35, 0.03)]
    t = log.tests[0]
    assert (t.n_threads, t.n_ubatch, t.flash_attn, t.fields["use_mmap"]) == (8, 128, "1", "0")
    assert t.model_size_bytes == pytest.approx(358.78 * MiB) and t.model_n_params == pytest.approx(596.05e6)
    assert log.build_commit is None  # the doc has no build line


def test_md_cuda_build_run_cpu_only():
    log = parse("md_cuda_build_cpu_only_dev_none_ngl_minus1_jetson_orin_nano.txt")
    assert rates(log) == [("pp512", 40.39, 0.08), ("tg128", 12.75, 0.09)]
    t = log.tests[1]
    assert (t.backends, t.n_gpu_layers, t.fields["devices"]) == ("CUDA", -1, "none")
    assert t.model_size_bytes == pytest.approx(1.79 * GiB) and t.model_n_params == pytest.approx(3.09e9)
    assert (t.build_commit, t.build_number) == ("873e5d8", 1)


def test_md_indented_notes_with_fa_column():
    log = parse("md_cuda_jetson_agx_orin_build4675_fa_col_indented24_notes.txt")
    assert (log.build_commit, log.build_number) == ("55ac8c77", 4675)
    assert rates(log) == [("pp512", 128.64, 0.03), ("tg128", 5.37, 0.01)]
    assert [t.flash_attn for t in log.tests] == ["1", "1"]
    assert log.tests[0].model_type == "qwen2 32B Q4_K - Medium"
    assert log.tests[0].model_size_bytes == pytest.approx(18.48 * GiB)
    assert log.skipped.count == 4  # ggml_cuda_init lines and the Device line


def test_md_total_vram_device_lines():
    log = parse("md_cuda_jetson_orin_nano_8gb_jp6.2_total_vram_line_build_number_1.txt")
    assert rates(log) == [("pp512", 874.77, 28.22), ("tg128", 23.85, 0.01)]
    assert log.skipped.count == 2 and "Total VRAM: 7607 MiB" in log.skipped.first[0]
    assert (log.tests[0].n_gpu_layers, log.build_number) == (99, 1)


def test_md_hexagon_narrow_columns_and_malformed_separator():
    log = parse("md_hexagon_htp_android_snapdragon_v79_narrow_cols_malformed_separator.txt")
    assert rates(log) == [("pp128", 169.42, 1.75), ("tg64", 51.54, 1.13)]
    t = log.tests[1]
    assert (t.n_prompt, t.n_gen, t.backends, t.n_threads, t.n_batch, t.n_gpu_layers) == (0, 64, "HTP", 4, 128, 99)
    assert t.model_n_params == pytest.approx(1.24e9) and t.model_size_bytes == pytest.approx(729.75 * MiB)
    assert (log.build_commit, log.build_number, log.skipped.count) == ("6a8cf8914", 6733, 4)


def test_md_metal_blas_backend_pair():
    log = parse("md_metal_blas_apple_mac_qwen2_14b_build4840_zh_notes.txt")
    assert rates(log) == [("pp512", 114.96, 0.08), ("tg128", 11.27, 0.03)]
    assert log.tests[0].backends == "Metal,BLAS" and log.tests[0].n_threads == 8
    assert (log.build_commit, log.build_number) == ("3ffbbd5c", 4840)


def test_csv_2026_schema_in_si_units():
    log = parse("csv_jetson_orin_cuda_build7772_2026_llama8b_f16_fa1_comment_prefix_stripped.txt")
    assert log.format == "csv"
    pp, tg = log.tests
    assert (pp.test, pp.n_prompt, pp.n_gen, pp.n_depth) == ("pp512", 512, 0, 0)
    assert pp.mean_s == pytest.approx(2.878558047) and pp.stddev_s == pytest.approx(294642e-9)
    assert pp.tokens_per_s == pytest.approx(177.866833)
    assert tg.test == "tg128" and tg.mean_s == pytest.approx(37.637646806)
    assert tg.tokens_per_s == pytest.approx(3.400850) and tg.tokens_per_s_stddev == pytest.approx(0.000393)
    assert (tg.build_commit, tg.build_number, tg.gpu_info, tg.cpu_info) == (
        "287a33017", 7772, "Orin", "ARMv8 Processor rev 1 (v8l)")
    assert (tg.model_size_bytes, tg.model_n_params, tg.type_k, tg.flash_attn) == (16061055232, 8030261312, "f16", "1")
    assert tg.test_time == dt.datetime(2026, 4, 15, 23, 13, 22, tzinfo=dt.timezone.utc)
    assert tg.fields["n_cpu_moe"] == "0" and tg.fields["devices"] == "auto"


def test_csv_2023_header_and_rows_disagree_is_refused_naming_the_line():
    with pytest.raises(LlamaLogError) as e:
        parse("csv_build1275_2023_old_schema_header_row_field_mismatch.txt")
    assert e.value.line == 2
    assert "27 fields but the header (line 1) names 26" in str(e.value)
    assert str(e.value).startswith("csv_build1275_2023_old_schema_header_row_field_mismatch.txt: line 2:")


def test_json_2023_schema_samples_in_seconds():
    log = parse("json_build1275_2023_old_schema_cuda_metal_bools.txt")
    pp, tg = log.tests
    assert (pp.line, tg.line) == (2, 32)
    assert pp.samples_s == pytest.approx([0.213837238, 0.211635853, 0.212328053, 0.211329715, 0.212698907])
    assert pp.samples_tokens_per_s == pytest.approx([2394.34, 2419.25, 2411.36, 2422.75, 2407.16])
    assert pp.mean_s == pytest.approx(0.212365953) and pp.tokens_per_s == pytest.approx(2410.974041)
    assert tg.samples_s[-1] == pytest.approx(0.967548060) and tg.tokens_per_s == pytest.approx(130.965708)
    assert (tg.n_depth, tg.n_threads, tg.n_gpu_layers, tg.model_type) == (0, 16, 99, "llama 7B mostly Q4_0")
    assert tg.fields["cuda"] is True and tg.fields["metal"] is False and tg.fields["f16_kv"] is True


def test_jsonl_fork_ttft_and_itl_fields():
    log = parse("jsonl_fork_build6321_2025_openblas_bigendian_ttft_itl_fields_sci_notation_empty_arrays.txt")
    pp, tg = log.tests
    assert pp.ttft_s is None and pp.itl_s is None and pp.samples_itl_s == []  # pp: 0.000000 and empty arrays
    assert pp.e2e_s == pytest.approx(6.287855687)
    assert tg.ttft_s == pytest.approx(0.043519547) and tg.ttft_stddev_s == pytest.approx(0.001625999)
    assert tg.itl_s == pytest.approx(0.042956096)
    assert tg.samples_ttft_s == pytest.approx([0.04618284, 0.043768889, 0.04317648, 0.04221065, 0.042258878])
    assert tg.samples_itl_s == pytest.approx([0.0434463, 0.0446334, 0.0421663, 0.0422697, 0.0422648])  # 4.34463e+07 ns
    assert tg.samples_s[0] == pytest.approx(5.563859512) and tg.tokens_per_s == pytest.approx(23.288635)
    assert (tg.backends, tg.gpu_info, tg.flash_attn, tg.n_ubatch) == ("BLAS", "", "false", 512)


def test_batched_bench_table():
    log = parse("batched_bench_raw_file_leading_blank_line_2rows.txt")
    assert (log.tool, log.format, log.tests) == ("llama-batched-bench", "table", [])
    assert log.params["n_kv_max"] == 6144 and log.params["n_gpu_layers"] == -1 and log.params["n_threads"] == 28
    a, b = log.batched
    assert (a.n_prompt, a.n_gen, a.n_parallel, a.n_kv) == (512, 128, 4, 2560)
    assert (a.prefill_s, a.prefill_tokens_per_s, a.decode_s, a.decode_tokens_per_s) == (6.060, 337.95, 9.593, 53.37)
    assert (b.n_parallel, b.total_s, b.tokens_per_s) == (8, 26.566, 192.73)


# -- cut and corrupt input -----------------------------------------------------------------

MD_OK = """\
| model                          |       size |     params | backend    | threads |            test |                  t/s |
| ------------------------------ | ---------: | ---------: | ---------- | ------: | --------------: | -------------------: |
| qwen2 1B Q4_0                  | 403.20 MiB |   630.17 M | CPU        |       4 |    pp512 @ d256 |        289.92 ± 0.11 |
| qwen2 1B Q4_0                  | 403.20 MiB |   630.17 M | CPU        |       4 |     pp512+tg128 |         27.28 ± 0.02 |
"""


def test_md_depth_and_pg_tests():
    a, b = parse_llama_bench(MD_OK).tests
    assert (a.n_prompt, a.n_gen, a.n_depth, a.phase) == (512, 0, 256, "prefill")
    assert (b.n_prompt, b.n_gen, b.n_depth, b.phase) == (512, 128, 0, "prefill+decode")


def test_md_cut_row_is_refused():
    cut = MD_OK.splitlines()
    text = "\n".join(cut[:3] + [cut[3][:60]])
    with pytest.raises(LlamaLogError, match=r"line 4: table row has 3 cells but the header names 7 \(cut short\?\)"):
        parse_llama_bench(text, source="cut.md")


def test_md_bad_rate_is_refused():
    with pytest.raises(LlamaLogError, match=r"line 3: t/s cell 'fast' is not"):
        parse_llama_bench(MD_OK.replace("289.92 ± 0.11", "fast"))


def test_jsonl_cut_last_line_is_refused():
    text = (CAPTURES / "jsonl_fork_build6321_2025_openblas_bigendian_ttft_itl_fields_sci_notation_empty_arrays.txt"
            ).read_text()
    with pytest.raises(LlamaLogError, match=r"x.jsonl: line 2: JSON line does not parse"):
        parse_llama_bench(text[: len(text) - 200], source="x.jsonl")


def test_json_cut_array_is_refused():
    text = (CAPTURES / "json_build1275_2023_old_schema_cuda_metal_bools.txt").read_text()
    with pytest.raises(LlamaLogError, match=r"line \d+: JSON does not parse"):
        parse_llama_bench(text[:-300])


def test_csv_short_row_is_refused():
    lines = (CAPTURES / "csv_jetson_orin_cuda_build7772_2026_llama8b_f16_fa1_comment_prefix_stripped.txt"
             ).read_text().splitlines()
    text = "\n".join([lines[0], lines[1], ",".join(lines[2].split(",")[:20])])
    with pytest.raises(LlamaLogError, match=r"line 3: CSV row has 20 fields but the header \(line 1\) names 39 \(cut"):
        parse_llama_bench(text)


def test_record_without_figures_is_refused():
    with pytest.raises(LlamaLogError, match="line 1: result has neither avg_ts nor avg_ns"):
        parse_llama_bench('{"n_prompt": 512, "n_gen": 0}\n')


@pytest.mark.parametrize("text, reason", [
    ("", "no llama-bench results"),
    ("ggml_cuda_init: found 1 CUDA devices\nsegmentation fault\n", "no llama-bench results"),
    ("CREATE TABLE IF NOT EXISTS test (\n", "SQL output"),
    ("| model | test | t/s |\n| --- | --- | --- |\n", "no result rows"),
])
def test_no_results_is_refused(text, reason):
    with pytest.raises(LlamaLogError, match=reason):
        parse_llama_bench(text)
