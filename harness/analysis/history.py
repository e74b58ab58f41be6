"""Nightly history per benchmark key: robust CUSUM alarms, change points, effect sizes.

Pure functions over a long table (key, night, value[, degraded]); no I/O (reading a
file is `harness.analysis.series`).

Per key, the series is the night's median of its samples (samples from devices
flagged degraded are left out first). The unit of replication is the night: samples
of one night share its conditions. Nights are processed in order, all keys in
lockstep, so each night's decisions use only what was known that night — the alarms
reported for the past are exactly the ones a nightly gate would have raised.

On y = ln(nightly median), for each key:

1. **Robust CUSUM** (the reference's is k = 0.5, h = 8, z clipped at ±3; here k = 0.3,
   h = 5, ±2). m = median of the current segment's last `window` (30) nights; s = 1.4826 ×
   the median absolute residual of its last `scale_window` (30) nights (a new segment
   borrows the previous one's residuals until it has its own), floored at `scale_floor`;
   z = clip((y − m)/s, ±2); S⁺ = max(0, S⁺ + z − k), S⁻ = max(0, S⁻ − z − k). A key
   whose S⁺ or S⁻ exceeds h is a *candidate*. A smaller k accumulates the 1–2 s steps a
   drift can shrink; a lower clip keeps a run of hot nights from weighing like a step.
   Further changes to the reference, all measured in benchmarks/regression.py:
   - an excursion in progress (S > 0) is not baseline: its nights, up to `freeze`
     (12), stay out of m and s, so a step does not drag the median it is compared
     with (the reference's rolling median absorbed slow-to-confirm 8 % steps);
   - in a segment of at least `trend` (40) nights, m is read off the segment's
     Theil–Sen trend line at tonight: a slow drift then raises no alarm, which the
     frozen baseline would otherwise turn into one. A younger restarted segment
     centres on its median moved along the key's drift: the Theil–Sen slope of pairs
     of nights within one segment, pooled over the last `pooled_span` (80) nights
     (pairs across a change point would count the step as drift).
   Monitoring starts after `min_nights` (15) nights, and `min_center` (10) nights into
   a new segment.
2. **Localisation.** E-divisive (energy distance, α = 1; Matteson & James 2014) picks
   the single best split of the current segment's last `localisation_window` nights
   up to tonight; its first night after the split is the change point. If the split
   points the other way than the alarm, the CUSUM's own estimate (the night after
   the statistic last stood at 0) is used. Own code (numpy, O(n²)): `ruptures` has no
   energy-distance cost, and `apache-otava` pins numpy 2.2 / scipy < 1.17 and brings
   cloud and chat clients.
3. **Confirmation.** A one-sided Mann-Whitney U test of the residuals y − m of the
   nights after the change point against those of the segment's nights before it (at
   most `window`) gives a p per candidate; each residual is against the centre that
   night was judged by, so a drift the centre followed does not weaken (or fake) the
   evidence. The nights after are those after the candidate was raised (at least
   `min_post`), not the ones that raised it: selected for being extreme, they made the
   raw p about 3.5 times too small on the simulator's quiet keys, and the levels below
   could not be spent on detection. A young segment (a change soon after a restart,
   fewer than `min_pre` judged nights before it) compares its log medians before and
   after the change directly instead: without this a step just after a false alarm
   could never be confirmed. Raw log medians carry any drift, so this holds only while
   the change point is fewer than `young_span` (10) nights back: E-divisive on a
   drifting series splits it early, and comparing its first nights with the next thirty
   confirmed the drift. Past `young_span` the change point is placed at least `min_pre`
   judged nights into the segment, so the test has residuals before it: E-divisive,
   drawn by hot nights, split among a segment's unjudged first nights on a quarter of
   the simulator's candidate nights, and such a candidate went untested for as long as
   the split stayed there (up to 48 nights). Non-candidates count p = 1. The p-values of
   the night's family (every key with a result that night) are corrected with
   Benjamini–Hochberg at `q` (0.3). A candidate is confirmed — an *alarm* — when its
   adjusted p ≤ q, its raw p ≤ `alpha` (0.02) for a regression or `alpha_improved`
   (0.002) for an improvement, and its effect is at least `min_effect`. The target is a
   false-alarm rate per series-night (≤ 1 in 100 either way, for a farm of 40 keys and
   for a history of one), not a false-discovery rate: the levels are where
   benchmarks/regression.py counts 0.81, 0.88 and 0.89 per 100 on step-free farms of 40,
   12 and 1 keys (seeds 0–11; at most 0.99), most of it spent on regressions. An
   improvement is no one's emergency, and its false alarm restarts the segment a later
   regression is judged in, so it needs the stronger evidence. An unconfirmed candidate
   keeps its statistic and is tried again the next night with one more night of
   evidence, so a test too small to reach significance yet will later: none can never
   fire.
4. **Restart.** At an alarm the segment restarts at the change point: S⁺ = S⁻ = 0;
   the nights since the change point get residuals against the new segment's first
   centre; m and s come from the nights after the alarm once there are `min_center` of
   them, and until then from the nights since the change point. Those were selected for
   being extreme, so the new level starts slightly biased: after a detected step,
   benchmarks/regression.py counts 0.74 alarms per 100 nights on seed 0 (0.61–0.81 over
   seeds 0–11; the rule before this one, which restarted after the alarm, 0.36). But a
   baseline of the nights after the alarm only takes in a step that comes in its first
   nights — after a false alarm (a run of hot nights, a drift) the step was then never
   seen.

Each change point's effect — nights after vs before it, as a `PairwiseVerdict` of
`harness.analysis.regression.compare` with nights as the replicates: ratio of
medians, bootstrap 95 % CI, verdict against the threshold — is computed with
everything known at the end: the nights from the change point to the next one.
"""

