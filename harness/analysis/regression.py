"""Pairwise regression verdicts: is NEW worse (or better) than BASE, key by key?

Pure functions over numbers; no I/O. One implementation serves `harness compare`,
`harness ab`, the CI gate and the history engine's confirmations.

**What replicates.** Iterations of one run share a process, a memory layout, clocks
and a temperature: they are correlated, and their spread understates how much a
second run would differ. The unit of replication is the run (a process, a night):

| evidence on each side | unit | value per replicate |
|---|---|---|
| per-iteration samples, ≥ 2 runs a side | run | the run's median |
| per-iteration samples, 1 run on a side | batch | median of a block of consecutive iterations ("batch means": blocks are far less correlated than iterations) |
| MCU windows (5 per run), 1 run on a side | window | the window's latency (each window already times ≥ 10 s of inferences) |
| MCU windows, ≥ 2 runs a side | run | the median of its windows |
| aggregates only (ingested benchmark_model: mean, std, n), ≥ 2 runs a side | run | the run's mean |
| aggregates only, 1 run on a side | — | Welch's t from (mean, std, n): iterations taken as independent, optimistic |
| deterministic windows (QEMU `-icount`) | — | none needed: timing repeats exactly, any change is real |

With one run on a side, run-to-run variation is not measured at all; the effect
threshold is then the only guard against it, and `reason` says so. Samples of
different kinds are brought to the weaker one (samples → aggregates, windows →
samples). A multi-phase workload (an LLM's prefill and decode tokens/s) is compared
phase by phase, each with its own direction (`higher_is_better=True` for rates).

**Rule** (threshold t, default 5 %; α, default 0.01):

- `regressed`: the decision test says "worse" at p ≤ α and the ratio of medians is at
  least 1 + t in the worse direction (ratio = new / base);
- `improved`: the same in the better direction;
- `same`: the 95 % CI of the ratio lies inside [1/(1+t), 1+t] (equivalence);
- `unknown`: none of these — measure more; `more_runs` is how many runs per side
  should settle it (power 80 % for the observed effect, or a CI narrow enough).

**Never a test that cannot fire.** The decision test is the one-sided exact
Mann-Whitney U on the replicates when its smallest attainable p, 1/C(m+n, m), is
≤ α (5 + 5 gives 0.004; asv's p < 0.002 can never fire there). Otherwise it is a
one-sided Student t-test on the logs of the replicates (pooled variance), which can
reach any p from 2 + 2. The Mann-Whitney p is reported in both cases. The ratio's 95 % CI is a seeded
percentile bootstrap (two levels for runs of samples: runs, then samples in each
run); for a single aggregate a delta-method interval with Welch's degrees of freedom.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, computed_field

from harness.errors import HarnessError

Verdict = Literal["regressed", "improved", "same", "unknown"]
Unit = Literal["run", "batch", "window", "aggregate", "deterministic"]

DEFAULT_THRESHOLD = 0.05
DEFAULT_ALPHA = 0.01
N_BOOT = 2000
POWER = 0.8
MAX_MORE_RUNS = 100
#: batch means: at most this many batches of at least MIN_BATCH iterations per run
MAX_BATCHES = 20
MIN_BATCH = 5
#: windows count as deterministic when each side's spread is within this fraction
DETERMINISTIC_TOLERANCE = 1e-3


@dataclass(frozen=True)
class Aggregate:
    """What a tool that prints only statistics reports for one run (seconds, or any unit)."""

    mean: float
    std: float
    n: int


@dataclass(frozen=True, eq=False)
class Side:
    """One side of a comparison for one key: its runs, and what each run holds.

    Build with `Side.samples`, `Side.windows` or `Side.aggregates`.
    """

    kind: Literal["samples", "windows", "aggregates"]
    runs: tuple[np.ndarray, ...] = ()
    aggs: tuple[Aggregate, ...] = ()
    deterministic: bool = False
    label: str = ""

    @classmethod
    def samples(cls, runs: Iterable[Sequence[float]], label: str = "") -> Side:
        """Per-iteration values, one sequence per run (a run of one value is a replicate too)."""
        return cls("samples", runs=_as_runs(runs, label), label=label)

    @classmethod
    def windows(cls, runs: Iterable[Sequence[float]], deterministic: bool = False, label: str = "") -> Side:
        """MCU windows (latency per inference of each window), one sequence per run.

        `deterministic`: the timing repeats exactly (QEMU `-icount`); checked against the
        windows themselves (spread ≤ 0.1 %), else they are treated as noisy windows."""
        return cls("windows", runs=_as_runs(runs, label), deterministic=deterministic, label=label)

    @classmethod
    def aggregates(cls, aggs: Iterable[Aggregate | tuple[float, float, int]], label: str = "") -> Side:
        """Runs that kept only (mean, std, n): e.g. ingested benchmark_model logs."""
        out = tuple(a if isinstance(a, Aggregate) else Aggregate(*a) for a in aggs)
        for a in out:
            if not (math.isfinite(a.mean) and a.mean > 0 and math.isfinite(a.std) and a.std >= 0 and a.n >= 1):
                raise HarnessError(f"{label or 'aggregates'}: need mean > 0, std ≥ 0, n ≥ 1 (got {a})")
        return cls("aggregates", aggs=out, label=label)

    @property
    def n_runs(self) -> int:
        return len(self.aggs) if self.kind == "aggregates" else len(self.runs)

    def as_aggregates(self) -> Side:
        """The weaker kind of evidence: each run's mean, std and count."""
        if self.kind == "aggregates":
            return self
        return Side.aggregates(
            [Aggregate(float(r.mean()), float(r.std(ddof=1)) if r.size > 1 else 0.0, int(r.size)) for r in self.runs],
            self.label,
        )


