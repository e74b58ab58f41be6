"""Steady-state statistics: summaries, outliers, stability warnings.

The stopping rules and the confidence interval of the median are the agent's
(`harness.agent.agent`): the device stops on exactly the rule the host reports.

Conventions
- Percentiles: linear interpolation between order statistics (numpy's default).
- 95 % CI of the median: distribution-free, from order statistics. For n sorted
  samples, [x_(j), x_(n+1-j)] with j the largest index such that
  P(Binomial(n, ½) ≤ j−1) ≤ 2.5 %; coverage ≥ 95 % for any continuous distribution
  with independent samples (exact binomial up to 5000 samples, normal approximation
  above). Fewer than 6 samples: no CI.
- MAD: median absolute deviation, unscaled. Outlier: |x − median| / MAD > 1.4826 × 10
  (a modified z-score above 10, as hyperfine), with the MAD floored at 0.1 % of the
  median for quantised timers; flagged and counted, never dropped.
- Stability warnings: CV ≥ 10 %, the first steady-state iteration an outlier (slow
  first run), fewer than 10 samples, CI target not reached before the time cap.
- Comparing runs (regressed / improved / same / unknown) is `harness.analysis.regression`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harness.agent.agent import median_ci, should_stop  # noqa: F401 - re-exported
from harness.store.record import LatencySummary, StopRule

OUTLIER_THRESHOLD = 1.4826 * 10.0
CV_WARNING = 0.10
MIN_SAMPLES = 10
CI_METHOD = "order-statistic (binomial) 95% CI of the median, distribution-free"


def outlier_mask(values: np.ndarray) -> np.ndarray:
    """True where a value's modified z-score exceeds the hyperfine threshold."""
    med = np.median(values)
    # Floor the MAD at 0.1 % of the median: with a coarse timer most samples can be
    # identical (MAD 0), and a 1-tick difference must not count as an outlier.
    mad = max(float(np.median(np.abs(values - med))), 1e-3 * abs(float(med)))
    if mad == 0:
        return np.zeros(len(values), dtype=bool)
    return np.abs(values - med) / mad > OUTLIER_THRESHOLD


def summarize(latencies_s: Sequence[float], inferences: Sequence[int] | None = None) -> LatencySummary | None:
    """Summary of steady-state latencies (seconds per inference, one value per sample)."""
    x = np.asarray(latencies_s, dtype=float)
    if x.size == 0:
        return None
    counts = np.ones(x.size, dtype=np.int64) if inferences is None else np.asarray(inferences, dtype=np.int64)
    ordered = np.sort(x)
    med, lo, hi = median_ci(ordered.tolist())
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if x.size > 1 else 0.0
    return LatencySummary(
        n=int(x.size),
        inferences=int(counts.sum()),
        median_s=float(med),
        p90_s=float(np.percentile(x, 90)),
        p99_s=float(np.percentile(x, 99)),
        mean_s=mean,
        std_s=std,
        mad_s=float(np.median(np.abs(x - med))),
        cv=std / mean if mean > 0 else float("nan"),
        min_s=float(ordered[0]),
        max_s=float(ordered[-1]),
        ci95_s=(float(lo), float(hi)) if lo is not None else (float("nan"), float("nan")),
        ci_method=CI_METHOD,
        outliers=int(outlier_mask(x).sum()),
    )


def stability_warnings(
    latencies_s: Sequence[float], summary: LatencySummary | None, stop: StopRule, stop_reason: str | None
) -> list[str]:
    """Human-readable reasons to distrust a measurement."""
    if summary is None:
        return ["no steady-state samples"]
    warnings: list[str] = []
    if summary.n < MIN_SAMPLES and stop.mode != "tinyml":  # MLPerf Tiny scores 5 windows by design
        warnings.append(f"only {summary.n} steady-state samples (fewer than {MIN_SAMPLES})")
    if summary.cv >= CV_WARNING:
        warnings.append(f"high variability: CV {summary.cv:.1%} (≥ {CV_WARNING:.0%})")
    x = np.asarray(latencies_s, dtype=float)
    if x.size >= 3 and outlier_mask(x)[0] and x[0] > summary.median_s:
        warnings.append(
            f"the first steady-state iteration was much slower than the rest "
            f"({x[0] * 1e3:.3g} ms vs median {summary.median_s * 1e3:.3g} ms): warmup may be too short"
        )
    if summary.outliers:
        warnings.append(f"{summary.outliers} outlier(s) flagged (modified z-score > 10), kept in the statistics")
    if stop.mode == "fixed" and stop_reason == "max_time":
        warnings.append(
            f"stopped at the {stop.max_time_s:g} s cap (--max-time) after {summary.n} iterations, "
            f"before the fixed count of {stop.count}"
        )
    if stop.mode == "adaptive" and stop_reason == "max_time":
        lo, hi = summary.ci95_s
        if np.isfinite(lo) and summary.median_s > 0:
            reached = max(summary.median_s - lo, hi - summary.median_s) / summary.median_s
            warnings.append(
                f"CI target ±{stop.ci_target:.1%} not reached within {stop.max_time_s:g} s (reached ±{reached:.2%})"
            )
        else:
            warnings.append(f"CI target ±{stop.ci_target:.1%} not reached within {stop.max_time_s:g} s")
    return warnings
