"""Two sets of runs, compared measure by measure (`harness compare`, `harness ab`, the gate).

Each side's runs are grouped by measure key (`harness.analysis.evidence`: the benchmark
key, plus the phase for multi-phase runs). Measures are paired

1. by key, when both sides have it (tonight against last night: the same configurations);
2. else by model, device and phase, when that names one group on each side (a new
   runtime version changes the key, not what is measured);
3. else by phase alone, when that names one group on each side (two models, each with one
   latency or one decode phase: what `harness ab` compares).

A pair whose keys differ lists the key fields that differ (``runtime.version: 2.14 →
2.15``): that difference is what the verdict is about. What is left unpaired is reported,
never silently dropped.

Thresholds: `default` for every measure, overridden per measure by `overrides`, whose
patterns match a measure key, a prefix of it (a benchmark key covers all its phases), or
the measure's label as a shell pattern (``kws01* on rpi5``).
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel

from harness.analysis.evidence import Measure, measure_key, run_measures, sides
from harness.analysis.regression import DEFAULT_ALPHA, DEFAULT_THRESHOLD, PairwiseVerdict, compare, key_seed
from harness.errors import HarnessError
from harness.store.benchmark_key import key_values
from harness.store.record import RunManifest
from harness.store.store import StoredRun


class KeyComparison(BaseModel):
    """One measure's verdict: base runs against new runs."""

    key: str  # the base side's measure key (the new side's when only it has one)
    new_key: str | None = None  # when it differs from `key`
    label: str  # "kws01-int8-tflite on rpi5" (+ " · decode tg128")
    unit: str
    differs: list[str] = []  # key fields that differ between the sides
    base_runs: list[str] = []
    new_runs: list[str] = []
    only: str | None = None  # "base" | "new": no partner on the other side
    verdict: PairwiseVerdict | None = None

    def line(self) -> str:
        """``kws01-int8 on rpi5: +8.3 % [5.1, 11.2], p = 0.002 — regressed (…)``."""
        if self.verdict is None:
            return f"{self.label}: only in {self.only} ({len(self.base_runs or self.new_runs)} run(s))"
        v = self.verdict
        how = f"{v.unit}s {v.n_base} + {v.n_new}" if v.unit != "deterministic" else "deterministic timing"
        return f"{self.label}: {change_text(v)} — {v.verdict} ({how})"


@dataclass
class _Group:
    label: str
    identity: tuple[str, str, str]  # device, model, phase
    manifest: RunManifest  # a representative run, for the key fields
    measures: list[Measure] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)


def change_text(v: PairwiseVerdict) -> str:
    """+8.3 % [5.1, 11.2], p = 0.002 (the change in the measure's own direction)."""
    lo, hi = v.ci95
    p = "" if v.p_value is None else f", p = {_p(v.p_value)}"
    return f"{100 * v.change:+.1f} % [{100 * (lo - 1):.1f}, {100 * (hi - 1):.1f}]{p}"


def _p(p: float) -> str:
    return f"{p:.2g}" if p >= 0.001 else f"{p:.1e}"


def label_of(m: RunManifest, phase: str = "") -> str:
    return f"{m.model.name} on {m.device.id}" + (f" · {phase}" if phase else "")


def threshold_for(key: str, label: str, overrides: Mapping[str, float] | None, default: float) -> float:
    """The effect threshold of one measure: the most specific override that matches it."""
    best: tuple[int, float] | None = None
    for pattern, value in (overrides or {}).items():
        if key == pattern:
            rank = 3
        elif key.startswith(pattern):
            rank = 2
        elif fnmatch.fnmatchcase(label, pattern):
            rank = 1
        else:
            continue
        if best is None or rank > best[0]:
            best = (rank, value)
    return default if best is None else best[1]


def parse_thresholds(items: list[str]) -> dict[str, float]:
    """``PATTERN=0.1`` (or ``=10%``) strings as {pattern: threshold}."""
    out: dict[str, float] = {}
    for item in items:
        pattern, sep, value = item.rpartition("=")
        if not sep or not pattern.strip():
            raise HarnessError(f"threshold override {item!r}: expected KEY=THRESHOLD (e.g. 3fa2c1=0.1 or 'kws01*=10%')")
        out[pattern.strip()] = parse_fraction(value, f"threshold override {item!r}")
    return out


