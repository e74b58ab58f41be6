"""The harness regression rules against the anchors' rules, on the same simulated nights.

A seeded simulator makes nightly latency series of a farm: per key and night a shared
night level (night-to-night noise N(0, 3 %), 5 % "hot" nights × 1.25, a slow drift of
±0.1 %/night with a random sign per key) and R = 5 repetitions (runs) per night with
within-night run-to-run noise N(0, 5 %), all multiplicative. Some keys get a step of
3, 5, 8 or 15 % at night 40 of 80; the rest none. Each rule sees the same series:

- harness history: `harness.analysis.history.analyse_history` (robust CUSUM, E-divisive
  localisation, Benjamini–Hochberg over the farm's keys each night), on all samples;
- harness A/B: the same-device interleaved design — each night the pinned baseline (A)
  and tonight's build (B) run R times each, interleaved, so night effects and drift
  hit both (all but an unshared 1 % night noise per arm), judged by
  `harness.analysis.regression.SequentialRule` (what `harness ab` runs): `unknown`
  leaning towards a change (p ≤ 0.2) re-runs R more each, at most twice (or once), the
  total α = 0.005 spent over the looks;
- asv pairwise: tonight against last night, ratio > 1.1 and a Mann-Whitney p < 0.002
  when attainable, else non-overlapping 99 % CIs of the median ([min, max] at R = 5);
- asv step detection: L1 piecewise-constant fit (Potts, BIC-chosen number of steps,
  β = 4 ln n / n) over the last 50 nightly medians; alarm when the newest segment
  (≥ 2 nights) sits > 5 % above the one before;
- conbench: z = (x − mean)/sd over the last 100 nightly values, alarm at z > 5;
- FAI-PEP: p50 above (90th percentile of past p90s) + (range of past p90s)/10 on the
  last two nights (≥ 5 past nights), then re-verified on a fresh re-run;
- Otava-style: E-divisive splits of the last 50 nightly medians kept when a Student
  t-test between the two sides gives p < 0.001 (recursively); alarm on a new upward one.

Scored on regression alarms only (every rule here can raise them), from night 10 on:
false alarms per 100 series-nights over step-free nights (keys without a step, and
nights before the step); detection = a regression alarm within 20 nights from the step
night on; delay = alarm night − step night, median over detected keys. A rule that
alarms at random at rate f "detects" 1 − (1 − f)²⁰ of the steps by chance: the
"chance" column says how much of its detection rate that explains. The A/B rule is scored
on every 7th step-free night (its nights are independent trials) and night by night
after the step until it fires. Two figures the table's false-alarm column does not hold,
because a rule can buy detection with them: the "after" column, alarms per 100 nights after
the one that detected a step (the change was already reported; for history either way;
the A/B rule stops at a detection), and a line with history's improvement alarms on
step-free nights (none is real here, so they are false alarms too). Benjamini–Hochberg makes
history's false-alarm rate depend on how many keys share a night (a lone candidate of 40 keys
needs p ≤ q/40, of one key only p ≤ α), so a line measures it on farms of 40, 12 and 1
step-free keys: the target should hold for a user with a handful of keys too. Another
measures history with the step at nights 30, 50 and 60 instead of 40: night 40 is also the
first night the first segment has the `trend` (40) nights its drift-aware centre needs, and
a real step comes on any night.

Targets for harness history: ≥ 95 % of 8 % steps detected, ≤ 1 false alarm per 100
series-nights, and better than every anchor on both. A rule that (nearly) never fires
has fewer false alarms than any detector, so the script names, per anchor, whether it
detects as many 8 % steps, whether it raises no more false alarms, and whether it is
better on both. The "told the night" lines give scale: the share of steps a Mann-Whitney
test detects when it is told the step night, at the significance BH asks of a lone key of
the farm and at 0.005, and how often it fires on keys without a step. It is a reference,
not a ceiling: the history rule, free to place the split where the nights show it, can
detect more. The last line is the figure.
Usage: python benchmarks/regression.py [--farms 25] [--seed 0] [--no-ab] [--history '{"h": 7}']
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from scipy import stats

from harness.analysis.history import HistoryConfig, analyse_history, energy_split
from harness.analysis.regression import SequentialRule, Side

STEPS = (0.03, 0.05, 0.08, 0.15)
WARMUP = 10  # nights before any rule is scored
DETECT_WINDOW = 20  # an alarm counts as a detection only this many nights after the step
AB_EVERY = 7  # A/B false-alarm nights sampled
AB_BOOT = 500  # bootstrap resamples per A/B look (the library default is 2000): the CI only decides 'same'


@dataclass(frozen=True)
class NoiseModel:
    nights: int = 80
    step_night: int = 40
    night_sd: float = 0.03
    hot_p: float = 0.05
    hot_factor: float = 1.25
    drift: float = 0.001
    rep_sd: float = 0.05
    reps: int = 5
    ab_unshared_sd: float = 0.01


@dataclass
class Series:
    key: str
    step: float
    shared: np.ndarray  # log night level without the step: noise, hot nights, drift
    step_log: np.ndarray  # log step contribution per night
    samples: np.ndarray  # (nights, reps)
    rng: np.random.Generator = field(repr=False)
    model: NoiseModel = field(repr=False)

    @property
    def level(self) -> np.ndarray:
        return self.shared + self.step_log

    def rerun(self, night: int, n: int, *, step: bool = True, extra: float = 0.0) -> np.ndarray:
        """n fresh repetitions on `night` (same night conditions)."""
        lvl = self.shared[night] + (self.step_log[night] if step else 0.0) + extra
        return np.exp(lvl + self.rng.normal(0, self.model.rep_sd, n))


def make_series(key: str, step: float, rng: np.random.Generator, m: NoiseModel) -> Series:
    t = np.arange(m.nights)
    hot = np.where(rng.random(m.nights) < m.hot_p, math.log(m.hot_factor), 0.0)
    shared = rng.normal(0, m.night_sd, m.nights) + hot + rng.choice([-1, 1]) * m.drift * t
    step_log = np.where(t >= m.step_night, math.log1p(step), 0.0)
    samples = np.exp((shared + step_log)[:, None] + rng.normal(0, m.rep_sd, (m.nights, m.reps)))
    return Series(key, step, shared, step_log, samples, np.random.default_rng(rng.integers(2**63)), m)


def make_farm(index: int, rng: np.random.Generator, m: NoiseModel,
              null_keys: int = 20, per_step: int = 5) -> list[Series]:
    """The table's farm by default: 20 keys without a step, `per_step` with each step size."""
    plan = [0.0] * null_keys + [s for s in STEPS for _ in range(per_step)]
    return [make_series(f"f{index}k{i}", s, rng, m) for i, s in enumerate(plan)]