class PairwiseVerdict(BaseModel):
    """The verdict for one key. `ratio` = typical new / typical base (medians; means for aggregates)."""

    model_config = ConfigDict(frozen=True)

    key: str = ""
    verdict: Verdict
    ratio: float
    ci95: tuple[float, float]
    p_value: float | None  # the decision test, one-sided in the direction the ratio moved
    p_mannwhitney: float | None  # one-sided Mann-Whitney U on the replicates, same direction
    test: str  # which decision test, on what
    unit: Unit
    n_base: int  # replicates per side
    n_new: int
    min_attainable_p: float | None  # of the decision test at these sizes
    threshold: float
    alpha: float
    higher_is_better: bool
    more_runs: int | None = None  # `unknown`: runs to add per side
    reason: str

    @computed_field
    @property
    def change(self) -> float:
        """Signed relative change new vs base (+0.083 = 8.3 % higher)."""
        return self.ratio - 1.0


def compare(
    base: Side,
    new: Side,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    alpha: float = DEFAULT_ALPHA,
    higher_is_better: bool = False,
    key: str = "",
    seed: int = 0,
    n_boot: int = N_BOOT,
) -> PairwiseVerdict:
    """The three-way verdict for one key (see the module doc for the rules)."""
    if not threshold >= 0:
        raise HarnessError(f"{key or 'compare'}: effect threshold must be ≥ 0 (got {threshold})")
    if not 0 < alpha < 1:
        raise HarnessError(f"{key or 'compare'}: alpha must be in (0, 1) (got {alpha})")
    for side, name in ((base, "base"), (new, "new")):
        if side.n_runs == 0:
            raise HarnessError(f"{key or 'compare'}: the {name} side has no runs")
    base, new = _same_kind(base, new)
    ctx = _Context(threshold, alpha, higher_is_better, key, np.random.default_rng(seed), n_boot)
    if base.kind == "aggregates":
        if min(base.n_runs, new.n_runs) >= 2:
            return _replicated(ctx, _run_means(base), _run_means(new), "run", "run means")
        return _from_aggregates(ctx, base, new)
    if base.kind == "windows" and base.deterministic and new.deterministic:
        if _is_deterministic(base) and _is_deterministic(new):
            return _deterministic(ctx, base, new)
        note = "windows declared deterministic but their spread exceeds 0.1 %: treated as noisy windows; "
    else:
        note = ""
    if min(base.n_runs, new.n_runs) >= 2:
        return _replicated(ctx, base.runs, new.runs, "run", "run medians", note)
    if base.kind == "windows":
        return _replicated(ctx, _each_value(base.runs), _each_value(new.runs), "window", "windows", note + _ONE_RUN)
    return _replicated(ctx, _batches(base.runs), _batches(new.runs), "batch", "batch medians", note + _ONE_RUN)


