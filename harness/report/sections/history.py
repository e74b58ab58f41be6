"""History: per measure, the trend of nightly medians (with a 95 % band, change points and
alarms marked, each point linked to its run), and the latest night against a week before.

Nights, measures and alarms are the gate's (`harness.analysis.series.store_series`,
`harness.analysis.history.analyse_history`): a night is a run's ``nightly`` tag, else its
start date; only ok runs count; runs the farm flagged degraded are left out and counted.
Shown when at least one measure has two nights or more.
"""

from __future__ import annotations

import datetime as dt

from harness.analysis.history import analyse_history
from harness.analysis.series import StoreSeries, store_series
from harness.report.context import ReportContext
from harness.report.page import Cell, Markup, run_link, table, tag
from harness.report.sections.history_figure import CLICK_TO_RUN, KeyTrend, Mark, NightPoint, night_band, trend_figure

#: at most this many trend figures (the most recently measured measures first)
MAX_FIGURES = 200
WEEK = dt.timedelta(days=7)


def render(ctx: ReportContext) -> list[Markup]:
    manifests = {v.m.run_id: v.m for v in ctx.runs}
    series = store_series(manifests.values())
    table_ = series.table
    counts = table_[~table_.degraded].groupby("key").night.nunique() if len(table_) else None
    keys = [k for k in series.labels if counts is not None and counts.get(k, 0) >= 2]
    if not keys:
        return [tag("p", "No nightly history yet: a measure needs runs on two nights or more (a night is the run's "
                         "nightly tag, else its date).", class_="muted")]
    history = analyse_history(table_[table_.key.isin(keys)], higher_is_better=series.higher_is_better)
    by_key = {kh.key: kh for kh in history.keys}
    trends = [_trend(series, by_key[k], manifests) for k in keys]
    out: list[Markup] = [
        tag("p", f"{len(keys)} measure(s) over {len(series.nights)} night(s), latest {series.nights[-1]}; "
                 f"{history.excluded_samples} run(s) from degraded devices left out. Alarms: robust CUSUM on the "
                 "log of the nightly medians, change points by E-divisive, confirmed at the Benjamini–Hochberg "
                 "level over each night's measures (harness gate). Click a point to open its run.", class_="muted"),
        _latest_table(series, by_key, keys),
    ]
    latest = sorted(trends, key=lambda t: series.nights.index(t.points[-1].night), reverse=True)[:MAX_FIGURES]
    for t in sorted(latest, key=lambda t: t.label):
        out.append(tag("div", ctx.figure(trend_figure(t), "history", t.key, post_script=CLICK_TO_RUN),
                       class_="history-figure"))
    if len(trends) > MAX_FIGURES:
        out.append(tag("p", f"{len(trends) - MAX_FIGURES} older measure(s) not drawn.", class_="muted"))
    return out


def _trend(series: StoreSeries, kh, manifests) -> KeyTrend:
    rows = series.table[(series.table.key == kh.key) & ~series.table.degraded]
    points = []
    for state in kh.nights:
        night = int(state.night)
        here = rows[rows.night == night]
        values = list(here.value)
        near = here.iloc[(here.value - state.median).abs().argsort().iloc[0]]
        own = None
        m = manifests.get(near.run_id)
        if len(values) == 1 and m is not None and m.summary.latency is not None and series.units[kh.key] == "s":
            own = tuple(m.summary.latency.ci95_s)
        lo, hi = night_band(values, own, seed=night)
        points.append(NightPoint(series.night_name(night), state.median, lo, hi, list(here.run_id), near.run_id,
                                 state.excluded))
    marks = []
    for cp in kh.change_points:
        e = cp.effect
        worse = cp.direction == "regressed"
        text = (f"{cp.direction}: {100 * e.change:+.1f} % [{100 * (e.ci95[0] - 1):.1f}, {100 * (e.ci95[1] - 1):.1f}] "
                f"since {series.night_name(int(cp.night))}, p = {cp.p_value:.2g} (q {cp.q_value:.2g}); "
                f"verdict {e.verdict}")
        marks.append(Mark(series.night_name(int(cp.night)), "change_point", text, worse))
        marks.append(Mark(series.night_name(int(cp.alarm_night)), "alarm", "alarm raised: " + text, worse))
    return KeyTrend(kh.key, series.labels[kh.key], series.units[kh.key], points, marks)


def _night_dates(series: StoreSeries) -> dict[int, dt.date]:
    first = series.table.groupby("night").started_at.min()
    return {int(n): ts.date() for n, ts in first.items()}


def _latest_table(series: StoreSeries, by_key, keys: list[str]) -> Markup:
    dates = _night_dates(series)
    rows = []
    for key in keys:
        kh = by_key[key]
        last = kh.nights[-1]
        n_last = int(last.night)
        want = dates[n_last] - WEEK
        before = [s for s in kh.nights if dates[int(s.night)] <= want]
        ago = before[-1] if before else None
        delta = (last.median / ago.median - 1.0) if ago is not None else None
        if kh.higher_is_better and delta is not None:
            worse = delta < 0
        else:
            worse = delta is not None and delta > 0
        k, unit = (1e3, "ms") if series.units[key] == "s" else (1.0, series.units[key])
        here = series.table[(series.table.key == key) & (series.table.night == n_last) & ~series.table.degraded]
        link = here.iloc[(here.value - last.median).abs().argsort().iloc[0]].run_id
        recent = [c for c in kh.change_points if int(c.alarm_night) >= int(kh.nights[max(0, len(kh.nights) - 8)].night)]
        status = "; ".join(f"{c.direction} since {series.night_name(int(c.night))}" for c in recent) or (
            "candidate (not confirmed)" if last.candidate else "–")
        device, model, phase = series.identity[key]
        rows.append([
            device, model + (f" · {phase}" if phase else ""), series.night_name(n_last),
            Cell(f"{last.median * k:.4g} {unit}", last.median),
            series.night_name(int(ago.night)) if ago is not None else None,
            Cell(f"{ago.median * k:.4g} {unit}" if ago is not None else "–", ago.median if ago is not None else None),
            Cell(f"{100 * delta:+.1f} %" if delta is not None else "–", delta,
                 class_=("error" if worse and abs(delta) >= 0.05 else None) if delta is not None else None),
            status, len(kh.nights), run_link(link),
        ])
    return table(["device", "model", "latest night", "median", "a week before", "median then", "Δ",
                  "history", "nights", "run"], rows, caption="Latest night against a week before",
                 id="history-latest")

