"""The drift- and process-aware interval (block medians, process medians) against the
order-statistic CI of within-run noise, and the supervisor's decisions (harness.agent.agent)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from harness import stats
from harness.agent.agent import (
    MAX_BLOCKS,
    MIN_BLOCKS,
    MIN_PROCESSES,
    BlockMedians,
    auto_budget_s,
    block_size,
    drift_ci,
    median_ci,
    median_se,
    processes_verdict,
    spread_interval,
    t975,
    worker_limits,
)
from harness.store.record import StopRule

RULE = {"mode": "adaptive", "ci_target": 0.01, "min_iters": 10, "min_time_s": 1.0, "max_time_s": 60.0,
        "count": None, "time_s": None}


def _half(lo, hi, med):
    return max(med - lo, hi - med)


@pytest.mark.parametrize("df", list(range(1, 40)) + [50, 80, 120, 500, 5000])
def test_t_quantile_matches_scipy(df):
    assert t975(df) == pytest.approx(sps.t.ppf(0.975, df), rel=1e-4)


def test_block_size_keeps_between_20_and_39_blocks():
    assert block_size(29) == 3 and 29 // 3 < MIN_BLOCKS  # under 30 samples: too few blocks
    assert 30 // block_size(30) == MIN_BLOCKS
    for n in (120, 500, 1234, 10_000, 987_654):
        assert 20 <= n // block_size(n) < MAX_BLOCKS


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(1, 10**6), min_size=0, max_size=700), st.lists(st.integers(1, 50), max_size=12))
def test_incremental_block_medians_equal_a_fresh_computation(series, steps):
    # the device updates as the series grows; the host computes once on the whole series
    grown = BlockMedians()
    cut = 0
    for step in steps:
        cut = min(len(series), cut + step * 10)
        grown.update(series[:cut])
    assert grown.update(series) == BlockMedians().update(series)


def test_drift_aware_ci_widens_on_a_drifting_series():
    rng = np.random.default_rng(7)
    n = 4000
    iid = rng.normal(1e-3, 2e-5, n)
    drift = iid * np.linspace(1.0, 1.08, n)  # clocks ramping: 8 % slower by the end
    s = stats.summarize(drift.tolist())
    half = _half(*s.ci95_s, s.median_s)
    within = _half(*s.ci95_within_run_s, s.median_s)
    assert s.ci95_within_run_s[0] < s.median_s < s.ci95_within_run_s[1]
    assert half > 5 * within  # the block medians spread with the drift
    assert s.drift_ratio > 5 and 20 <= s.blocks < 40
    assert s.ci_method.startswith("drift-aware")
    warnings = stats.stability_warnings(drift.tolist(), s, StopRule(), "ci_target_met")
    assert any(w.startswith("drift: the run's") for w in warnings), warnings


@pytest.mark.parametrize("draw, true_median", [
    (lambda rng, n: rng.normal(1e-3, 5e-5, n), 1e-3),
    (lambda rng, n: rng.lognormal(np.log(10e-3), 0.25, n), 10e-3),
], ids=["normal", "lognormal"])
def test_drift_aware_ci_matches_the_order_statistic_ci_on_iid_samples(draw, true_median):
    rng = np.random.default_rng(11)
    ratios, hits, warned = [], 0, 0
    reps = 300
    for _ in range(reps):
        x = draw(rng, 2000)
        s = stats.summarize(x.tolist())
        ratios.append(_half(*s.ci95_s, s.median_s) / _half(*s.ci95_within_run_s, s.median_s))
        hits += s.ci95_s[0] <= true_median <= s.ci95_s[1]
        warned += any(w.startswith("drift") for w in stats.stability_warnings(x, s, StopRule(), "ci_target_met"))
    # t(B-1)/1.96 with 20-39 blocks makes it 5-10 % wider on average; each is noisy (B-1 df)
    assert 0.95 <= float(np.mean(ratios)) <= 1.2
    assert 0.93 <= hits / reps <= 0.995
    assert warned <= reps * 0.01  # no drift warning on independent samples


def test_drift_ci_needs_min_blocks():
    assert drift_ci(sorted([1.0] * 29), BlockMedians().update([1.0] * 29)) == (1.0, None, None)
    med, lo, hi = drift_ci(sorted([1.0] * 30), BlockMedians().update([1.0] * 30))
    assert (med, lo, hi) == (1.0, 1.0, 1.0)


def test_rerun_interval_is_wider_than_the_interval_of_the_shared_median():
    medians = [1.00, 1.02, 0.99, 1.01]
    lo, hi = spread_interval(1.0, medians)
    rlo, rhi = spread_interval(1.0, medians, rerun=True)
    s = float(np.std(medians, ddof=1))
    assert hi - 1.0 == pytest.approx(t975(3) * s / 2)
    assert rhi - 1.0 == pytest.approx(t975(3) * s * np.sqrt(1 + 1 / 4))
    assert spread_interval(1.0, [1.0]) == (None, None)


def test_summary_over_processes_uses_the_rerun_interval():
    rng = np.random.default_rng(3)
    offsets = [1.0, 1.06, 0.97, 1.03]  # memory layout: each process its own median
    x = np.concatenate([rng.normal(1e-3 * o, 1e-5, 1000) for o in offsets])
    procs = np.repeat(np.arange(4), 1000)
    s = stats.summarize(x.tolist(), process=procs.tolist())
    assert s.processes == 4 and "rerun interval over 4 process medians" in s.ci_method
    medians = [np.median(x[procs == i]) for i in range(4)]
    lo, hi = spread_interval(s.median_s, medians, rerun=True)
    assert s.ci95_s == pytest.approx((lo, hi))
    assert s.ci95_s[0] < 0.97e-3 and s.ci95_s[1] > 1.06e-3  # a rerun anywhere among them is covered
    assert s.drift_ratio > 10
    ws = stats.stability_warnings(x.tolist(), s, StopRule(), "max_time")
    assert any(w.startswith("drift: the 4 processes disagree") for w in ws), ws
    assert any("or the several-process budget" in w for w in ws), ws


def test_auto_budget_is_a_tenth_of_the_mlperf_time():
    assert auto_budget_s(RULE, None) == 6.0  # MLPerf: at least 60 s
    assert auto_budget_s(RULE, 0.2) == pytest.approx(0.1 * 1024 * 0.2)  # 1024 queries of 0.2 s
    assert auto_budget_s(dict(RULE, max_time_s=4.0), 0.2) == 4.0  # within --max-time
    assert auto_budget_s(dict(RULE, min_time_s=30.0), 1e-3) == 30.0  # never under --min-time


def test_worker_limits_share_the_budget():
    least, most = worker_limits(RULE, "auto", 0, 0.0, 6.0)
    assert least == pytest.approx(1.0 / MIN_PROCESSES) and most == pytest.approx(1.0)
    assert worker_limits(RULE, "auto", 5, 5.9, 6.0) is None  # not even a minimum worker fits
    assert worker_limits(RULE, "auto", 1, 5.9, 6.0) == pytest.approx((1 / 3, 1 / 3))  # the first 3 always run
    assert worker_limits(RULE, "auto", 4, 5.5, 6.0) == pytest.approx((1 / 3, 0.5))
    assert worker_limits(RULE, "4", 0, 0.0, 60.0) == (0.25, 15.0)


def test_processes_verdict():
    agree, tiny = [1.000, 1.001, 0.999], [1e-4] * 3
    assert processes_verdict(RULE, "auto", agree[:2], tiny[:2], 1.0, 1.0, 6.0) is None  # fewer than MIN_PROCESSES
    assert processes_verdict(RULE, "auto", agree, tiny, 1.0, 2.0, 6.0) == "ci_target_met"
    # processes that agree by chance more closely than their own noise allows: not yet
    assert processes_verdict(RULE, "auto", agree, [0.004] * 3, 1.0, 2.0, 6.0) is None
    apart = [1.0, 1.05, 0.96]
    assert processes_verdict(RULE, "auto", apart, tiny, 1.0, 2.0, 6.0) is None  # add a process
    assert processes_verdict(RULE, "auto", apart, tiny, 1.0, 5.9, 6.0) == "max_time"
    assert processes_verdict(RULE, "auto", apart * 10, tiny * 10, 1.0, 2.0, 600.0) == "max_processes"
    assert processes_verdict(RULE, "3", apart, tiny, 1.0, 2.0, 60.0) == "processes_done"
    assert processes_verdict(RULE, "3", agree, tiny, 1.0, 2.0, 60.0) == "ci_target_met"
    assert processes_verdict(RULE, "4", agree, tiny, 1.0, 2.0, 60.0) is None


def test_the_spread_is_floored_at_the_units_own_noise():
    lo, hi = spread_interval(1.0, [1.0, 1.0, 1.0], rerun=True, unit_ses=[0.01, 0.01, 0.01])
    assert hi - 1.0 == pytest.approx(t975(2) * 0.01 * np.sqrt(1 + 1 / 3))
    assert spread_interval(1.0, [1.0, 1.0, 1.0], rerun=True) == (1.0, 1.0)


def test_median_se_from_blocks_or_order_statistics():
    rng = np.random.default_rng(2)
    x = rng.normal(1.0, 0.05, 4000).tolist()
    # a median of n normal samples: sd 1.2533 σ / √n
    assert median_se(x) == pytest.approx(1.2533 * 0.05 / np.sqrt(4000), rel=0.35)
    few = x[:20]  # 6 blocks: the order-statistic CI's half-width / 1.96
    med, lo, hi = median_ci(sorted(few))
    assert median_se(few) == pytest.approx(max(med - lo, hi - med) / 1.959963984540054)
    assert median_se(x[:5]) == 0.0