def compare_keys(
    pairs: Mapping[str, tuple[Side, Side]],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    thresholds: Mapping[str, float] | None = None,
    higher_is_better: bool | Mapping[str, bool] = False,
    alpha: float = DEFAULT_ALPHA,
    seed: int = 0,
) -> list[PairwiseVerdict]:
    """`compare` for each key, with per-key thresholds and directions, in key order given.

    Each key gets its own seed derived from `seed` and the key, so a key's verdict does
    not depend on which other keys are compared with it."""
    out = []
    for key, (b, n) in pairs.items():
        hib = higher_is_better.get(key, False) if isinstance(higher_is_better, Mapping) else higher_is_better
        t = (thresholds or {}).get(key, threshold)
        out.append(compare(b, n, threshold=t, alpha=alpha, higher_is_better=hib, key=key, seed=key_seed(seed, key)))
    return out


def look_alpha(look: int, looks: int, alpha: float = DEFAULT_ALPHA) -> float:
    """The α to test at look `look` (1-based) of at most `looks` on growing data.

    Testing the same comparison again after adding runs, each look at the full α, raises
    the chance of a false verdict with every look (three looks at 0.01 gave about 2.5 %).
    The total α is *spent* over the looks instead (Lan–DeMets, Pocock-type spending
    function α·ln(1 + (e − 1)·t) at information fraction t = look/looks); each look gets
    the increment, so the looks together never exceed α (Bonferroni over the increments:
    valid whatever the correlation between looks). Pocock-type, not O'Brien–Fleming: the
    first look (5 + 5 runs) must be able to fire — 0.01 over three looks gives 0.0045,
    0.0031, 0.0024, and 5 + 5 runs reach p = 0.004."""
    if not 1 <= look <= looks:
        raise ValueError(f"look {look} of {looks}")

    def spent(t: float) -> float:
        return alpha * math.log1p((math.e - 1) * t)

    return spent(look / looks) - spent((look - 1) / looks)


#: an `unknown` is measured again only when its test leans this far (Pinpoint's UNKNOWN band)
RERUN_P = 0.2
#: the same-device A/B's total α. Runs of one arm in one A/B session share what that
#: session gives them (which binary is cached, where it landed in memory): an arm-level
#: offset no number of runs averages away, which the rank test on runs cannot see.
#: benchmarks/regression.py models it as 1 % per arm per night; at α = 0.01 the rule gave
#: 1.1–1.7 false alarms per 100 A/B nights, at 0.005 0.6.
AB_ALPHA = 0.005


@dataclass(frozen=True)
class SequentialRule:
    """Look, and re-run while `unknown`: the same-device A/B rule (`harness ab`) and the
    gate's "measure more". At most `reruns` more looks, α spent over all of them
    (`look_alpha`), and — as Pinpoint does — only an `unknown` whose one-sided p is at
    most `rerun_p` is measured again: one that shows no sign of a change (p > 0.2) stays
    `unknown` without spending more device time or more chances of a false verdict."""

    reruns: int = 2
    alpha: float = AB_ALPHA
    threshold: float = DEFAULT_THRESHOLD
    rerun_p: float = RERUN_P

    @property
    def looks(self) -> int:
        return self.reruns + 1

    def alpha_at(self, look: int) -> float:
        return look_alpha(look, self.looks, self.alpha)

    def judge(self, base: Side, new: Side, look: int, **kw) -> PairwiseVerdict:
        """The verdict at look `look` (1-based) on everything measured so far."""
        return compare(base, new, threshold=self.threshold, alpha=self.alpha_at(look), **kw)

    def rerun(self, verdict: PairwiseVerdict, look: int) -> bool:
        """Measure again after look `look`?"""
        return (verdict.verdict == "unknown" and look < self.looks
                and (verdict.p_value is None or verdict.p_value <= self.rerun_p))


def min_attainable_p(m: int, n: int) -> float:
    """Smallest one-sided p the exact Mann-Whitney U test can give for sizes m and n."""
    return 1.0 / math.comb(m + n, m)


def runs_for_rank_test(alpha: float) -> int:
    """Fewest runs per side (balanced) for which the exact Mann-Whitney U can reach `alpha`."""
    n = 1
    while min_attainable_p(n, n) > alpha:
        n += 1
    return n


# --------------------------------------------------------------------------- internals

_ONE_RUN = ("one run on a side: run-to-run variation is not measured, the effect threshold is the only guard "
            "against it; ")