from __future__ import annotations

import math
from functools import lru_cache
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, computed_field

from harness.analysis.regression import PairwiseVerdict, Side, compare

Night = str | int
MAD_TO_SD = 1.4826


class HistoryConfig(BaseModel):
    """The reference's CUSUM (30-night median and noise scale) with the changes
    benchmarks/regression.py supports: a smaller allowance and clip (k = 0.3, h = 5, ±2
    instead of 0.5, 8, ±3), a drift-aware centre, a baseline that an excursion in progress
    does not pull along, segments that restart at the change point, and 15 nights to start."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    window: int = Field(30, ge=3, description="nights of the current segment for its median (and the confirmation)")
    scale_window: int = Field(30, ge=3, description="nights of residuals for the noise scale (1.4826 × MAD)")
    k: float = Field(0.3, ge=0, description="CUSUM allowance, in noise-scale units")
    h: float = Field(5.0, gt=0, description="CUSUM decision threshold")
    clip: float = Field(2.0, gt=0, description="|z| clipped here: one hot night adds at most clip − k")
    freeze: int = Field(12, ge=0, description="at most this many nights of an excursion in progress are kept out "
                                              "of the baseline (0: the baseline follows every night)")
    trend: int = Field(40, ge=0, description="with at least this many nights in the segment, centre on its "
                                             "Theil–Sen trend line instead of its median (0: never)")
    min_nights: int = Field(15, ge=3, description="nights before monitoring starts")
    min_center: int = Field(10, ge=1, description="nights of a new segment before its median is used")
    min_pre: int = Field(5, ge=0, description="fewer judged nights than this before a change point: confirm on "
                                             "the segment's log medians instead of residuals")
    young_span: int = Field(10, ge=1, description="the young-segment rule holds only while the change point is "
                                                 "fewer nights back than this (raw medians carry drift)")
    min_post: int = Field(3, ge=1, description="nights after the candidate was raised before it can be confirmed")
    scale_floor: float = Field(1e-3, gt=0, description="lowest noise scale (log units): deterministic series")
    q: float = Field(0.3, gt=0, lt=1, description="Benjamini–Hochberg level over the night's keys")
    alpha: float = Field(0.02, gt=0, lt=1, description="raw p a regression needs as well (a family of one "
                                                        "key would otherwise confirm at q itself)")
    alpha_improved: float = Field(0.002, gt=0, lt=1, description="raw p an improvement needs (stronger "
                                                                 "evidence: its false alarm restarts the segment)")
    min_effect: float = Field(0.0, ge=0, description="smallest |change| an alarm may report (0.02 = 2 %)")
    pooled_span: int = Field(80, ge=3, description="nights over which a young restarted segment's drift is "
                                                   "estimated (slopes within segments, pooled)")
    localisation_window: int = Field(60, ge=4, description="nights E-divisive looks back over")
    threshold: float = Field(0.05, ge=0, description="effect threshold of each change point's verdict")
    seed: int = 0


class ChangePoint(BaseModel):
    """A confirmed change: the level moved at `night`, the alarm was raised at `alarm_night`."""

    night: Night
    alarm_night: Night
    direction: Literal["regressed", "improved"]
    delay_nights: int = Field(description="nights of data from the change point to the alarm")
    p_value: float = Field(description="confirmation test (one-sided Mann-Whitney U on nights), raw")
    q_value: float = Field(description="p adjusted by Benjamini–Hochberg over the alarm night's keys")
    effect: PairwiseVerdict = Field(description="nights after vs before: ratio of medians, 95 % CI, verdict")


class NightState(BaseModel):
    night: Night
    median: float
    n: int = Field(description="samples that night (after exclusions)")
    excluded: int = Field(0, description="samples left out (degraded device)")
    z: float | None = None
    cusum_up: float = 0.0
    cusum_down: float = 0.0
    segment: int = 0
    candidate: bool = False
    alarm: bool = False


class KeyHistory(BaseModel):
    key: str
    higher_is_better: bool = False
    nights: list[NightState]
    change_points: list[ChangePoint]
    excluded_samples: int = 0

    @computed_field
    @property
    def alarm_nights(self) -> list[Night]:
        return [c.alarm_night for c in self.change_points]


class HistoryResult(BaseModel):
    config: HistoryConfig
    keys: list[KeyHistory]
    excluded_samples: int = 0


def analyse_history(
    table: pd.DataFrame,
    config: HistoryConfig | None = None,
    *,
    higher_is_better: bool | Mapping[str, bool] = False,
    thresholds: Mapping[str, float] | None = None,
) -> HistoryResult:
    """Alarms and change points for every key of a long table.

    `table`: columns ``key`` (str), ``night`` (int or ISO date string, one kind for all
    rows), ``value`` (> 0); optional ``degraded`` (bool: the sample came from a device
    the farm flagged, and is left out). Rows need no order."""
    cfg = config or HistoryConfig()
    nightly, excluded = nightly_medians(table)
    states = {key: _KeyState(key, higher_is_better.get(key, False) if isinstance(higher_is_better, Mapping)
                             else higher_is_better)
              for key in nightly["key"].unique()}
    for night, tonight in nightly.groupby("night", sort=True):
        ps: dict[str, float] = {}
        for row in tonight.itertuples(index=False):
            st = states[row.key]
            st.add(row.night, float(row.median), int(row.n), int(row.excluded), cfg)
            if st.candidate is not None:
                ps[row.key] = st.candidate.p
        if ps:
            _confirm(states, ps, len(tonight), cfg)
    keys = []
    for key, st in states.items():
        threshold = (thresholds or {}).get(key, cfg.threshold)
        keys.append(st.result(cfg, threshold, int(excluded.get(key, 0))))
    return HistoryResult(config=cfg, keys=keys, excluded_samples=int(sum(excluded.values())))


def nightly_medians(table: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """(key, night, median, n, excluded) per key and night, and excluded samples per key."""
    df = table[["key", "night", "value"]].copy()
    df["degraded"] = table["degraded"].astype(bool) if "degraded" in table else False
    excluded = df[df["degraded"]].groupby("key").size().to_dict()
    ex_night = df[df["degraded"]].groupby(["key", "night"]).size().rename("excluded")
    kept = df[~df["degraded"]]
    out = kept.groupby(["key", "night"])["value"].agg(median="median", n="size")
    out = out.join(ex_night, how="left").fillna({"excluded": 0}).reset_index()
    return out, excluded


def energy_split(y: np.ndarray, min_size: int = 2) -> tuple[int, float]:
    """E-divisive's best single split of `y` (energy distance, α = 1): (τ, statistic).

    τ is the size of the left part: the change is between y[τ-1] and y[τ]. O(n²) with
    2-D prefix sums of |yᵢ − yⱼ|. Needs len(y) ≥ 2·min_size."""
    y = np.asarray(y, dtype=float)
    n = y.size
    if n < 2 * min_size:
        raise ValueError(f"energy_split needs at least {2 * min_size} values (got {n})")
    d = np.abs(y[:, None] - y[None, :])
    p = np.zeros((n + 1, n + 1))
    p[1:, 1:] = d.cumsum(0).cumsum(1)
    tau = np.arange(min_size, n - min_size + 1)
    left = p[tau, tau]
    right = p[n, n] - 2 * p[tau, n] + p[tau, tau]  # d is symmetric: p[tau, n] == p[n, tau]
    between = p[tau, n] - p[tau, tau]
    a, b = tau.astype(float), (n - tau).astype(float)
    stat = a * b / n * (2 * between / (a * b) - left / (a * (a - 1)) - right / (b * (b - 1)))
    best = int(np.argmax(stat))
    return int(tau[best]), float(stat[best])


# --------------------------------------------------------------------------- internals


@dataclass
class _Candidate:
    cp: int  # index of the first night of the new level
    up: bool
    p: float
    effect: float  # log ratio post/pre
    tested: bool = True  # False: too few nights on a side yet (p = 1, tried again tomorrow)


@dataclass
class _KeyState:
    key: str
    higher_is_better: bool
    nights: list = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    resid: list[float | None] = field(default_factory=list)  # y − the centre it was judged against
    states: list[NightState] = field(default_factory=list)
    seg_start: int = 0  # first night of the current level (the change point that started the segment)
    after_alarm: int = 0  # first night after the alarm that started the segment
    unjudged: bool = False  # a restarted segment whose nights have no residual against its own centre yet
    judged_from: int = -1  # first night of the current segment with a residual (judged against its centre)
    cand_since: int = -1  # first night of the candidate in progress (-1: none)
    segment: int = 0
    prev_resid: np.ndarray = field(default_factory=lambda: np.empty(0))
    s_up: float = 0.0
    s_down: float = 0.0
    zero_up: int = 0  # last index where S⁺ stood at 0 (CUSUM's own change estimate)
    zero_down: int = 0
    candidate: _Candidate | None = None
    alarms: list[tuple[_Candidate, int, float]] = field(default_factory=list)  # (candidate, alarm index, q)

    def add(self, night: Night, median: float, n: int, excluded: int, cfg: HistoryConfig) -> None:
        i = len(self.y)
        self.nights.append(night)
        self.y.append(math.log(median))
        self.resid.append(None)
        state = NightState(night=night, median=median, n=n, excluded=excluded, segment=self.segment)
        self.states.append(state)
        self.candidate = None
        # an excursion in progress is not the baseline: its nights stay out of m and s
        end = min(i, (self.zero_up + 1) if self.s_up > 0 else i, (self.zero_down + 1) if self.s_down > 0 else i)
        end = max(end, i - cfg.freeze)
        # a restarted segment's baseline: the nights after its alarm once there are enough of
        # them (the nights that raised it were selected for being extreme), until then the
        # nights from its change point, so that a step in its first nights is still seen
        first = self.after_alarm if end - self.after_alarm >= cfg.min_center else self.seg_start
        b0 = max(first, end - cfg.window)
        needed = cfg.min_nights if self.segment == 0 else cfg.min_center
        if end - b0 < needed:
            self.zero_up = self.zero_down = i
            return
        lo = max(first, end - cfg.scale_window)
        own_trend = bool(cfg.trend) and end - self.seg_start >= cfg.trend
        # a young restarted segment has no trend line of its own yet: the key's drift is
        # the slope within its segments, pooled over the last `pooled_span` nights
        slope = None if own_trend else self._pooled_slope(end, cfg)

        def below(a: int, b: int, level: float = 0.0) -> np.ndarray:
            """Nights a..b−1 less the line of the key's drift through `level` at tonight."""
            y = np.array(self.y[a:b]) - level
            return y if slope is None else y - slope * np.arange(a - i, b - i)

        m = _median(below(b0, end).tolist())
        own = below(lo, end, m)
        if self.unjudged:
            # the segment's first centre: its nights so far, judged against the old one, get
            # residuals against it, so that a change among them is tested against its own level
            self.resid[self.seg_start:i] = below(self.seg_start, i, m).tolist()
            self.unjudged, self.judged_from = False, self.seg_start
        if own_trend:
            # a slow drift is not a step: centre on the robust trend line of the segment's
            # last `trend` nights, read at tonight
            t0 = min(end - cfg.trend, lo)
            idx = np.arange(t0 - i, end - i, dtype=float)  # tonight at 0
            dev = below(t0, end, m)  # no pooled slope here: the segment has its own
            trend = _theil_sen(idx, dev)
            centre = _median((dev - trend * idx).tolist())
            own = own - centre - trend * idx[-own.size:]
            m += centre
        resid = np.abs(np.concatenate([self.prev_resid, own])[-cfg.scale_window:])
        s = max(MAD_TO_SD * _median(resid.tolist()), cfg.scale_floor)
        self.resid[i] = self.y[i] - m
        if self.judged_from < self.seg_start:
            self.judged_from = i
        z = max(-cfg.clip, min(cfg.clip, self.resid[i] / s))
        self.s_up = max(0.0, self.s_up + z - cfg.k)
        self.s_down = max(0.0, self.s_down - z - cfg.k)
        if self.s_up == 0:
            self.zero_up = i
        if self.s_down == 0:
            self.zero_down = i
        state.z, state.cusum_up, state.cusum_down = z, self.s_up, self.s_down
        if max(self.s_up, self.s_down) <= cfg.h:
            self.cand_since = -1
        else:
            if self.cand_since < 0:
                self.cand_since = i
            self.candidate = self._localise(i, self.s_up >= self.s_down, cfg)
            state.candidate = True

    def _pooled_slope(self, end: int, cfg: HistoryConfig) -> float | None:
        """Theil–Sen slope of the nights before `end`, from pairs within one segment only (a
        step between segments is not drift), over the last `pooled_span` nights; None with
        fewer than `trend` of them."""
        t0 = max(0, end - cfg.pooled_span)
        if not cfg.trend or end - t0 < cfg.trend:
            return None
        cps = np.array([c.cp for c, _, _ in self.alarms], dtype=int)
        nights = np.arange(t0, end)
        return _theil_sen(nights.astype(float), np.array(self.y[t0:end]),
                          within=np.searchsorted(cps, nights, side="right"))

    def _localise(self, i: int, up: bool, cfg: HistoryConfig) -> _Candidate:
        """Where the level moved (E-divisive, else the CUSUM's estimate), and the evidence for it."""
        start = max(self.seg_start, i + 1 - cfg.localisation_window)
        y = np.array(self.y[start:i + 1])
        cp = (self.zero_up if up else self.zero_down) + 1
        if y.size >= 4:
            tau, _ = energy_split(y)
            moved_up = np.median(y[tau:]) > np.median(y[:tau])
            if moved_up == up:
                cp = start + tau
        cp = min(max(cp, self.seg_start + 1), i)
        if i - cp >= cfg.young_span:
            # past the young-segment rule the test compares residuals: leave it `min_pre`
            # judged nights before the change point. E-divisive can split among a segment's
            # first, never judged nights (hot nights there draw it), and a candidate placed
            # there had nothing to be compared with: untested (p = 1) night after night
            cp = min(max(cp, self.judged_from + cfg.min_pre), i)
        lo = max(self.seg_start, cp - cfg.window)
        # the evidence after the change is the nights after the candidate was raised: the
        # nights that raised it were selected for being extreme, and testing them again
        # made the raw p about 3.5 times too small on the simulator's quiet keys
        fresh = max(cp, self.cand_since + 1)
        # each night's residual against the centre it was judged by that night: the drift
        # the centre followed is out of the comparison, the step is not
        pre = np.array([r for r in self.resid[lo:cp] if r is not None])
        post = np.array([r for r in self.resid[fresh:i + 1] if r is not None])
        if pre.size < cfg.min_pre and i - cp < cfg.young_span:
            # a young segment (a change soon after a restart): too few of its nights were
            # judged against its own centre. Compare its log medians before and after the
            # change directly (over so few nights a drift is far below the noise)
            pre = np.array(self.y[lo:cp])
            post = np.array(self.y[fresh:i + 1])
        if pre.size < 2 or post.size < cfg.min_post:  # not enough yet: tried again tomorrow
            return _Candidate(cp, up, 1.0, 0.0, tested=False)
        effect = float(np.median(post) - np.median(pre))
        from scipy.stats import mannwhitneyu

        p = float(mannwhitneyu(post, pre, alternative="greater" if up else "less").pvalue)
        return _Candidate(cp, up, p, effect)

    def restart(self, q: float, cfg: HistoryConfig) -> None:
        c = self.candidate
        assert c is not None
        i = len(self.y) - 1
        self.alarms.append((c, i, q))
        self.states[-1].alarm = True
        old = np.array(self.y[self.seg_start:c.cp])
        self.prev_resid = (old - np.median(old))[-cfg.scale_window:]
        self.seg_start, self.after_alarm, self.segment = c.cp, i + 1, self.segment + 1
        self.unjudged, self.cand_since = True, -1
        for st in self.states[c.cp:]:
            st.segment = self.segment
        self.s_up = self.s_down = 0.0
        self.zero_up = self.zero_down = i
        self.candidate = None

    def worse(self, c: _Candidate) -> bool:
        """The candidate's move is a regression (up on a latency, down on a rate)."""
        return c.up != self.higher_is_better

    def result(self, cfg: HistoryConfig, threshold: float, excluded: int) -> KeyHistory:
        cps = []
        bounds = [c.cp for c, _, _ in self.alarms] + [len(self.y)]
        starts = [0] + bounds[:-1]
        for j, (c, alarm, q) in enumerate(self.alarms):
            pre = np.exp(self.y[max(starts[j], c.cp - cfg.window):c.cp])
            post = np.exp(self.y[c.cp:bounds[j + 1]])
            effect = compare(Side.samples([[v] for v in pre]), Side.samples([[v] for v in post]),
                             threshold=threshold, higher_is_better=self.higher_is_better, key=self.key,
                             seed=cfg.seed + j)
            cps.append(ChangePoint(
                night=self.nights[c.cp], alarm_night=self.nights[alarm], delay_nights=alarm - c.cp,
                direction="regressed" if self.worse(c) else "improved", p_value=c.p, q_value=q, effect=effect,
            ))
        return KeyHistory(key=self.key, higher_is_better=self.higher_is_better, nights=self.states,
                          change_points=cps, excluded_samples=excluded)