# ------------------------------------------------------------------ rules: farm -> alarm nights per key

KeyAlarms = list[list[int]]  # per key of the farm, its alarm nights
Rule = Callable[[list[Series]], KeyAlarms]  # the anchors and A/B raise regression alarms only


HISTORY = HistoryConfig()


def harness_history(farm: list[Series]) -> tuple[KeyAlarms, KeyAlarms]:
    """(regression alarms, improvement alarms): history raises both."""
    m = farm[0].model
    rows = [(s.key, t, v) for s in farm for t in range(m.nights) for v in s.samples[t]]
    result = analyse_history(pd.DataFrame(rows, columns=["key", "night", "value"]), HISTORY)
    by_key = {k.key: k.change_points for k in result.keys}
    return tuple([[int(c.alarm_night) for c in by_key[s.key] if (c.direction == "regressed") == worse] for s in farm]
                 for worse in (True, False))


def history_score(farms: Iterable[list[Series]]) -> Score:
    """The history rule scored on extra farms (the table scores every rule on the same ones)."""
    score = Score()
    for farm in farms:
        for s, worse, better in zip(farm, *harness_history(farm)):
            score.add(s, worse, 1, better)
    return score


def false_alarms_by_farm_size(rng: np.random.Generator, m: NoiseModel, series: int,
                              sizes: Sequence[int] = (40, 12, 1)) -> dict[int, Score]:
    """History on farms of step-free keys of each size, `series` keys in all per size: BH's
    family is the farm's keys of the night."""
    return {size: history_score(make_farm(f, rng, m, null_keys=size, per_step=0)
                                for f in range(math.ceil(series / size))) for size in sizes}


def history_by_step_night(rng: np.random.Generator, m: NoiseModel, n_farms: int,
                          step_nights: Sequence[int] = (30, 50, 60)) -> dict[int, Score]:
    """History on the table's farms with their steps at each of `step_nights` instead."""
    return {night: history_score(make_farm(i, rng, replace(m, step_night=night)) for i in range(n_farms))
            for night in step_nights}