@dataclass
class _Context:
    threshold: float
    alpha: float
    higher_is_better: bool
    key: str
    rng: np.random.Generator
    n_boot: int

    @property
    def band(self) -> float:
        """Half-width of the 'same' band in log units."""
        return math.log1p(self.threshold)

    def verdict(self, log_ratio: float, ci: tuple[float, float], p: float | None, **fields) -> PairwiseVerdict:
        """The rule, in log units: significant and beyond the threshold, or CI inside the band.

        `p`: one-sided, for a move in the direction the estimate moved."""
        moved_worse = (log_ratio > 0) != self.higher_is_better
        beyond = abs(log_ratio) >= self.band - 1e-12
        lo, hi = ci
        if p is not None and p <= self.alpha and beyond:
            verdict: Verdict = "regressed" if moved_worse else "improved"
        elif -self.band <= math.log(lo) and math.log(hi) <= self.band:
            verdict = "same"
        else:
            verdict = "unknown"
        return PairwiseVerdict(
            key=self.key, verdict=verdict, ratio=math.exp(log_ratio), ci95=ci, p_value=p,
            threshold=self.threshold, alpha=self.alpha, higher_is_better=self.higher_is_better,
            **{**fields, "more_runs": fields.get("more_runs") if verdict == "unknown" else None},
        )

    def runs_needed(self, log_ratio: float, sigma: float, have: int) -> int:
        """Runs per side to add so that the next look is likely to settle an `unknown`.

        Beyond the threshold but not significant: power 80 % for the observed effect.
        Inside the band but the CI reaches out of it: a CI narrower than the distance
        from the estimate to the band edge. Normal approximations on log values."""
        from scipy.stats import norm

        if not math.isfinite(sigma) or sigma <= 0:
            return max(0, 2 - have) or 1
        effect = abs(log_ratio)
        if effect >= self.band:
            need = 2 * (sigma * (norm.ppf(1 - self.alpha) + norm.ppf(POWER)) / effect) ** 2
        else:
            gap = max(self.band - effect, self.band / 10)  # at the edge itself, ask for a bounded amount
            need = 2 * (sigma * norm.ppf(0.975) / gap) ** 2
        return int(min(MAX_MORE_RUNS, max(1, math.ceil(need) - have)))


def _as_runs(runs: Iterable[Sequence[float]], label: str) -> tuple[np.ndarray, ...]:
    out = []
    for i, r in enumerate(runs):
        a = np.asarray(r, dtype=float).ravel()
        if a.size == 0:
            raise HarnessError(f"{label or 'samples'}: run {i} has no values")
        if not np.all(np.isfinite(a)) or np.any(a <= 0):
            raise HarnessError(f"{label or 'samples'}: run {i} has a value that is not a positive number")
        out.append(a)
    return tuple(out)


def _same_kind(base: Side, new: Side) -> tuple[Side, Side]:
    if base.kind == new.kind:
        return base, new
    if "aggregates" in (base.kind, new.kind):
        return base.as_aggregates(), new.as_aggregates()
    # windows against per-iteration samples: both are samples; nothing is deterministic any more
    return Side.samples(base.runs, base.label), Side.samples(new.runs, new.label)


def _is_deterministic(side: Side) -> bool:
    values = np.concatenate(side.runs)
    return float(values.max() / values.min() - 1.0) <= DETERMINISTIC_TOLERANCE


