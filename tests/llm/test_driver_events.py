"""Reading the TTFT driver's JSON lines: a real capture of its output (tiny q4_0 model, -p 8 -n 4
-r 2 -w 1 on this project's build), whole and cut, plus its command lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.llm.driver import DriverOptions, llama_bench_argv, parse_driver_events
from harness.logs.llama_bench import LlamaLogError

CAPTURE = Path(__file__).parent / "captures" / "driver" / "tiny_q4_0_p8_n4_r2_w1.jsonl"
LINES = CAPTURE.read_text().splitlines()


def test_whole_output():
    res = parse_driver_events(LINES)
    assert res.complete and res.error is None and res.warnings == [] and res.skipped.count == 0
    assert res.hello["schema"] == 1 and res.hello["n_prompt"] == 8
    assert res.load_s == pytest.approx((3445376768859 - 3445350019821) / 1e9)
    assert res.load["model_n_params"] == 131776
    assert [(r.rep, r.warmup) for r in res.reps] == [(-1, True), (0, False), (1, False)]
    r0 = res.measured[0]
    assert r0.ttft_s == pytest.approx((3445378012551 - 3445377827154) / 1e9)
    assert r0.prefill_s == pytest.approx((3445378011249 - 3445377827154) / 1e9)
    assert r0.prefill_tokens_per_s == pytest.approx(8 / r0.prefill_s)
    assert r0.inter_token_s == pytest.approx([80251e-9, 66725e-9, 41337e-9])
    assert r0.decode_tokens_per_s == pytest.approx(3 / ((3445378200864 - 3445378012551) / 1e9))
    assert r0.llama_perf == {"t_p_eval_ms": 0.179, "n_p_eval": 8, "t_eval_ms": 0.178, "n_eval": 3}
    itl = res.inter_token()
    # rep 0: 80251, 66725, 41337 ns; rep 1: 90139, 42399, 41388 ns
    assert itl.n == 6 and itl.median_s == pytest.approx((42399 + 66725) / 2e9)
    assert itl.max_s == pytest.approx(90139e-9) and itl.min_s == pytest.approx(41337e-9)
    assert res.ttft().n == 2
    assert res.peak_rss_bytes == 9940992


def test_output_cut_inside_a_repetition_keeps_what_was_measured():
    cut = LINES[:18]  # rep 1's prefill and two of its tokens, no rep or done event
    res = parse_driver_events(cut)
    assert not res.complete and [r.rep for r in res.measured] == [0]
    assert any("rep 1: cut before its end" in w for w in res.warnings)
    assert any("ends before its done event" in w for w in res.warnings)
    assert res.peak_rss_bytes == 9940992  # from the readings that made it


def test_a_line_cut_mid_json_is_skipped_and_counted():
    res = parse_driver_events(LINES[:19] + [LINES[19][:40]])  # rep 1's rep event cut
    assert res.skipped.count == 1 and res.skipped.first[0].startswith('line 20: {"event":"rep"')
    assert len(res.measured) == 1 and not res.complete


def test_error_event():
    res = parse_driver_events(LINES[:1] + ['{"event":"error","stage":"load","message":"llama.cpp could not load x",'
                                           '"t_ns":1}'])
    assert res.error["stage"] == "load" and res.reps == [] and not res.complete


def test_token_stamps_that_go_backwards_are_flagged():
    lines = [ln.replace('"index":3,"id":8,"t_ns":3445378200864', '"index":3,"id":8,"t_ns":3445378000000')
             for ln in LINES]
    assert "rep 0: token stamps go backwards" in parse_driver_events(lines).warnings


def test_another_schema_is_refused():
    with pytest.raises(LlamaLogError, match="driver event schema 2, this harness reads 1"):
        parse_driver_events(['{"event":"hello","schema":2}'])


def test_command_lines():
    argv = DriverOptions(n_prompt=128, n_gen=32, n_depth=512, reps=5, threads=4, n_ctx=1024).argv("bin/d", "m.gguf")
    assert argv[:3] == ["bin/d", "-m", "m.gguf"]
    pairs = dict(zip(argv[3::2], argv[4::2]))
    assert pairs == {"-p": "128", "-n": "32", "-d": "512", "-r": "5", "-w": "1", "-ngl": "99", "-b": "2048",
                     "-ub": "512", "-fa": "-1", "-s": "42", "-t": "4", "-c": "1024"}
    assert llama_bench_argv("lb", "m.gguf", n_prompt=0, n_gen=64, n_depth=128, reps=3, threads=1) == [
        "lb", "-m", "m.gguf", "-p", "0", "-n", "64", "-r", "3", "-o", "jsonl", "-d", "128", "-t", "1"]
    with pytest.raises(ValueError):
        DriverOptions(n_gen=0)