def harness_ab(farm: list[Series], reruns: int = 2) -> list[list[int]]:
    rule = SequentialRule(reruns=reruns)
    out = []
    for s in farm:
        m, alarms = s.model, []
        nights = [t for t in range(WARMUP, m.step_night if s.step else m.nights, AB_EVERY)]
        for t in nights + (list(range(m.step_night, m.step_night + DETECT_WINDOW)) if s.step else []):
            if _ab_night(s, t, rule):
                alarms.append(t)
                if t >= m.step_night:
                    break  # detected: later nights are not needed for the score
        out.append(alarms)
    return out


def _ab_night(s: Series, t: int, rule: SequentialRule) -> bool:
    """One `harness ab`: R runs of each arm, judged; while unknown, R more each (α spent over the looks)."""
    m = s.model
    ua, ub = s.rng.normal(0, m.ab_unshared_sd, 2)
    a, b = [], []
    for look in range(1, rule.looks + 1):
        a.extend(s.rerun(t, m.reps, step=False, extra=ua))
        b.extend(s.rerun(t, m.reps, extra=ub))
        v = rule.judge(Side.samples([[x] for x in a]), Side.samples([[x] for x in b]), look, seed=t, n_boot=AB_BOOT)
        if not rule.rerun(v, look):
            return v.verdict == "regressed"
    return False


def harness_ab_one_rerun(farm: list[Series]) -> list[list[int]]:
    return harness_ab(farm, reruns=1)


def asv_pairwise(farm: list[Series]) -> list[list[int]]:
    out = []
    for s in farm:
        alarms = []
        for t in range(1, s.model.nights):
            old, new = s.samples[t - 1], s.samples[t]
            if np.median(new) / np.median(old) <= 1.1:
                continue
            if 1 / math.comb(old.size + new.size, old.size) < 0.002:
                significant = stats.mannwhitneyu(new, old, alternative="two-sided").pvalue < 0.002
            else:  # asv's fallback: 99 % CIs of the median that do not overlap
                significant = _ci99(new)[0] > _ci99(old)[1]
            if significant:
                alarms.append(t)
        out.append(alarms)
    return out


def _ci99(x: np.ndarray) -> tuple[float, float]:
    """Order-statistic 99 % CI of the median, or the full range when the sample is too small for one."""
    x = np.sort(x)
    j = int(stats.binom.ppf(0.005, x.size, 0.5))
    if j < 1:
        return float(x[0]), float(x[-1])
    return float(x[j - 1]), float(x[x.size - j])


def asv_steps(farm: list[Series]) -> list[list[int]]:
    out = []
    for s in farm:
        med = np.median(s.samples, axis=1)
        cost = _l1_costs(med)  # a segment's cost does not depend on the window it is seen in
        alarms: list[int] = []
        reported: list[int] = []
        for t in range(WARMUP, s.model.nights):
            lo = max(0, t + 1 - 50)
            bounds, values = _potts_l1_bic(med[lo:t + 1], cost[lo:t + 1, lo:t + 1])
            if len(values) < 2 or (t + 1 - lo) - bounds[-1] < 2:
                continue
            edge = lo + bounds[-1]
            if values[-1] > 1.05 * values[-2] and all(abs(edge - r) > 2 for r in reported):
                reported.append(edge)
                alarms.append(t)
        out.append(alarms)
    return out


def _l1_costs(y: np.ndarray) -> np.ndarray:
    """cost[i, j]: sum of |y - median| over y[i..j] (inf below the diagonal)."""
    n = y.size
    cost = np.full((n, n), np.inf)
    for length in range(1, n + 1):
        win = sliding_window_view(y, length)
        med = np.median(win, axis=1)
        cost[np.arange(n - length + 1), np.arange(length - 1, n)] = np.abs(win - med[:, None]).sum(axis=1)
    return cost