def _each_value(runs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Every value its own replicate (MCU windows)."""
    return [np.array([v]) for v in np.concatenate(runs)]


def _batches(runs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Consecutive blocks of each run (as many as MAX_BATCHES of ≥ MIN_BATCH iterations)."""
    out: list[np.ndarray] = []
    for r in runs:
        k = max(1, min(MAX_BATCHES, r.size // MIN_BATCH))
        if r.size < 2 * MIN_BATCH:  # too short for blocks: each iteration is its own replicate
            k = r.size
        out.extend(np.array_split(r, k))
    return out


def _run_means(side: Side) -> list[np.ndarray]:
    return [np.array([a.mean]) for a in side.aggs]


def key_seed(seed: int, key: str) -> int:
    """A seed of its own for each key: a key's verdict does not depend on the others compared with it."""
    import zlib

    return (seed * 1_000_003 + zlib.crc32(key.encode())) % (2**32)


def _boot_median(r: np.ndarray, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """Bootstrap replicates of the median of `r`: (n_boot,) values.

    Short runs are resampled. For long runs the median of a resample is drawn from its
    exact distribution instead — the k-th order statistic of a resample is ≤ x₍ⱼ₎ with
    probability P(Binomial(n, j/n) ≥ k), k = ⌈n/2⌉ — which costs O(n) instead of O(n·n_boot)."""
    if r.size == 1:
        return np.full(n_boot, r[0])
    if r.size <= 256:
        return np.median(r[rng.integers(0, r.size, (n_boot, r.size))], axis=1)
    from scipy.stats import binom

    ordered = np.sort(r)
    cdf = binom.sf((r.size + 1) // 2 - 1, r.size, np.arange(1, r.size + 1) / r.size)
    return ordered[np.minimum(np.searchsorted(cdf, rng.random(n_boot)), r.size - 1)]


def _boot_medians(runs: Sequence[np.ndarray], rng: np.random.Generator, n_boot: int, levels: int) -> np.ndarray:
    """Bootstrap of the median of the replicates' medians: (n_boot,) values.

    Level 1 resamples the replicates; with `levels=2` the values inside each replicate
    are resampled too (runs of samples). Batches are resampled whole (one level): the
    iterations inside a batch are the correlated ones."""
    if levels == 2:
        per = np.stack([_boot_median(r, rng, n_boot) for r in runs])
    else:
        per = np.repeat(np.array([[float(np.median(r))] for r in runs]), n_boot, axis=1)
    if len(runs) == 1:
        return per[0]
    pick = rng.integers(0, len(runs), (n_boot, len(runs)))
    return np.median(per[pick, np.arange(n_boot)[:, None]], axis=1)


def _replicated(ctx: _Context, base_runs: Sequence[np.ndarray], new_runs: Sequence[np.ndarray], unit: Unit,
                what: str, note: str = "") -> PairwiseVerdict:
    """Replicates on both sides: the rank test (or a t-test on logs when ranks cannot reach α), bootstrap CI."""
    rb = np.log([float(np.median(r)) for r in base_runs])
    rn = np.log([float(np.median(r)) for r in new_runs])
    log_ratio = float(np.median(rn) - np.median(rb))
    levels = 2 if unit == "run" else 1
    boot = (np.log(_boot_medians(new_runs, ctx.rng, ctx.n_boot, levels))
            - np.log(_boot_medians(base_runs, ctx.rng, ctx.n_boot, levels)))
    ci = (math.exp(float(np.quantile(boot, 0.025))), math.exp(float(np.quantile(boot, 0.975))))
    m, n = rb.size, rn.size
    common = dict(unit=unit, n_base=m, n_new=n)
    if min(m, n) < 2:
        return ctx.verdict(log_ratio, ci, None, test=f"none: fewer than 2 {what} on a side", p_mannwhitney=None,
                           min_attainable_p=None, more_runs=2 - min(m, n) if unit == "run" else 2,
                           reason=note + f"need at least 2 {what} on each side for a test", **common)
    # only the direction the estimate moved can give a verdict: test that one
    from scipy.stats import mannwhitneyu

    alternative = "greater" if log_ratio > 0 else "less"
    p_mw = float(mannwhitneyu(rn, rb, alternative=alternative).pvalue)
    if min_attainable_p(m, n) <= ctx.alpha:
        test, p, floor = f"one-sided Mann-Whitney U on {what}", p_mw, min_attainable_p(m, n)
    else:
        test = (f"one-sided t-test on log {what} (Mann-Whitney cannot reach p ≤ {ctx.alpha:g} with "
                f"{m} + {n}: its smallest p is {min_attainable_p(m, n):.3g})")
        p, floor = _t_p(rn, rb, alternative), 0.0
    sigma = math.sqrt((np.var(rb, ddof=1) + np.var(rn, ddof=1)) / 2)
    if unit == "run":
        more = ctx.runs_needed(log_ratio, sigma, min(m, n))
    else:  # replication is what is missing: enough runs for the rank test, or for power
        more = max(runs_for_rank_test(ctx.alpha) - 1, ctx.runs_needed(log_ratio, sigma, 1))
    return ctx.verdict(
        log_ratio, ci, p, test=test, p_mannwhitney=p_mw,
        min_attainable_p=floor, more_runs=more, reason=note + _explain(ctx, log_ratio, ci, what), **common,
    )


def _from_aggregates(ctx: _Context, base: Side, new: Side) -> PairwiseVerdict:
    """One run (or pooled runs) of (mean, std, n) a side: Welch's t on the means."""
    from scipy.stats import t as student_t
    from scipy.stats import ttest_ind_from_stats

    b, n = _pool(base.aggs), _pool(new.aggs)
    log_ratio = math.log(n.mean / b.mean)
    vb, vn = (b.std / b.mean) ** 2 / b.n, (n.std / n.mean) ** 2 / n.n  # variance of each log mean (delta method)
    se = math.sqrt(vb + vn)
    df = _welch_df(vb, b.n, vn, n.n)
    half = float(student_t.ppf(0.975, df)) * se if se > 0 else 0.0
    ci = (math.exp(log_ratio - half), math.exp(log_ratio + half))
    if se == 0:
        p_up, p_down = (0.0, 1.0) if log_ratio > 0 else (1.0, 0.0) if log_ratio < 0 else (1.0, 1.0)
    else:
        p_up = float(ttest_ind_from_stats(n.mean, n.std, n.n, b.mean, b.std, b.n, equal_var=False,
                                          alternative="greater").pvalue)
        p_down = 1.0 - p_up
    return ctx.verdict(
        log_ratio, ci, p_up if log_ratio > 0 else p_down, test="one-sided Welch t from (mean, std, n) of each side",
        p_mannwhitney=None, unit="aggregate", n_base=base.n_runs, n_new=new.n_runs, min_attainable_p=0.0,
        more_runs=max(1, 2 - min(base.n_runs, new.n_runs)),
        reason="aggregates only: the iterations inside a run are taken as independent, which overstates the "
               "evidence; the effect threshold is the guard. More runs (≥ 2 a side) allow a test on run means; "
               + _explain(ctx, log_ratio, ci, "means"),
    )


def _deterministic(ctx: _Context, base: Side, new: Side) -> PairwiseVerdict:
    """Timing that repeats exactly: any difference is real; the verdict is the threshold alone."""
    vb, vn = np.concatenate(base.runs), np.concatenate(new.runs)
    log_ratio = math.log(float(np.median(vn)) / float(np.median(vb)))
    ci = (math.exp(math.log(vn.min() / vb.max())), math.exp(math.log(vn.max() / vb.min())))
    band = ctx.band
    if abs(log_ratio) >= band - 1e-12 and log_ratio != 0:
        worse = (log_ratio > 0) != ctx.higher_is_better
        verdict: Verdict = "regressed" if worse else "improved"
    else:
        verdict = "same"
    return PairwiseVerdict(
        key=ctx.key, verdict=verdict, ratio=math.exp(log_ratio), ci95=ci, p_value=None, p_mannwhitney=None,
        test="none: deterministic timing (QEMU -icount); the interval is the full spread of the windows",
        unit="deterministic", n_base=vb.size, n_new=vn.size, min_attainable_p=None, threshold=ctx.threshold,
        alpha=ctx.alpha, higher_is_better=ctx.higher_is_better,
        reason=f"deterministic timing: a {abs(log_ratio):.2%} log change is real; the threshold decides",
    )


def _pool(aggs: Sequence[Aggregate]) -> Aggregate:
    """Several runs' (mean, std, n) as one: the combined mean and variance."""
    if len(aggs) == 1:
        return aggs[0]
    n = sum(a.n for a in aggs)
    mean = sum(a.mean * a.n for a in aggs) / n
    ss = sum((a.n - 1) * a.std**2 + a.n * (a.mean - mean) ** 2 for a in aggs)
    return Aggregate(mean, math.sqrt(ss / max(1, n - 1)), n)


def _welch_df(vb: float, nb: int, vn: float, nn: int) -> float:
    num = (vb + vn) ** 2
    den = (vb**2 / (nb - 1) if nb > 1 else 0.0) + (vn**2 / (nn - 1) if nn > 1 else 0.0)
    return num / den if den > 0 else 1.0


def _t_p(x: np.ndarray, y: np.ndarray, alternative: str) -> float:
    """One-sided Student t p (pooled variance) that x is `alternative` than y.

    Pooled, not Welch: on log values two sides of one benchmark have about the same
    relative spread, and with 2 + 2 Welch's degrees of freedom can fall to 1, where
    even a clean 30 % step with 1 % noise cannot reach p ≤ 0.01."""
    from scipy.stats import ttest_ind

    if np.var(x) == 0 and np.var(y) == 0:  # no spread: the order of the means is certain
        diff = float(np.mean(x) - np.mean(y))
        return 0.0 if (diff > 0 if alternative == "greater" else diff < 0) else 1.0
    return float(ttest_ind(x, y, equal_var=True, alternative=alternative).pvalue)


def _explain(ctx: _Context, log_ratio: float, ci: tuple[float, float], what: str) -> str:
    return (f"change {math.expm1(log_ratio):+.1%} [{ci[0] - 1:+.1%}, {ci[1] - 1:+.1%}] of the {what}, "
            f"threshold ±{ctx.threshold:.0%}")
