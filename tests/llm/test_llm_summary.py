"""An LLM record's summary from its tables: J/token per phase on telemetry windows aligned to
the driver's device-clock stamps (a real driver capture, a power trace with known levels),
decode throughput, and prefill/decode on the device's roofline — every figure recomputed
here from the raw rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from harness.analysis.ceilings import derive_ceilings, save_ceilings
from harness.analysis.energy import summarize_windows
from harness.formats.gguf import GgufFormat
from harness.llm.costs import decode_costs, prefill_costs
from harness.llm.driver import parse_driver_events
from harness.llm.record import PhaseRows, costs_for_model
from harness.llm.results import LlmResult, phase_from_samples, rows_of
from harness.models import resolve_model
from harness.profiles import parse_profile
from harness.session import write_record
from harness.store.record import RunConfig, RuntimeInfo, StopRule
from harness.store.recorder import Recorder
from harness.store.store import RunStore
from tests.report.test_ceilings import _events

CAPTURE = Path(__file__).parent / "captures" / "driver" / "tiny_q4_0_p8_n4_r2_w1.jsonl"
S = 1_000_000_000
IDLE_W, BUSY_W = 2.0, 6.0


def driver_result():
    return parse_driver_events(CAPTURE.read_text().splitlines(), source=CAPTURE.name)


def power_trace(rec: Recorder, busy: tuple[int, int], idle: list[tuple[int, int]]) -> None:
    """BUSY_W sampled every 10 µs over `busy`, IDLE_W every ms over the idle windows."""
    for a, b in idle:
        for t in np.arange(a, b + 1, 1_000_000):
            rec.add_telemetry(int(t), "power/VDD_IN", IDLE_W, "W")
    for t in np.arange(busy[0], busy[1] + 1, 10_000):
        rec.add_telemetry(int(t), "power/VDD_IN", BUSY_W, "W")


def ceilings_events():
    events = _events()
    events.insert(3, {"event": "compute", "dtype": "int8", "method": "FC sweep", "points": [
        {"batch": 64, "k": 512, "n": 512, "ops_per_weight": 128, "ops_per_s": 250e9}]})
    return events


def record(tmp_path, tiny_gguf, *, telemetry=True):
    path = tiny_gguf("random-llama-tiny-q4_0")
    ref, _ = resolve_model(str(path))
    res = driver_result()
    rec = Recorder(runtime=RuntimeInfo(name="llama_ttft", library="llama.cpp"))
    rows = PhaseRows(rec)
    rows.add_driver(res, costs_for_model(GgufFormat().model(path)))
    rec.set_result(rows.result("harness-llm-driver", threads=1))
    busy = (res.load["t_start_ns"], res.reps[-1].t_end_ns + 200_000)
    idle = [(busy[0] - S, busy[0] - S // 2), (busy[1] + S // 2, busy[1] + S)]
    rec.timeline.update(baseline_start_ns=idle[0][0], workload_start_ns=idle[0][1], workload_end_ns=idle[1][0],
                        baseline_end_ns=idle[1][1])
    if telemetry:
        power_trace(rec, busy, idle)
    profile = parse_profile({"id": "board", "name": "board", "transport": {"kind": "local"},
                             "runtimes": ["llama_ttft"]}, tmp_path / "board.yaml")
    store = RunStore(tmp_path / "results")
    save_ceilings(derive_ceilings(ceilings_events(), "board"), store.root)
    now = dt.datetime.now(dt.timezone.utc)
    m = write_record(store, rec, profile, ref, RunConfig(runtime="llama_ttft", threads=1, stop=StopRule(mode="fixed", count=2)),
                     "ok", None, now, now)
    return m, store.load(m.run_id), res, path


def test_phases_are_computed_from_the_rows(tmp_path, tiny_gguf):
    m, run, res, _ = record(tmp_path, tiny_gguf, telemetry=False)
    r = m.result(LlmResult)
    prefill, decode = r.phases
    assert [(p.name, p.test, p.units, p.repetitions, p.stamped) for p in r.phases] == [
        ("prefill", "pp8+tg4", 8, 2, True), ("decode", "pp8+tg4", 3, 2, True)]
    samples = run.samples
    # warm-up rows kept, under their own phase names; one inter_token row per token after the first
    assert samples["phase"].to_pylist()[:6] == ["warmup_ttft", "warmup_prefill", "warmup_decode"] + ["warmup_inter_token"] * 3
    assert len(rows_of(samples, "inter_token", decode.rows)) == 2 * 3
    reps = res.measured
    assert prefill.ttft_s.n == 2 and prefill.ttft_s.median_s == pytest.approx(np.median([x.ttft_s for x in reps]))
    assert decode.inter_token_s.n == 6
    assert decode.inter_token_s.p99_s == pytest.approx(np.percentile([g for x in reps for g in x.inter_token_s], 99))
    # rows keep ns per token (rounded): within 0.5 ns per token of the stamps
    assert prefill.rate_per_s == pytest.approx(np.mean([x.prefill_tokens_per_s for x in reps]), rel=1e-4)
    assert decode.rate_per_s == pytest.approx(np.mean([x.decode_tokens_per_s for x in reps]), rel=1e-4)
    # the stored result is what the stored rows give
    for p in r.phases:
        again = phase_from_samples(samples, **p.model_dump(include={"name", "test", "n_prompt", "n_gen", "n_depth",
                                                                     "rows", "stamped", "costs", "reported"}))
        assert again.model_dump_json() == p.model_dump_json()  # (JSON: a CI of 2 samples is NaN, never equal)
    decode_s = sum(x.decode_s for x in reps)
    assert m.summary.throughput_per_s == pytest.approx(6 / decode_s, rel=1e-4)
    assert m.summary.latency is None and m.summary.energy is None  # no steady state; no telemetry
    assert "no steady-state samples" not in m.summary.warnings


def test_a_run_stopped_during_warm_up_keeps_its_rows_and_measures_no_phase():
    """Warm-up repetitions are never promoted to measured ones when no measured one came."""
    res = driver_result()
    res.reps = [r for r in res.reps if r.warmup]
    rec = Recorder(runtime=RuntimeInfo(name="llama_ttft", library="llama.cpp"))
    rows = PhaseRows(rec)
    rows.add_driver(res)
    assert rows.result("harness-llm-driver").phases == []
    phases = rec.table("samples")["phase"].to_pylist()
    assert phases[:3] == ["warmup_ttft", "warmup_prefill", "warmup_decode"]
    assert all(p.startswith("warmup_") for p in phases)


def test_joules_per_token_on_windows_aligned_to_each_phase(tmp_path, tiny_gguf):
    m, _, res, _ = record(tmp_path, tiny_gguf)
    e = m.summary.energy
    assert (e["unit"], e["channels"], e["chosen_because"]) == ("token", ["power/VDD_IN"], "module input rail")
    reps = res.measured
    prefill_s = sum(x.prefill_s for x in reps)
    decode_s = sum(x.decode_s for x in reps)
    pre, dec = e["phases"]["prefill"], e["phases"]["decode"]
    assert (pre["windows"], pre["tokens"], dec["windows"], dec["tokens"]) == (2, 16, 2, 6)
    assert pre["window_s"] == pytest.approx(prefill_s, rel=1e-4) and dec["window_s"] == pytest.approx(decode_s, rel=1e-4)
    assert pre["j_per_token"] == pytest.approx(BUSY_W * prefill_s / 16, rel=1e-3)
    assert dec["j_per_token"] == pytest.approx(BUSY_W * decode_s / 6, rel=1e-3)
    assert pre["baseline_power_w"] == pytest.approx(IDLE_W)
    assert pre["j_per_token_net"] == pytest.approx((BUSY_W - IDLE_W) * prefill_s / 16, rel=1e-3)
    assert dec["j_per_token_net"] == pytest.approx((BUSY_W - IDLE_W) * decode_s / 6, rel=1e-3)
    assert dec["power_w_mean"] == pytest.approx(BUSY_W) and dec["coverage"] == pytest.approx(1.0)
    # the run's headline energy is per generated token
    assert m.summary.energy_j_per_inference == pytest.approx(dec["j_per_token"])
    assert m.summary.energy_j_per_inference_net == pytest.approx(dec["j_per_token_net"])
    assert [p["phase"] for p in e["points"]] == ["prefill", "decode"]


def test_a_window_outside_the_busy_trace_reads_idle_power():
    """summarize_windows integrates only inside its windows: idle windows give idle power."""
    rows = [(t, "power/VDD_IN", 6.0 if 1 * S <= t <= 2 * S else 2.0, "W") for t in range(0, 3 * S + 1, S // 100)]
    busy = summarize_windows(rows, [(int(1.2 * S), int(1.4 * S)), (int(1.6 * S), int(1.7 * S))], 30,
                             baseline=[(0, int(0.9 * S))])
    assert busy["energy_j"] == pytest.approx(6.0 * 0.3) and busy["j_per_unit"] == pytest.approx(6.0 * 0.3 / 30)
    assert busy["j_per_unit_net"] == pytest.approx(4.0 * 0.3 / 30) and busy["windows"] == 2
    none = summarize_windows([(0, "thermal/cpu", 40.0, "C")], [(0, S)], 10)
    assert none["j_per_unit"] is None and none["warnings"] == ["no power or energy channel in the telemetry"]


def test_prefill_and_decode_on_the_measured_roofline(tmp_path, tiny_gguf):
    m, _, res, path = record(tmp_path, tiny_gguf, telemetry=False)
    roof = m.summary.roofline
    model = GgufFormat().model(path)
    assert (roof["kind"], roof["dtype"], roof["ceilings_method"]) == ("llm", "int8", "measured")
    pre, dec = roof["points"]
    assert (pre["phase"], dec["phase"]) == ("prefill", "decode")
    # static costs as the formulas give them for this point
    pc = prefill_costs(model, 8, 0)
    dc = decode_costs(model, context=8 + 1, n_tokens=3)
    assert pre["flops_per_token"] == pytest.approx(pc.flops_per_token)
    assert dec["bytes_per_token"] == pytest.approx(dc.bytes_per_token)
    # utilisations = measured tokens/s × cost per token ÷ the ceiling
    r = m.result(LlmResult)
    assert dec["tokens_per_s"] == r.phases[1].rate_per_s
    assert dec["bandwidth_utilisation"] == pytest.approx(dec["tokens_per_s"] * dc.bytes_per_token / dec["bandwidth_bytes_per_s"])
    assert pre["compute_utilisation"] == pytest.approx(pre["tokens_per_s"] * pc.flops_per_token / 250e9)
    assert roof["decode_bandwidth_utilisation"] == dec["bandwidth_utilisation"]
    assert roof["prefill_compute_utilisation"] == pre["compute_utilisation"]
    # a ~70 kB model: its working set (weights + KV cache) is over L1's 2 × 32 KiB, within L2's
    assert 64 << 10 < dec["working_set_bytes"] < 1 << 20
    assert dec["level"] == "L2" and "L2 bandwidth" in dec["level_reason"] and dec["bandwidth_bytes_per_s"] == 90e9
    assert m.brief()["roofline"]["dtype"] == "int8"
