"""The CI gate: tonight's runs against each key's history and its pinned baseline.

Two judges, both on the results store (only ``ok`` runs; runs the farm flagged degraded
are left out of both):

- **History** (`harness.analysis.history`): every measure's series of nightly medians up to
  tonight. A regression alarm raised on a night from ``since`` (default: tonight) to
  tonight is a confirmed regression: the CUSUM crossed its threshold, E-divisive placed
  the change, and the nights after it differ from the nights before at the
  Benjamini–Hochberg level over the night's keys. Its line gives the change (nights after
  against before, with a bootstrap 95 % CI), the confirmation p and the night the level
  moved, with the build of that night's first run. `min_effect` keeps smaller confirmed
  changes out of the exit code (reported, not failing).
- **Pinned baseline** (`harness.analysis.baselines`): tonight's runs of a pinned key
  against its pinned runs, `harness.analysis.comparison.compare_runs` with the key's
  threshold. The pinned runs come from another night, and runs of one night share that
  night's conditions (a hot night is 25 % slower for every run of it), which no number of
  runs can average away: so ``regressed`` fails the gate only when the key also regressed
  against the baseline on its previous night with runs (`baseline_nights`, default 2;
  FAI-PEP asks the same of its last two runs); tonight alone is reported as a watch.
  ``unknown`` asks to measure more (a farm with ``--gate`` runs the key's jobs again, at
  most twice, and asks again: the α is spent over those looks,
  `harness.analysis.regression.look_alpha`, and only a verdict leaning towards a change,
  p ≤ 0.2, is measured again).

Exit code: 0 clean, 1 a regression confirmed.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, computed_field

from harness.analysis import baselines
from harness.analysis.comparison import KeyComparison, change_text, compare_runs, threshold_for
from harness.analysis.history import ChangePoint, HistoryConfig, KeyHistory, analyse_history
from harness.analysis.regression import DEFAULT_THRESHOLD, RERUN_P, look_alpha
from harness.analysis.series import StoreSeries, night_of, store_series
from harness.errors import HarnessError
from harness.store.store import RunStore, StoredRun

EXIT_CLEAN, EXIT_REGRESSION = 0, 1


class Finding(BaseModel):
    key: str  # measure key
    label: str
    source: Literal["history", "baseline"]
    verdict: Literal["regressed", "improved", "same", "unknown"]
    fails: bool  # counts for the exit code
    change: float | None = None  # signed relative change (+0.083)
    ci95: tuple[float, float] | None = None  # of the ratio new/old
    p_value: float | None = None
    q_value: float | None = None
    since: str | None = None  # history: the night the level moved; baseline: the pinned runs' night
    build: str | None = None
    runs: list[str] = []  # tonight's runs of the key
    baseline_runs: list[str] = []
    more_runs: int | None = None
    line: str


class GateReport(BaseModel):
    night: str
    since: str
    nights: int
    keys_checked: list[str]
    labels: dict[str, str]
    findings: list[Finding]
    degraded_left_out: int
    look: int = 1
    looks: int = 1

    @computed_field
    @property
    def exit_code(self) -> int:
        return EXIT_REGRESSION if any(f.fails for f in self.findings) else EXIT_CLEAN

    @property
    def regressions(self) -> list[Finding]:
        return [f for f in self.findings if f.fails]

    @property
    def measure_more(self) -> list[Finding]:
        """Unknown against the baseline, leaning towards a change, and a look left."""
        return [f for f in self.findings if f.source == "baseline" and f.verdict == "unknown" and self.look < self.looks
                and (f.p_value is None or f.p_value <= RERUN_P)]

    def markdown(self) -> str:
        head = "regression confirmed (exit 1)" if self.exit_code else "clean (exit 0)"
        lines = [f"## harness gate: {self.night} — {head}", "",
                 f"{len(self.keys_checked)} key(s) checked against {self.nights} night(s) of history"
                 + (f" (alarms since {self.since})" if self.since != self.night else "")
                 + (f"; {self.degraded_left_out} run(s) from degraded devices left out" if self.degraded_left_out else "")
                 + ".", ""]
        for title, items in (("Regressions", self.regressions),
                             ("Not settled (unknown: measure more)", [f for f in self.findings if f.verdict == "unknown"]),
                             ("Improvements and small changes", [f for f in self.findings if not f.fails
                                                                 and f.verdict in ("improved", "regressed")])):
            if items:
                lines += [f"### {title}", ""] + [f"- {_md(f.line)}" for f in items] + [""]
        return "\n".join(lines).rstrip() + "\n"

    def junit(self) -> bytes:
        """One testcase per key checked (and per finding on a key not run tonight); a
        confirmed regression is its ``<failure>``."""
        root = ET.Element("testsuites", name="harness gate")
        stamp = dt.datetime.now().replace(microsecond=0).isoformat()
        failing = {f.key: f for f in self.regressions}
        keys = list(dict.fromkeys([*self.keys_checked, *(f.key for f in self.findings)]))
        suite = ET.SubElement(root, "testsuite", name="regression-gate", id="0", package="harness.gate",
                              timestamp=stamp, hostname="harness", time="0", tests=str(len(keys)),
                              failures=str(len(failing)), errors="0", skipped="0")
        props = ET.SubElement(suite, "properties")
        for name, value in (("night", self.night), ("since", self.since), ("nights", str(self.nights))):
            ET.SubElement(props, "property", name=name, value=value)
        for key in keys:
            case = ET.SubElement(suite, "testcase", name=self.labels.get(key, key), classname=f"gate.{key}", time="0")
            notes = [f.line for f in self.findings if f.key == key]
            if key in failing:
                ET.SubElement(case, "failure", message=failing[key].line, type="regression").text = "\n".join(notes)
            if notes:
                ET.SubElement(case, "system-out").text = "\n".join(notes)
        root.set("tests", str(len(keys)))
        root.set("failures", str(len(failing)))
        root.set("errors", "0")
        root.set("skipped", "0")
        ET.indent(root)
        return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def run_gate(
    store: RunStore,
    *,
    night: str | None = None,
    since: str | None = None,
    tonight_runs: list[str] | None = None,
    config: HistoryConfig | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    overrides: Mapping[str, float] | None = None,
    look: int = 1,
    looks: int = 1,
    baseline_nights: int = 2,
) -> GateReport:
    """Judge tonight. `night`: which night is tonight (default: the latest in the store);
    `tonight_runs`: exactly these runs are tonight's (a farm passes its own), their night
    being tonight; `since`: alarms from this night on count (default: tonight only);
    `look`/`looks`: the farm's measure-more round (α spent over the rounds);
    `baseline_nights`: consecutive nights a key must regress against its pinned baseline."""
    manifests = store.manifests()
    series = store_series(manifests)
    if not series.nights:
        raise HarnessError(f"{store.root}: no ok runs to gate")
    by_id = {m.run_id: m for m in manifests}
    if tonight_runs is not None:
        missing = [r for r in tonight_runs if r not in by_id]
        if missing:
            raise HarnessError(f"run {missing[0]} is not in {store.root}")
        named = {night_of(by_id[r]) for r in tonight_runs}
        night = night or (max(named, key=series.night_number) if named & set(series.nights) else None)
    tonight = night if night is not None else series.nights[-1]
    t = series.night_number(tonight)
    s = series.night_number(since) if since is not None else t
    if s > t:
        raise HarnessError(f"--since {since} comes after tonight ({tonight})")
    table = series.table[series.table.night <= t]
    cfg = config or HistoryConfig()
    thresholds = {k: threshold_for(k, series.labels[k], overrides, threshold) for k in series.labels}
    history = analyse_history(table, cfg, higher_is_better=series.higher_is_better, thresholds=thresholds)
    ids = set(tonight_runs) if tonight_runs is not None else None
    now = table[(table.night == t) & ~table.degraded]
    if ids is not None:
        now = now[now.run_id.isin(ids)]
    checked = list(dict.fromkeys(now.key))
    findings: list[Finding] = []
    for kh in history.keys:
        for cp in kh.change_points:
            if s <= int(cp.alarm_night) <= t:
                findings.append(_history_finding(series, kh, cp, cfg, list(now[now.key == kh.key].run_id)))
    findings += _baseline_findings(store, series, now, t, by_id, threshold, overrides, look, looks, baseline_nights)
    degraded = int(series.table[(series.table.night == t) & series.table.degraded].run_id.nunique())
    return GateReport(night=tonight, since=series.night_name(s), nights=t + 1, keys_checked=checked,
                      labels={k: series.labels[k] for k in set(checked) | {f.key for f in findings}},
                      findings=findings, degraded_left_out=degraded, look=look, looks=looks)


def _history_finding(series: StoreSeries, kh: KeyHistory, cp: ChangePoint, cfg: HistoryConfig,
                     runs: list[str]) -> Finding:
    e = cp.effect
    since = series.night_name(int(cp.night))
    rows = series.table[(series.table.key == kh.key) & (series.table.night == int(cp.night))]
    rows = rows.sort_values("started_at")
    build = next((b for b in rows.build if b), None)
    worse = cp.direction == "regressed"
    big_enough = abs(e.ratio - 1.0) >= cfg.min_effect
    line = (f"{series.labels[kh.key]}: {100 * e.change:+.1f} % [{100 * (e.ci95[0] - 1):.1f}, "
            f"{100 * (e.ci95[1] - 1):.1f}], p = {_p(cp.p_value)}, since {since}"
            + (f" (build {build})" if build else "")
            + ("" if worse else " — improved")
            + ("" if big_enough else f" — below the gate's {cfg.min_effect:.0%} minimum"))
    return Finding(key=kh.key, label=series.labels[kh.key], source="history", verdict=cp.direction,
                   fails=worse and big_enough, change=e.change, ci95=e.ci95, p_value=cp.p_value, q_value=cp.q_value,
                   since=since, build=build, runs=runs, line=line)


def _baseline_findings(store: RunStore, series: StoreSeries, now, t: int, by_id, threshold: float,
                       overrides: Mapping[str, float] | None, look: int, looks: int, nights: int) -> list[Finding]:
    pins = baselines.load(store)
    out: list[Finding] = []
    for bkey, run_ids in _runs_by_benchmark_key(series, now).items():
        if bkey not in pins or not (base := baselines.pinned_runs(store, pins[bkey])):
            continue
        tonight = compare_runs(base, _stored(store, by_id, run_ids), threshold=threshold, overrides=overrides,
                               alpha=look_alpha(look, looks))
        earlier = _earlier_verdicts(store, series, by_id, bkey, t, base, threshold, overrides, nights - 1)
        for c in tonight:
            if c.verdict is not None:
                out.append(_baseline_finding(c, base, pins[bkey].set_at, series.night_name(t), earlier))
    return out


def _runs_by_benchmark_key(series: StoreSeries, rows) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for run_id, key in zip(rows.run_id, rows.key):
        runs = out.setdefault(series.benchmark_keys[key], [])
        if run_id not in runs:
            runs.append(run_id)
    return out


def _stored(store: RunStore, by_id, run_ids: list[str]) -> list[StoredRun]:
    return [StoredRun(by_id[r], store.root / r) for r in run_ids]


def _earlier_verdicts(store, series: StoreSeries, by_id, bkey: str, t: int, base: list[StoredRun], threshold: float,
                      overrides, count: int) -> list[tuple[str, dict[str, str]]]:
    """The key's `count` previous nights against the baseline: [(night, {label: verdict})], newest first."""
    table = series.table
    mine = table[(table.key.map(series.benchmark_keys) == bkey) & (table.night < t) & ~table.degraded]
    out = []
    for night in sorted(set(mine.night), reverse=True)[:max(0, count)]:
        runs = list(dict.fromkeys(mine[mine.night == night].run_id))
        verdicts = {c.label: c.verdict.verdict for c in compare_runs(base, _stored(store, by_id, runs),
                                                                     threshold=threshold, overrides=overrides)
                    if c.verdict is not None}
        out.append((series.night_name(int(night)), verdicts))
    return out


