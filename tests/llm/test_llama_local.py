"""The real llama.cpp on this host: llama-bench in every output format and the TTFT driver,
run on the tiny random-weight GGUFs through the local transport and parsed by our parsers.

Values are checked for presence, units and internal consistency, never for speed.
"""

from __future__ import annotations

import statistics

import pytest

from harness.llm.driver import DriverOptions, llama_bench_argv
from harness.llm.execute import LlamaRunError, run_driver, run_llama_bench
from harness.llm.gguf_model import read_gguf
from harness.profiles import load_profile
from harness.transports.local import LocalTransport

pytestmark = pytest.mark.timeout(3600)  # the first test may build llama.cpp (cached afterwards)

TINY_SET = [f"random-llama-{s}-{q}" for s in ("tiny", "small") for q in ("f32", "f16", "q8_0", "q4_0")]


@pytest.fixture(scope="module")
def local():
    with LocalTransport(load_profile("local")) as t:
        yield t


@pytest.mark.parametrize("name", TINY_SET)
def test_driver_loads_and_runs_every_tiny_model(llama_build, tiny_gguf, local, name):
    path = tiny_gguf(name)
    gguf = read_gguf(path)
    res = run_driver(local, llama_build.driver, path, DriverOptions(n_prompt=8, n_gen=4, reps=1, warmup=0, threads=1))
    assert res.complete and res.warnings == [] and len(res.measured) == 1
    # llama.cpp and our GGUF reader agree on the model
    assert res.load["model_n_params"] == gguf.n_params
    assert res.load["model_size_bytes"] == gguf.weight_bytes
    assert res.load["n_vocab"] == gguf.n_vocab and res.load["n_ctx_train"] == gguf.context_length
    (rep,) = res.measured
    assert len(rep.token_t_ns) == 4 and rep.ttft_s > 0 and rep.decode_tokens_per_s > 0


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "md"])
def test_llama_bench_output_parses_in_every_format(llama_build, tiny_gguf, local, fmt):
    path = tiny_gguf("random-llama-small-q8_0")
    argv = llama_bench_argv(llama_build.llama_bench, path, n_prompt=32, n_gen=8, reps=3, threads=1, output=fmt)
    log = run_llama_bench(local, argv)
    assert [t.test for t in log.tests] == ["pp32", "tg8"]
    pp, tg = log.tests
    assert (pp.phase, tg.phase) == ("prefill", "decode")
    for t in log.tests:
        assert t.tokens_per_s > 0 and t.model_n_params == pytest.approx(read_gguf(path).n_params, rel=0.01)
        assert t.n_threads == 1
    if fmt == "md":
        assert log.build_commit == llama_build.llama_cpp_commit[:8]
        return
    for t in log.tests:
        assert t.build_commit == llama_build.llama_cpp_commit[:8] and t.test_time is not None
        assert t.type_k == "f16" and t.n_depth == 0 and t.mean_s > 0
        if fmt == "csv":  # llama-bench's CSV has no per-repetition columns
            assert t.samples_s == []
            continue
        assert len(t.samples_s) == 3 and len(t.samples_tokens_per_s) == 3
        # llama-bench's avg_ns is the samples' integer mean: truncated to whole nanoseconds
        assert t.mean_s == pytest.approx(statistics.mean(t.samples_s), rel=1e-6, abs=1e-9)
        tokens = t.n_prompt + t.n_gen
        assert t.samples_tokens_per_s == pytest.approx([tokens / s for s in t.samples_s], rel=1e-3)
        assert min(t.samples_tokens_per_s) <= t.tokens_per_s <= max(t.samples_tokens_per_s)  # their mean


def test_llama_bench_depth(llama_build, tiny_gguf, local):
    argv = llama_bench_argv(llama_build.llama_bench, tiny_gguf("random-llama-tiny-q4_0"), n_prompt=16, n_gen=4,
                            n_depth=64, reps=2, threads=1)
    log = run_llama_bench(local, argv)
    assert [(t.test, t.n_depth) for t in log.tests] == [("pp16 @ d64", 64), ("tg4 @ d64", 64)]


def test_driver_measures_ttft_prefill_decode_itl_and_rss(llama_build, tiny_gguf, local):
    path = tiny_gguf("random-llama-small-q4_0")
    opts = DriverOptions(n_prompt=64, n_gen=32, reps=3, warmup=1, threads=1)
    res = run_driver(local, llama_build.driver, path, opts)
    assert res.complete and res.warnings == [] and res.error is None
    assert res.hello["clock"] == "CLOCK_MONOTONIC" and res.hello["llama_commit"] == llama_build.llama_cpp_commit
    assert [r.rep for r in res.reps] == [-1, 0, 1, 2] and [r.warmup for r in res.reps] == [True, False, False, False]
    assert res.load_s is not None and res.load_s > 0
    for r in res.measured:
        assert len(r.token_t_ns) == 32
        assert r.t_start_ns < r.t_prefill_end_ns <= r.t_first_token_ns <= r.t_end_ns
        assert 0 < r.prefill_s <= r.ttft_s
        assert r.prefill_tokens_per_s > 0 and r.decode_tokens_per_s > 0
        assert sum(r.inter_token_s) == pytest.approx(r.decode_s)
        # llama.cpp's own timers run inside our windows, on the same monotonic clock
        assert (r.llama_perf["n_p_eval"], r.llama_perf["n_eval"]) == (64, 31)
        assert r.llama_perf["t_p_eval_ms"] / 1e3 <= r.prefill_s + 1e-3
        assert r.llama_perf["t_eval_ms"] / 1e3 <= r.decode_s + 1e-3
    ttft, itl = res.ttft(), res.inter_token()
    assert ttft.n == 3 and ttft.median_s > 0
    assert itl.n == 3 * 31 and 0 < itl.median_s <= itl.p99_s <= itl.max_s
    assert len(res.prefill_tokens_per_s()) == 3 and len(res.decode_tokens_per_s()) == 3
    # peak resident memory: more than the weights, far less than this machine
    assert path.stat().st_size < res.peak_rss_bytes < 4 * 2**30
    assert res.peak_rss_bytes >= max(r.rss_bytes for r in res.measured)


def test_driver_depth(llama_build, tiny_gguf, local):
    res = run_driver(local, llama_build.driver, tiny_gguf("random-llama-tiny-f16"),
                     DriverOptions(n_prompt=8, n_gen=4, n_depth=100, reps=1, warmup=0, threads=1))
    (r,) = res.measured
    assert (r.n_depth, r.llama_perf["n_p_eval"]) == (100, 8)
    assert res.load["n_ctx"] >= 112


def test_driver_failure_is_one_clear_error(llama_build, local, tmp_path):
    with pytest.raises(LlamaRunError, match=r"failed at load: llama.cpp could not load .*missing.gguf"):
        run_driver(local, llama_build.driver, tmp_path / "missing.gguf", DriverOptions(reps=1, warmup=0))
    res = local.run([str(llama_build.driver), "-m", "x.gguf", "-p", "zero"], timeout=30)
    assert res.returncode == 2 and '"stage":"args"' in res.stdout and "-p: expected an integer" in res.stdout


def test_llama_bench_failure_keeps_its_output(llama_build, local, tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(LlamaRunError, match="llama-bench exited") as e:
        run_llama_bench(local, llama_bench_argv(llama_build.llama_bench, bad, reps=1))
    assert e.value.stderr