def _potts_l1_bic(y: np.ndarray, cost: np.ndarray, max_k: int = 5) -> tuple[list[int], list[float]]:
    """Best L1 piecewise-constant fit with k ≤ max_k segments, k by asv's BIC-like criterion.

    Returns (start index of each segment, its median)."""
    n = y.size
    f = cost[0].copy()
    backs, totals = [], [f[-1]]
    for _ in range(2, min(max_k, n) + 1):
        cand = f[:-1, None] + cost[1:, :]
        arg = np.argmin(cand, axis=0)
        f = cand[arg, np.arange(n)]
        backs.append(arg + 1)
        totals.append(f[-1])
    beta = 4 * math.log(n) / n
    best_obj, best = math.inf, ([0], [float(np.median(y))])
    for k in range(1, len(totals) + 1):
        starts = [0]
        end = n - 1
        for back in reversed(backs[: k - 1]):
            starts.insert(1, int(back[end]))
            end = starts[1] - 1
        starts = sorted(set(starts))
        values = [float(np.median(y[a:b])) for a, b in zip(starts, starts[1:] + [n])]
        sigma0 = 0.1 * min(abs(np.diff(values))) if len(values) > 1 else 1e-3 * abs(values[0])
        obj = beta * k + math.log(sigma0 + totals[k - 1] / n)
        if obj < best_obj:
            best_obj, best = obj, (starts, values)
    return best


def conbench(farm: list[Series]) -> list[list[int]]:
    out = []
    for s in farm:
        x = np.median(s.samples, axis=1)
        alarms = []
        for t in range(WARMUP, s.model.nights):
            past = x[max(0, t - 100):t]
            sd = past.std(ddof=1)
            if sd > 0 and (x[t] - past.mean()) / sd > 5:
                alarms.append(t)
        out.append(alarms)
    return out


def fai_pep(farm: list[Series]) -> list[list[int]]:
    out = []
    for s in farm:
        p50 = np.median(s.samples, axis=1)
        p90 = np.percentile(s.samples, 90, axis=1)
        alarms: list[int] = []
        for t in range(WARMUP, s.model.nights):
            past = p90[: t - 1]
            if past.size < 5:
                continue
            env = np.percentile(past, 90) + (past.max() - past.min()) / 10
            if p50[t - 1] > env and p50[t] > env and (not alarms or alarms[-1] != t - 1):
                if np.median(s.rerun(t, s.model.reps)) > env:  # re-verify before declaring
                    alarms.append(t)
        out.append(alarms)
    return out


def otava(farm: list[Series]) -> list[list[int]]:
    out = []
    for s in farm:
        med = np.median(s.samples, axis=1)
        alarms: list[int] = []
        reported: list[int] = []
        for t in range(WARMUP, s.model.nights):
            lo = max(0, t + 1 - 50)
            y = med[lo:t + 1]
            for cp in _otava_points(y, 0, y.size):
                edge = lo + cp
                if y[cp:].mean() > y[:cp].mean() and all(abs(edge - r) > 3 for r in reported):
                    reported.append(edge)
                    alarms.append(t)
        out.append(alarms)
    return out


def _otava_points(y: np.ndarray, lo: int, hi: int, min_size: int = 3, p: float = 0.001) -> list[int]:
    seg = y[lo:hi]
    if seg.size < 2 * min_size:
        return []
    tau, _ = energy_split(seg, min_size)
    if _student_p(seg[:tau], seg[tau:]) >= p:
        return []
    return _otava_points(y, lo, lo + tau, min_size, p) + [lo + tau] + _otava_points(y, lo + tau, hi, min_size, p)


