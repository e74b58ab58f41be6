"""Stopping rules, the CI of the median, summaries and warnings (harness.stats / agent)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from harness import stats
from harness.agent.agent import _binom_lower_index, median_ci, should_stop, warmup_settled
from harness.store.record import StopRule

ADAPTIVE = {"mode": "adaptive", "ci_target": 0.01, "min_iters": 10, "min_time_s": 1.0, "max_time_s": 60.0,
            "count": None, "time_s": None}


@pytest.mark.parametrize("n", list(range(6, 200)) + [500, 1000, 4999])
def test_ci_index_is_the_exact_binomial_quantile(n):
    j = _binom_lower_index(n, 0.05)
    # P(B <= j-1) <= 2.5 % < P(B <= j): the widest-coverage-preserving narrowest interval
    assert sps.binom.cdf(j - 1, n, 0.5) <= 0.025
    assert sps.binom.cdf(j, n, 0.5) > 0.025


def test_ci_normal_approximation_matches_exact_above_5000():
    n = 20000
    j = _binom_lower_index(n, 0.05)
    exact = int(sps.binom.ppf(0.025, n, 0.5))
    assert abs(j - exact) <= 2


def test_median_ci_needs_six_samples():
    assert median_ci([1.0, 2.0, 3.0, 4.0, 5.0])[1] is None
    med, lo, hi = median_ci([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    assert (med, lo, hi) == (3.5, 1.0, 6.0)


def test_median_ci_coverage_lognormal():
    rng = np.random.default_rng(1)
    true_median = 1.0  # lognormal(0, s) has median e^0
    hits = 0
    reps = 2000
    for _ in range(reps):
        x = np.sort(rng.lognormal(0.0, 0.5, size=40)).tolist()
        _, lo, hi = median_ci(x)
        hits += lo <= true_median <= hi
    assert 0.95 <= hits / reps <= 0.99


def test_adaptive_stops_only_when_all_conditions_hold():
    tight, wide, none = (1.0, 0.995, 1.005), (1.0, 0.9, 1.1), (1.0, None, None)
    assert should_stop(ADAPTIVE, 50, 1.5, tight) == "ci_target_met"
    assert should_stop(ADAPTIVE, 50, 1.5, lambda: tight) == "ci_target_met"  # computed only when needed
    assert should_stop(ADAPTIVE, 9, 1.5, tight) is None  # too few iterations
    assert should_stop(ADAPTIVE, 50, 0.5, tight) is None  # too little time
    assert should_stop(ADAPTIVE, 50, 10.0, wide) is None  # CI far wider than ±1 %
    assert should_stop(ADAPTIVE, 50, 10.0, none) is None  # too few blocks for a drift-aware CI
    assert should_stop(ADAPTIVE, 50, 60.0, wide) == "max_time"


def test_fixed_and_mlperf_rules():
    fixed = dict(ADAPTIVE, mode="fixed", count=100, time_s=None)
    assert should_stop(fixed, 99, 5.0) is None
    assert should_stop(fixed, 100, 0.01) == "fixed_count"
    both = dict(fixed, time_s=2.0)
    assert should_stop(both, 100, 1.0) is None
    assert should_stop(both, 100, 2.0) == "fixed_count_and_time"
    timed = dict(fixed, count=None, time_s=3.0)
    assert should_stop(timed, 5, 3.0) == "fixed_time"
    mlperf = dict(ADAPTIVE, mode="mlperf")
    assert should_stop(mlperf, 1023, 100.0) is None
    assert should_stop(mlperf, 5000, 59.9) is None
    assert should_stop(mlperf, 1024, 60.0) == "mlperf_min_queries_and_duration"
    assert should_stop(mlperf, 10, 600.0) == "max_time"


def test_warmup_settles_when_two_windows_agree():
    assert not warmup_settled([10, 9, 8, 5, 5, 5], 3)  # medians 9 vs 5
    assert warmup_settled([10, 5, 5, 5, 5, 5, 5], 3)
    assert not warmup_settled([5, 5, 5], 3)  # needs two windows


def test_summary_matches_numpy_and_flags_outliers():
    rng = np.random.default_rng(3)
    x = rng.normal(1e-3, 1e-5, 500)
    x[17] = 5e-3  # one far outlier, kept
    s = stats.summarize(x.tolist())
    assert s.n == 500 and s.inferences == 500
    assert s.median_s == pytest.approx(np.median(x))
    assert s.p90_s == pytest.approx(np.percentile(x, 90))
    assert s.p99_s == pytest.approx(np.percentile(x, 99))
    assert s.mean_s == pytest.approx(x.mean())
    assert s.std_s == pytest.approx(x.std(ddof=1))
    assert s.mad_s == pytest.approx(np.median(np.abs(x - np.median(x))))
    assert s.min_s == x.min() and s.max_s == x.max()
    assert s.outliers == 1
    lo, hi = s.ci95_s
    assert lo < s.median_s < hi


def test_outliers_when_mad_is_zero():
    assert stats.outlier_mask(np.array([1.0] * 99 + [100.0])).sum() == 1


def test_stability_warnings():
    rule = StopRule()
    few = [1.0, 1.1, 0.9]
    assert any("fewer than 10" in w for w in stats.stability_warnings(few, stats.summarize(few), rule, "fixed_count"))
    noisy = np.random.default_rng(0).lognormal(0, 0.5, 100)
    assert any("CV" in w for w in stats.stability_warnings(noisy, stats.summarize(noisy), rule, "ci_target_met"))
    slow_first = [5.0] + [1.0 + 0.001 * i for i in range(50)]
    ws = stats.stability_warnings(slow_first, stats.summarize(slow_first), rule, "ci_target_met")
    assert any("first steady-state iteration" in w for w in ws)
    steady = [1.0 + 0.001 * (i % 7) for i in range(100)]
    assert not any("CV" in w for w in stats.stability_warnings(steady, stats.summarize(steady), rule, "ci_target_met"))
    ws = stats.stability_warnings(noisy, stats.summarize(noisy), rule, "max_time")
    assert any("not reached within the time allowed (--max-time 60 s)" in w for w in ws)


def test_a_fixed_rule_needs_a_count_or_a_time():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="needs a count and/or a time"):
        StopRule(mode="fixed")
    assert StopRule(mode="fixed", time_s=120).max_time_s == 120  # the cap follows a longer fixed time