def _baseline_finding(c: KeyComparison, base: list[StoredRun], pinned_at: dt.datetime, tonight: str,
                      earlier: list[tuple[str, dict[str, str]]]) -> Finding:
    """Regressed against a baseline of another night fails only when the nights before
    (`earlier`: as many as the gate asks) regressed too: one hot night is not a regression."""
    v = c.verdict
    assert v is not None
    first = min(base, key=lambda r: r.manifest.started_at).manifest
    since = night_of(first)
    build = first.metadata.get("build")
    key = c.new_key or c.key
    persisted = all(verdicts.get(c.label) == "regressed" for _, verdicts in earlier)
    fails = v.verdict == "regressed" and persisted
    more = f", measure more ({v.more_runs} run(s) a side)" if v.verdict == "unknown" and v.more_runs else ""
    nights = [tonight] + [n for n, _ in earlier]
    if v.verdict == "regressed" and earlier:
        more += (f" on {len(nights)} nights ({', '.join(reversed(nights))})" if persisted
                 else f" tonight only (not on {earlier[0][0]}): watch, not failing")
    line = (f"{c.label}: {change_text(v)}, against the baseline pinned {pinned_at:%Y-%m-%d} "
            f"({len(c.base_runs)} run(s) of {since}" + (f", build {build}" if build else "") + f"): {v.verdict}{more}")
    return Finding(key=key, label=c.label, source="baseline", verdict=v.verdict, fails=fails,
                   change=v.change, ci95=v.ci95, p_value=v.p_value, since=since, build=build, runs=c.new_runs,
                   baseline_runs=c.base_runs, more_runs=v.more_runs, line=line)


def _p(p: float) -> str:
    return f"{p:.2g}" if p >= 0.001 else f"{p:.1e}"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")

