"""Steady-state statistics: summaries, outliers, stability warnings.

The stopping rules and the intervals are the agent's (`harness.agent.agent`): the
device stops on exactly the rule the host reports.

Conventions
- Percentiles: linear interpolation between order statistics (numpy's default).
- The headline 95 % interval (`ci95_s`) covers what independent-sample statistics
  miss: slow drift, steps, autocorrelation and the difference between processes.
  - Several worker processes (the adaptive default): where a rerun's median should
    fall: median ± t(K−1)·s·√(1 + 1/K) over the K process medians (Kalibera & Jones'
    executions level; a fresh process is what a user's rerun is), s never under the
    RMS of each process median's own (block) standard error.
  - One process: block medians. The time-ordered series is cut into 20–39 consecutive
    equal blocks (10 at least); median ± t(B−1)·s/√B over the B block medians (batch
    means, applied to the median). Chosen over a block bootstrap because the device
    evaluates it at every stopping check in plain Python (sorting each block once),
    and over batch means of the mean because latency tails would dominate a mean.
    Drift moves the block medians apart and widens it; for independent samples it
    matches the order-statistic CI (t(B−1)/1.96 ≈ 1.05–1.1 wider at 20–39 blocks).
  - Fewer than 10 blocks (under 30 samples): the order-statistic CI, said so.
- Within-run noise (`ci95_within_run_s`): the distribution-free order-statistic CI of
  the median, [x_(j), x_(n+1-j)] with j the largest index such that
  P(Binomial(n, ½) ≤ j−1) ≤ 2.5 %; coverage ≥ 95 % only for independent samples
  (exact binomial up to 5000 samples, normal approximation above). Fewer than 6
  samples: no CI.
- Drift ratio: the standard error the blocks (or processes) show ÷ the one within-run
  noise implies (≈ 1 without drift); above 2 the record warns that the median is less
  stable than its sample count suggests.
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

from harness.agent.agent import (  # noqa: F401 - should_stop re-exported
    MIN_BLOCKS,
    BlockMedians,
    median_ci,
    median_se,
    should_stop,
    spread_interval,
)
from harness.store.record import LatencySummary, StopRule

OUTLIER_THRESHOLD = 1.4826 * 10.0
CV_WARNING = 0.10
MIN_SAMPLES = 10
DRIFT_WARNING = 2.0
WITHIN_RUN_METHOD = "order-statistic (binomial) 95% CI of the median: within-run noise, assumes independent samples"
PROCESSES_METHOD = ("rerun interval over {k} process medians: median ± t({df})·s·√(1+1/{k}), s floored at the "
                    "processes' own standard errors (drift and between-process)")
BLOCKS_METHOD = "drift-aware: median ± t({df})·s/√{b} over {b} consecutive block medians (one process)"
FEW_BLOCKS_METHOD = "order-statistic 95% CI of the median (fewer than 10 blocks: drift not assessed)"


def outlier_mask(values: np.ndarray) -> np.ndarray:
    """True where a value's modified z-score exceeds the hyperfine threshold."""
    med = np.median(values)
    # Floor the MAD at 0.1 % of the median: with a coarse timer most samples can be
    # identical (MAD 0), and a 1-tick difference must not count as an outlier.
    mad = max(float(np.median(np.abs(values - med))), 1e-3 * abs(float(med)))
    if mad == 0:
        return np.zeros(len(values), dtype=bool)
    return np.abs(values - med) / mad > OUTLIER_THRESHOLD


def _z_half(lo, hi, med) -> float:
    return max(med - lo, hi - med) if lo is not None else float("nan")