def parse_fraction(text: str, what: str) -> float:
    """0.05 or 5% as a fraction; refused unless ≥ 0 and finite."""
    text = text.strip()
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise HarnessError(f"{what}: {text!r} is not a number (0.05 or 5%)") from None
    if not math.isfinite(value) or value < 0:
        raise HarnessError(f"{what}: {text!r} must be a fraction ≥ 0")
    return value


def compare_runs(
    base: list[StoredRun],
    new: list[StoredRun],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    overrides: Mapping[str, float] | None = None,
    alpha: float = DEFAULT_ALPHA,
    seed: int = 0,
) -> list[KeyComparison]:
    """Every measure of `base` against the same measure of `new`, in the base side's order."""
    b, n = _groups(base), _groups(new)
    pairs: list[tuple[str | None, str | None]] = [(k, k) for k in b if k in n]
    left_b = [k for k in b if k not in n]
    left_n = [k for k in n if k not in b]
    # what else the sides share, most specific first: (device, model, phase), then the phase
    for part in (lambda g: g.identity, lambda g: g.identity[2]):
        for k in list(left_b):
            mine = [j for j in left_b if part(b[j]) == part(b[k])]
            theirs = [j for j in left_n if part(n[j]) == part(b[k])]
            if len(mine) == 1 and len(theirs) == 1 and _same_direction(b[k], n[theirs[0]]):
                pairs.append((k, theirs[0]))
                left_b.remove(k)
                left_n.remove(theirs[0])
    pairs += [(k, None) for k in left_b] + [(None, k) for k in left_n]
    return [_one(b.get(kb) if kb else None, n.get(kn) if kn else None, kb, kn, threshold, overrides, alpha, seed)
            for kb, kn in pairs]


def _groups(runs: list[StoredRun]) -> dict[str, _Group]:
    out: dict[str, _Group] = {}
    for run in runs:
        m = run.manifest
        for measure in run_measures(run):
            key = measure_key(m.benchmark_key, measure.phase)
            g = out.setdefault(key, _Group(label_of(m, measure.phase), (m.device.id, m.model.name, measure.phase), m))
            g.measures.append(measure)
            g.runs.append(m.run_id)
    return out


def _same_direction(a: _Group, b: _Group) -> bool:
    return a.measures[0].higher_is_better == b.measures[0].higher_is_better and a.measures[0].unit == b.measures[0].unit


def _one(gb: _Group | None, gn: _Group | None, kb: str | None, kn: str | None, threshold: float,
         overrides: Mapping[str, float] | None, alpha: float, seed: int) -> KeyComparison:
    g = gb or gn
    assert g is not None
    unit = g.measures[0].unit
    if gb is None or gn is None:
        return KeyComparison(key=kb or kn or "", label=g.label, unit=unit, base_runs=gb.runs if gb else [],
                             new_runs=gn.runs if gn else [], only="base" if gb else "new")
    t = threshold_for(kb or "", gb.label, overrides, threshold)
    if kn != kb:
        t = threshold_for(kn or "", gn.label, overrides, t)
    label = gb.label if gb.label == gn.label else f"{gb.label} → {gn.label}"
    hib = gb.measures[0].higher_is_better
    verdict = compare(sides(gb.measures, "base"), sides(gn.measures, "new"), threshold=t, alpha=alpha,
                      higher_is_better=hib, key=kb or "", seed=key_seed(seed, kb or ""))
    return KeyComparison(key=kb or "", new_key=kn if kn != kb else None, label=label, unit=unit,
                         differs=_differences(gb.manifest, gn.manifest) if kn != kb else [],
                         base_runs=gb.runs, new_runs=gn.runs, verdict=verdict)


def _differences(a: RunManifest, b: RunManifest) -> list[str]:
    va, vb = key_values(a), key_values(b)
    out = []
    for name in va:
        if va[name] != vb[name]:
            out.append(f"{name}: {_short(va[name])} → {_short(vb[name])}")
    if a.model.name != b.model.name and not any(d.startswith("model.") for d in out):
        out.append(f"model: {a.model.name} → {b.model.name}")
    return out


def _short(value) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "…"
