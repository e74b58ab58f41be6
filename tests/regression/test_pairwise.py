"""Pairwise verdicts (harness.analysis.regression): rules per kind of evidence, on seeded data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.analysis.regression import (
    Aggregate,
    Side,
    compare,
    compare_keys,
    min_attainable_p,
    runs_for_rank_test,
)
from harness.errors import HarnessError


def runs(rng, level: float, n_runs: int, n_iter: int, run_sd: float = 0.02, iter_sd: float = 0.03) -> list[np.ndarray]:
    """Runs of per-iteration latencies: each run has its own offset (a process), iterations vary around it."""
    return [level * np.exp(rng.normal(0, run_sd) + rng.normal(0, iter_sd, n_iter)) for _ in range(n_runs)]


def values(rng, level: float, n: int, sd: float = 0.05) -> Side:
    """n runs of one value each (e.g. one run's median per repetition)."""
    return Side.samples([[v] for v in level * np.exp(rng.normal(0, sd, n))])


def test_attainable_p_and_the_fewest_runs_for_a_rank_test():
    assert min_attainable_p(5, 5) == pytest.approx(1 / 252)  # asv's 0.002 cannot be reached at 5 + 5
    assert min_attainable_p(3, 3) == pytest.approx(0.05)
    assert runs_for_rank_test(0.01) == 5
    assert runs_for_rank_test(0.05) == 3 and runs_for_rank_test(0.04) == 4  # 1/C(6,3) = 0.05


def test_a_ten_percent_regression_over_five_runs_each_is_regressed_with_a_ci_around_it():
    rng = np.random.default_rng(1)
    v = compare(Side.samples(runs(rng, 1.0, 5, 200)), Side.samples(runs(rng, 1.10, 5, 200)))
    assert v.verdict == "regressed"
    assert (v.unit, v.n_base, v.n_new) == ("run", 5, 5)
    assert "Mann-Whitney" in v.test and v.p_value == pytest.approx(1 / 252)  # all five new runs above all base runs
    assert v.ci95[0] < 1.10 < v.ci95[1] and v.ci95[0] > 1.05
    assert v.change == pytest.approx(v.ratio - 1)
    assert v.more_runs is None


def test_the_same_code_measured_twice_is_same_and_a_drop_is_improved():
    rng = np.random.default_rng(2)
    base = Side.samples(runs(rng, 1.0, 8, 100, run_sd=0.01))
    assert compare(base, Side.samples(runs(rng, 1.0, 8, 100, run_sd=0.01))).verdict == "same"
    assert compare(base, Side.samples(runs(rng, 0.85, 8, 100, run_sd=0.01))).verdict == "improved"


def test_rates_regress_when_they_drop():
    rng = np.random.default_rng(3)
    base, new = values(rng, 50.0, 6, 0.01), values(rng, 40.0, 6, 0.01)  # tokens/s fell 20 %
    assert compare(base, new, higher_is_better=True).verdict == "regressed"
    assert compare(base, new).verdict == "improved"  # the same numbers read as latencies


def test_too_few_runs_for_the_rank_test_falls_back_to_a_t_test_and_can_still_fire():
    rng = np.random.default_rng(4)
    v = compare(values(rng, 1.0, 3, 0.01), values(rng, 1.2, 3, 0.01))
    assert "t-test on log run medians" in v.test and "0.05" in v.test  # says why: 3 + 3 cannot reach 0.01 by ranks
    assert v.verdict == "regressed" and v.p_value < 0.01
    assert v.p_mannwhitney == pytest.approx(0.05)  # reported all the same


@settings(max_examples=25, deadline=None)
@given(m=st.integers(2, 7), n=st.integers(2, 7), seed=st.integers(0, 2**16))
def test_no_sample_size_from_two_up_makes_a_clear_regression_undetectable(m, n, seed):
    """Never a test that cannot fire: a 30 % step with 1 % noise is found at every size ≥ 2 + 2."""
    rng = np.random.default_rng(seed)
    assert compare(values(rng, 1.0, m, 0.01), values(rng, 1.3, n, 0.01)).verdict == "regressed"


def test_unknown_says_how_many_more_runs_would_settle_it():
    v = compare(Side.samples([[1.0], [1.08], [0.93]]), Side.samples([[1.05], [1.14], [0.99]]))
    assert v.verdict == "unknown"
    assert v.more_runs is not None and 1 <= v.more_runs <= 100
    # measuring as many more as asked settles most such cases one way or the other
    settled = 0
    for seed in range(20):
        r = np.random.default_rng(100 + seed)
        k = 3 + v.more_runs
        settled += compare(values(r, 1.0, k, 0.08), values(r, 1.06, k, 0.08), seed=seed).verdict != "unknown"
    assert settled >= 10


def test_one_run_a_side_uses_batches_of_iterations_and_says_what_it_cannot_see():
    rng = np.random.default_rng(6)
    v = compare(Side.samples(runs(rng, 1.0, 1, 1000)), Side.samples(runs(rng, 1.12, 1, 1000, run_sd=0)))
    assert v.unit == "batch" and v.n_base == 20 and v.n_new == 20
    assert "run-to-run variation is not measured" in v.reason
    base = Side.samples([np.full(400, 1.0) * np.exp(rng.normal(0, 0.02, 400))])
    u = compare(base, Side.samples([np.full(400, 1.02) * np.exp(rng.normal(0, 0.02, 400))]))
    assert u.verdict == "same"  # significant, but inside the ±5 % band
    assert u.more_runs is None
    short = compare(Side.samples([[1.0, 1.01, 0.99]]), Side.samples([[1.3, 1.31, 1.29]]))
    assert short.unit == "batch" and short.n_base == 3  # too short for blocks: each iteration counts


def test_iterations_of_one_run_are_not_replicates():
    """A 3 % process-level offset looks 'significant' within runs; across runs it is only noise."""
    hits = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        hits += compare(Side.samples(runs(rng, 1.0, 5, 300, run_sd=0.03)),
                        Side.samples(runs(rng, 1.0, 5, 300, run_sd=0.03)), seed=seed).verdict == "regressed"
    assert hits <= 2  # α = 1 % per comparison, run level


def test_aggregates_only_use_welch_from_mean_std_n_and_run_means_when_replicated():
    one = compare(Side.aggregates([(0.010, 0.0005, 50)]), Side.aggregates([Aggregate(0.0108, 0.0005, 50)]))
    assert (one.unit, one.verdict, one.p_mannwhitney) == ("aggregate", "regressed", None)
    assert one.ratio == pytest.approx(1.08)
    assert one.ci95[0] < 1.08 < one.ci95[1]
    assert "taken as independent" in one.reason
    tiny = compare(Side.aggregates([(0.010, 0.0005, 50)]), Side.aggregates([(0.0101, 0.0005, 50)]))
    assert tiny.verdict == "same"
    rng = np.random.default_rng(7)
    many = compare(Side.aggregates([(m, 0.0005, 50) for m in 0.010 * np.exp(rng.normal(0, 0.01, 5))]),
                   Side.aggregates([(m, 0.0005, 50) for m in 0.0115 * np.exp(rng.normal(0, 0.01, 5))]))
    assert (many.unit, many.verdict, many.n_new) == ("run", "regressed", 5)


def test_samples_against_aggregates_compare_as_aggregates():
    rng = np.random.default_rng(8)
    v = compare(Side.aggregates([(1.0, 0.03, 100)]), Side.samples(runs(rng, 1.1, 1, 100, run_sd=0)))
    assert v.unit == "aggregate" and v.verdict == "regressed"


def test_deterministic_windows_any_change_is_real_and_the_threshold_decides():
    base = Side.windows([[0.0123] * 5], deterministic=True)
    assert compare(base, Side.windows([[0.0123 * 1.06] * 5], deterministic=True)).verdict == "regressed"
    same = compare(base, Side.windows([[0.0123 * 1.01] * 5], deterministic=True))
    assert (same.verdict, same.unit, same.p_value) == ("same", "deterministic", None)
    assert same.ratio == pytest.approx(1.01)
    # a 1 % change is real under -icount: a threshold of 0.5 % calls it
    assert compare(base, Side.windows([[0.0123 * 1.01] * 5], deterministic=True), threshold=0.005).verdict == "regressed"


def test_windows_declared_deterministic_that_are_not_fall_back_to_noisy_windows():
    rng = np.random.default_rng(9)
    noisy = Side.windows([0.01 * np.exp(rng.normal(0, 0.05, 5))], deterministic=True)
    v = compare(noisy, Side.windows([0.01 * np.exp(rng.normal(0, 0.05, 5))], deterministic=True))
    assert v.unit == "window" and "spread exceeds" in v.reason
    assert v.min_attainable_p == pytest.approx(1 / 252)  # 5 windows a side can reach α = 0.01


def test_mcu_hardware_windows_five_a_side_detect_a_step():
    rng = np.random.default_rng(10)
    v = compare(Side.windows([0.01 * np.exp(rng.normal(0, 0.002, 5))]),
                Side.windows([0.0107 * np.exp(rng.normal(0, 0.002, 5))]))
    assert (v.unit, v.verdict) == ("window", "regressed")


def test_multi_phase_llm_each_phase_its_own_verdict_and_direction():
    rng = np.random.default_rng(11)
    pairs = {
        "llm/prefill_tok_s": (values(rng, 900, 5, 0.01), values(rng, 700, 5, 0.01)),  # slower prefill
        "llm/decode_tok_s": (values(rng, 40, 5, 0.01), values(rng, 40, 5, 0.01)),
        "llm/ttft_s": (values(rng, 0.20, 5, 0.01), values(rng, 0.26, 5, 0.01)),
    }
    out = compare_keys(pairs, higher_is_better={"llm/prefill_tok_s": True, "llm/decode_tok_s": True},
                       thresholds={"llm/decode_tok_s": 0.10})
    got = {v.key: v for v in out}
    assert got["llm/prefill_tok_s"].verdict == "regressed" and got["llm/prefill_tok_s"].higher_is_better
    assert got["llm/decode_tok_s"].verdict == "same" and got["llm/decode_tok_s"].threshold == 0.10
    assert got["llm/ttft_s"].verdict == "regressed"


def test_seeded_and_scale_free():
    rng = np.random.default_rng(12)
    base, new = values(rng, 1.0, 6), values(rng, 1.04, 6)
    a, b = compare(base, new, seed=3), compare(base, new, seed=3)
    assert a == b
    scaled = compare(Side.samples([r * 1e-3 for r in base.runs]), Side.samples([r * 1e-3 for r in new.runs]), seed=3)
    assert scaled.verdict == a.verdict
    assert scaled.ratio == pytest.approx(a.ratio) and scaled.ci95 == pytest.approx(a.ci95)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), effect=st.floats(-0.3, 0.3), m=st.integers(2, 8), n=st.integers(2, 8))