def summarize(
    latencies_s: Sequence[float], inferences: Sequence[int] | None = None, process: Sequence[int] | None = None
) -> LatencySummary | None:
    """Summary of steady-state latencies (seconds per inference, one value per sample, in
    time order), `process`: which worker process measured each (default: all one)."""
    x = np.asarray(latencies_s, dtype=float)
    if x.size == 0:
        return None
    counts = np.ones(x.size, dtype=np.int64) if inferences is None else np.asarray(inferences, dtype=np.int64)
    procs = np.zeros(x.size, dtype=np.int64) if process is None else np.asarray(process, dtype=np.int64)
    ordered = np.sort(x)
    med, w_lo, w_hi = median_ci(ordered.tolist())
    ci, method, blocks, se = _headline_interval(x, procs, float(med))
    if ci is None:
        ci, method = (w_lo, w_hi), FEW_BLOCKS_METHOD
    # standard errors, compared: what the blocks/processes show vs what within-run noise implies
    se_within = _z_half(w_lo, w_hi, med) / 1.959963984540054
    drift_ratio = se / se_within if se is not None and se_within > 0 else float("nan")
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if x.size > 1 else 0.0
    nan2 = (float("nan"), float("nan"))
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
        ci95_s=(float(ci[0]), float(ci[1])) if ci[0] is not None else nan2,
        ci_method=method,
        outliers=int(outlier_mask(x).sum()),
        ci95_within_run_s=(float(w_lo), float(w_hi)) if w_lo is not None else nan2,
        processes=int(len(np.unique(procs))),
        blocks=blocks,
        drift_ratio=float(drift_ratio),
    )


def _headline_interval(x: np.ndarray, procs: np.ndarray, med: float):
    """(interval, method, blocks, standard error) of the drift- and process-aware CI;
    interval None when there are too few blocks."""
    ids = list(dict.fromkeys(procs.tolist()))  # in order of appearance
    if len(ids) >= 2:
        series = [x[procs == i].tolist() for i in ids]
        medians = [float(np.median(v)) for v in series]
        k = len(medians)
        lo, hi = spread_interval(med, medians, rerun=True, unit_ses=[median_se(v) for v in series])
        return (lo, hi), PROCESSES_METHOD.format(k=k, df=k - 1), 0, float(np.std(medians, ddof=1)) / np.sqrt(k)
    block_medians = BlockMedians().update(x.tolist())
    b = len(block_medians)
    if b < MIN_BLOCKS:
        return None, None, 0, None
    lo, hi = spread_interval(med, block_medians)
    return (lo, hi), BLOCKS_METHOD.format(b=b, df=b - 1), b, float(np.std(block_medians, ddof=1)) / np.sqrt(b)


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
    if summary.drift_ratio > DRIFT_WARNING:
        units = f"the {summary.processes} processes" if summary.processes > 1 else f"the run's {summary.blocks} blocks"
        half = max(summary.median_s - summary.ci95_s[0], summary.ci95_s[1] - summary.median_s) / summary.median_s
        w_lo, w_hi = summary.ci95_within_run_s
        w_half = max(summary.median_s - w_lo, w_hi - summary.median_s) / summary.median_s
        warnings.append(
            f"drift: {units} disagree: their medians spread {summary.drift_ratio:.1f}× more than within-run noise "
            f"explains (95 % interval ±{half:.2%} vs ±{w_half:.2%} within-run): the median is less stable than "
            f"its {summary.n} samples suggest"
        )
    if stop.mode == "fixed" and stop_reason == "max_time":
        warnings.append(
            f"stopped at the {stop.max_time_s:g} s cap (--max-time) after {summary.n} iterations, "
            f"before the fixed count of {stop.count}"
        )
    if stop.mode == "adaptive" and stop_reason in ("max_time", "max_processes", "processes_done"):
        why = {
            "max_time": f"within the time allowed (--max-time {stop.max_time_s:g} s"
                        + (", or the several-process budget)" if summary.processes > 1 else ")"),
            "max_processes": f"with the most processes allowed ({summary.processes})",
            "processes_done": f"in the {summary.processes} processes asked for",
        }[stop_reason]
        lo, hi = summary.ci95_s
        if np.isfinite(lo) and summary.median_s > 0:
            reached = max(summary.median_s - lo, hi - summary.median_s) / summary.median_s
            warnings.append(f"CI target ±{stop.ci_target:.1%} not reached {why}: reached ±{reached:.2%}")
        else:
            warnings.append(f"CI target ±{stop.ci_target:.1%} not reached {why}")
    return warnings
