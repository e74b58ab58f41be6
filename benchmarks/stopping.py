"""Adaptive stopping vs the MLPerf Mobile fixed rule, and the coverage of the reported CI.

Part 1 (real device time, local host): the same stable model measured with the
adaptive rule (default) and with MLPerf Mobile SingleStream (>= 1024 queries and
>= 60 s); prints iterations and steady-state device seconds for each, and the ratio.

Part 2 (simulation): >= 200 runs per distribution (normal, lognormal, bimodal) with a
known true median, each stopped by the agent's own `should_stop` on the agent's own
check schedule; prints how often the reported 95 % CI contains the true median.

Targets: >= 10x less device time; coverage >= 95 %.
Usage: python benchmarks/stopping.py [--model ZOO_ID] [--runs 300] [--skip-device]
"""

from __future__ import annotations

import argparse
import math
import tempfile

import numpy as np
from scipy import optimize, stats

from harness.agent.agent import check_interval_ns, median_ci, should_stop

RULE = {"mode": "adaptive", "ci_target": 0.01, "min_iters": 10, "min_time_s": 1.0, "max_time_s": 60.0,
        "count": None, "time_s": None}


def simulate_run(draw) -> tuple[float, float, int]:
    """One adaptive run on synthetic latencies (seconds): (ci low, ci high, n).

    The checks happen where the agent's would: after the first inference that ends
    past the next check time, on all latencies so far.
    """
    x = draw(4096)
    ends = np.cumsum(x)
    next_check = check_interval_ns(0) / 1e9
    while True:
        i = int(np.searchsorted(ends, next_check))
        while i >= len(x):  # the run is longer than drawn so far
            x = np.concatenate([x, draw(len(x))])
            ends = np.cumsum(x)
        elapsed, n = float(ends[i]), i + 1
        ordered = np.sort(x[:n])
        if should_stop(RULE, n, elapsed, ordered):
            _, lo, hi = median_ci(ordered)
            return lo, hi, n
        next_check = elapsed + check_interval_ns(int(elapsed * 1e9)) / 1e9


def distributions(rng):
    """name -> (draw one latency in s, true median in s)."""
    # Bimodal: 70 % fast path, 30 % slow path; true median from the mixture CDF.
    w, m1, s1, m2, s2 = 0.7, 2e-3, 1e-4, 3e-3, 1e-4
    cdf = lambda x: w * stats.norm.cdf(x, m1, s1) + (1 - w) * stats.norm.cdf(x, m2, s2)  # noqa: E731
    bimodal_median = optimize.brentq(lambda x: cdf(x) - 0.5, m1 - 5 * s1, m2 + 5 * s2)

    def bimodal(k):
        return np.where(rng.random(k) < w, rng.normal(m1, s1, k), rng.normal(m2, s2, k))

    return {
        "normal (1 ms, CV 5 %)": (lambda k: rng.normal(1e-3, 5e-5, k), 1e-3),
        "lognormal (10 ms, sigma 0.25)": (lambda k: rng.lognormal(math.log(10e-3), 0.25, k), 10e-3),
        "bimodal (2 ms 70 % / 3 ms 30 %)": (bimodal, bimodal_median),
    }


def coverage(runs: int, seed: int = 0) -> dict[str, tuple[float, float]]:
    rng = np.random.default_rng(seed)
    out = {}
    for name, (draw, true_median) in distributions(rng).items():
        hits, ns = 0, []
        for _ in range(runs):
            lo, hi, n = simulate_run(draw)
            hits += lo <= true_median <= hi
            ns.append(n)
        out[name] = (hits / runs, float(np.median(ns)))
        ci = stats.binomtest(hits, runs).proportion_ci(0.95, method="wilson")
        print(f"coverage  {name:34s} {hits}/{runs} = {hits / runs:.1%} "
              f"(95% CI of this estimate {ci.low:.1%}-{ci.high:.1%})   median n = {np.median(ns):.0f}")
    return out


def device_time(model: str) -> tuple[dict, dict]:
    from harness.session import RunOptions, plan_runs, run_planned
    from harness.store.record import StopRule
    from harness.store.store import RunStore

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(tmp)
        for mode in ("adaptive", "mlperf"):
            (job,) = plan_runs(["local"], [model], RunOptions(threads=1, stop=StopRule(mode=mode), telemetry=False))
            m = run_planned(job, store)
            steady_s = (m.timeline["steady_end_ns"] - m.timeline["steady_start_ns"]) / 1e9
            out[mode] = {"n": m.summary.latency.n, "steady_s": steady_s, "median_s": m.summary.latency.median_s,
                         "stop_reason": m.summary.stop_reason}
            print(f"device    {mode:9s} n = {out[mode]['n']:6d}  steady = {steady_s:7.2f} s  "
                  f"median = {m.summary.latency.median_s * 1e3:.4f} ms  ({m.summary.stop_reason})")
    return out["adaptive"], out["mlperf"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="mobilenet_v2_0.35_96")
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--skip-device", action="store_true")
    args = ap.parse_args()
    cov = coverage(args.runs)
    pooled = sum(c for c, _ in cov.values()) / len(cov)
    hits = round(pooled * args.runs * len(cov))
    ci = stats.binomtest(hits, args.runs * len(cov)).proportion_ci(0.95, method="wilson")
    summary = (f"CI coverage {pooled:.1%} pooled over {args.runs * len(cov)} simulated runs "
               f"(95% CI {ci.low:.1%}-{ci.high:.1%}; worst distribution {min(c for c, _ in cov.values()):.1%})")
    if args.skip_device:
        print(f"RESULT {summary} (device part skipped)")
        return
    adaptive, mlperf = device_time(args.model)
    ratio = mlperf["steady_s"] / adaptive["steady_s"]
    print(
        f"RESULT adaptive uses {ratio:.1f}x less device time than MLPerf Mobile "
        f"({adaptive['n']} vs {mlperf['n']} iterations, {adaptive['steady_s']:.2f} s vs {mlperf['steady_s']:.2f} s); "
        f"{summary}"
    )


if __name__ == "__main__":
    main()