def test_swapping_the_sides_swaps_regressed_and_improved(seed, effect, m, n):
    rng = np.random.default_rng(seed)
    base, new = values(rng, 1.0, m), values(rng, math.exp(effect), n)
    fwd, back = compare(base, new, seed=seed), compare(new, base, seed=seed)
    assert fwd.ci95[0] <= fwd.ratio <= fwd.ci95[1]
    assert (fwd.verdict == "regressed") == (back.verdict == "improved")
    assert (fwd.verdict == "improved") == (back.verdict == "regressed")
    assert fwd.ratio * back.ratio == pytest.approx(1.0)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Side.samples([[]]), "run 0 has no values"),
        (lambda: Side.samples([[1.0, -2.0]]), "not a positive number"),
        (lambda: Side.samples([[1.0, float("nan")]]), "not a positive number"),
        (lambda: Side.aggregates([(0.0, 1.0, 5)]), "mean > 0"),
    ],
)
def test_bad_input_is_one_clear_error(make, message):
    with pytest.raises(HarnessError, match=message):
        make()


def test_bad_parameters_and_empty_sides_are_refused():
    one = Side.samples([[1.0]])
    with pytest.raises(HarnessError, match="no runs"):
        compare(Side.samples([]), one)
    with pytest.raises(HarnessError, match="alpha"):
        compare(one, one, alpha=0)
    with pytest.raises(HarnessError, match="threshold"):
        compare(one, one, threshold=-0.1)