def _student_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided Student t-test p (pooled variance), without scipy's per-call overhead."""
    na, nb = a.size, b.size
    pooled = ((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / (na + nb - 2)
    if pooled <= 0:
        return 0.0 if a.mean() != b.mean() else 1.0
    t = (b.mean() - a.mean()) / math.sqrt(pooled * (1 / na + 1 / nb))
    return float(2 * stats.t.sf(abs(t), na + nb - 2))


def _regressions_only(rule: Rule) -> Callable[[list[Series]], tuple[KeyAlarms, KeyAlarms]]:
    return lambda farm: (rule(farm), [[] for _ in farm])


AB_RULES: dict[str, Rule] = {  # judged on sampled nights, and they stop at a detection
    "harness A/B, ≤ 2 re-runs (not the default)": harness_ab,
    "harness A/B, ≤ 1 re-run (harness ab)": harness_ab_one_rerun,
}
ANCHORS: dict[str, Rule] = {
    "asv pairwise (vs last night)": asv_pairwise,
    "asv step detection": asv_steps,
    "conbench z > 5": conbench,
    "FAI-PEP p50 envelope": fai_pep,
    "Otava-style E-divisive + t-test": otava,
}
# every entry: farm -> (regression alarms, improvement alarms) per key
RULES = {
    "harness history (CUSUM + E-divisive + BH)": harness_history,
    **{name: _regressions_only(rule) for name, rule in {**AB_RULES, **ANCHORS}.items()},
}


# ------------------------------------------------------------------ a reference: a test told the step night


def told_the_night(farms: list[list[Series]], level: float, pre_nights: int, min_post: int) -> dict[float, float]:
    """Per step size (0.0: keys without a step), the share of keys on which a test that is
    *told* the step night fires within DETECT_WINDOW nights: a one-sided Mann-Whitney U of the
    nightly medians from the step night to t against the `pre_nights` before it, p ≤ `level`,
    for any t from `min_post` nights after the step on. No scan over change points, no
    sequential CUSUM, no drift model: what the nights show at that significance when the
    detector's search is done for it. On keys without a step it is run at the same night,
    which gives its false-positive share."""
    m = farms[0][0].model
    hits: dict[float, list[bool]] = {}
    for farm in farms:
        for s in farm:
            y = np.median(np.log(s.samples), axis=1)
            pre = y[m.step_night - pre_nights:m.step_night]
            fired = any(stats.mannwhitneyu(y[m.step_night:t + 1], pre, alternative="greater").pvalue <= level
                        for t in range(m.step_night + min_post - 1, m.step_night + DETECT_WINDOW))
            hits.setdefault(s.step, []).append(fired)
    return {step: float(np.mean(v)) for step, v in sorted(hits.items())}


# ------------------------------------------------------------------ scoring


@dataclass
class Score:
    false_alarms: int = 0
    clean_nights: int = 0
    detected: dict[float, int] = field(default_factory=lambda: {s: 0 for s in STEPS})
    total: dict[float, int] = field(default_factory=lambda: {s: 0 for s in STEPS})
    delays: dict[float, list[int]] = field(default_factory=lambda: {s: [] for s in STEPS})
    improvement_alarms: int = 0  # alarms the other way on step-free nights (rules that raise them)
    after_alarms: int = 0  # alarms after the one that detected a step: the change was already reported
    after_nights: int = 0

    def add(self, s: Series, alarms: list[int], sampled_every: int = 1, improved: Sequence[int] = ()) -> None:
        """`improved`: the rule's improvement alarms; none is real here, so they are false alarms too."""
        m = s.model
        end = m.step_night if s.step else m.nights
        self.false_alarms += sum(WARMUP <= a < end for a in alarms)
        self.improvement_alarms += sum(WARMUP <= a < end for a in improved)
        self.clean_nights += len(range(WARMUP, end, sampled_every))
        if s.step:
            self.total[s.step] += 1
            after = [a for a in alarms if m.step_night <= a < m.step_night + DETECT_WINDOW]
            if after:
                self.detected[s.step] += 1
                self.delays[s.step].append(after[0] - m.step_night)
                if sampled_every == 1:  # rules that go on judging every night after a detection
                    self.after_alarms += sum(a > after[0] for a in [*alarms, *improved])
                    self.after_nights += m.nights - 1 - after[0]

    @property
    def fa_per_100(self) -> float:
        return 100 * self.false_alarms / max(1, self.clean_nights)

    @property
    def improvements_per_100(self) -> float:
        return 100 * self.improvement_alarms / max(1, self.clean_nights)

    @property
    def either_way_per_100(self) -> float:
        return self.fa_per_100 + self.improvements_per_100

    @property
    def after_per_100(self) -> float:
        return 100 * self.after_alarms / self.after_nights if self.after_nights else float("nan")

    def rate(self, step: float) -> float:
        return self.detected[step] / max(1, self.total[step])

    def delay(self, step: float) -> float:
        return float(np.median(self.delays[step])) if self.delays[step] else float("nan")


def _or_dash(x: float) -> str:
    return "—" if math.isnan(x) else f"{x:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--farms", type=int, default=25, help="farms of 40 keys (20 without a step, 5 per step size)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-ab", action="store_true", help="skip the (slowest) A/B row")
    ap.add_argument("--history", default="{}", help='HistoryConfig overrides as JSON, e.g. \'{"h": 7}\'')
    args = ap.parse_args()
    global HISTORY
    HISTORY = HistoryConfig(**json.loads(args.history))
    model = NoiseModel()
    rng = np.random.default_rng(args.seed)
    farms = [make_farm(i, rng, model) for i in range(args.farms)]
    rules = {k: v for k, v in RULES.items() if not (args.no_ab and k in AB_RULES)}
    scores = {name: Score() for name in rules}
    seconds = dict.fromkeys(rules, 0.0)
    for farm in farms:
        for name, rule in rules.items():
            t0 = time.perf_counter()
            regressions, improvements = rule(farm)
            seconds[name] += time.perf_counter() - t0
            for s, worse, better in zip(farm, regressions, improvements):
                scores[name].add(s, worse, AB_EVERY if name in AB_RULES else 1, better)

    n_keys = len(farms) * 40
    print(f"{args.farms} farms × 40 keys = {n_keys} series of {model.nights} nights (seed {args.seed}); "
          f"step at night {model.step_night}; scored from night {WARMUP}")
    print(f"noise: night-to-night {model.night_sd:.0%}, hot nights {model.hot_p:.0%} × {model.hot_factor}, "
          f"drift ±{model.drift:.1%}/night, run-to-run {model.rep_sd:.0%}, {model.reps} runs/night; "
          f"A/B unshared night noise {model.ab_unshared_sd:.0%}")
    head = f"{'rule':44s} {'FA/100 nights':>13s} " + " ".join(f"{'det ' + format(s, '.0%'):>7s}" for s in STEPS)
    print(head + f" {'chance':>6s} {'delay 8%':>8s} {'delay 15%':>9s} {'after':>6s} {'cpu s':>6s}")
    for name, sc in scores.items():
        chance = 1 - (1 - sc.fa_per_100 / 100) ** DETECT_WINDOW
        print(f"{name:44s} {sc.fa_per_100:13.2f} " + " ".join(f"{sc.rate(s):7.1%}" for s in STEPS)
              + f" {chance:6.0%} {sc.delay(0.08):8.1f} {sc.delay(0.15):9.1f} {_or_dash(sc.after_per_100):>6s}"
              + f" {seconds[name]:6.1f}")
    h = scores[next(iter(rules))]
    anchors = {name: sc for name, sc in scores.items() if name in ANCHORS}
    more = [n for n, a in anchors.items() if h.rate(0.08) <= a.rate(0.08)]
    quieter = [n for n, a in anchors.items() if a.fa_per_100 <= h.fa_per_100]
    dominated = [n for n in anchors if n in more and n in quieter]
    print(f"history config: {HISTORY.model_dump()}")
    print(f"anchors detecting as many 8 % steps: {more or 'none'}; with no more false alarms: {quieter or 'none'}; "
          f"better on both: {dominated or 'none'}")
    lone = min(HISTORY.alpha, HISTORY.q / len(farms[0]))  # what BH and α ask of a lone candidate of a farm
    for level in (lone, 0.005):
        ref = told_the_night(farms, level, HISTORY.window, HISTORY.min_post)
        print(f"told the night — Mann-Whitney of the nights after the step vs the {HISTORY.window} before, "
              f"p ≤ {level:.3g}: " + ", ".join(f"{s:.0%} steps {r:.1%}" for s, r in ref.items() if s)
              + f"; no step {ref[0.0]:.1%}")
    print(f"harness history also raises {h.improvements_per_100:.2f} improvement alarms per 100 step-free "
          f"series-nights (none is real here): {h.either_way_per_100:.2f} alarms in all; "
          f"after a detected step, "
          f"{h.after_per_100:.2f} alarms per 100 nights (either way)")
    sizes = false_alarms_by_farm_size(rng, model, series=20 * len(farms))
    print("harness history's alarms (either way) per 100 series-nights on farms of step-free keys: "
          + ", ".join(f"{n} key{'s' if n > 1 else ''} {sc.either_way_per_100:.2f}" for n, sc in sizes.items()))
    by_night = {model.step_night: h, **history_by_step_night(rng, model, len(farms))}
    print("harness history by step night, 8 % steps found (false alarms per 100 series-nights): "
          + ", ".join(f"night {n} {sc.rate(0.08):.1%} ({sc.fa_per_100:.2f})" for n, sc in sorted(by_night.items())))
    print(f"harness history: detects {h.rate(0.08):.1%} of 8 % steps, {h.fa_per_100:.2f} false alarms per 100 "
          f"series-nights, median delay {h.delay(0.08):.0f} nights")


if __name__ == "__main__":
    main()