def _confirm(states: dict[str, _KeyState], ps: dict[str, float], family: int, cfg: HistoryConfig) -> None:
    """Benjamini–Hochberg over the night's keys (non-candidates count p = 1); restart the confirmed."""
    keys = list(ps)
    raw = np.array([ps[k] for k in keys] + [1.0] * (family - len(keys)))
    adjusted = _bh(raw)[: len(keys)]
    floor = math.log1p(cfg.min_effect)
    for key, q in zip(keys, adjusted):
        st = states[key]
        alpha = cfg.alpha if st.worse(st.candidate) else cfg.alpha_improved
        if q <= cfg.q and ps[key] <= alpha and abs(st.candidate.effect) >= floor:
            st.restart(float(q), cfg)


def _median(values: list[float]) -> float:
    """Median of a short list (a sort beats numpy's per-call overhead at these sizes)."""
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


@lru_cache(maxsize=64)
def _pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(n, 1)


def _theil_sen(x: np.ndarray, y: np.ndarray, within: np.ndarray | None = None) -> float:
    """Median of pairwise slopes: a trend that hot nights do not move. `within`: a group
    label per point (a segment); only pairs inside one group count."""
    i, j = _pairs(x.size)
    if within is not None:
        same = within[i] == within[j]
        i, j = i[same], j[same]
    return float(np.median((y[j] - y[i]) / (x[j] - x[i])))


def _bh(p: np.ndarray) -> np.ndarray:
    from scipy.stats import false_discovery_control

    return false_discovery_control(p, method="bh")
