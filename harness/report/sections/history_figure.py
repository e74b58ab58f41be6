"""One measure's nightly history as a plotly figure: medians, their 95 % band, change points
and alarms, each point a link to the run it came from (a click opens the run's provenance)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape

import numpy as np
import plotly.graph_objects as go

from harness.report.figures import _AXIS, _LAYOUT

#: runs on a night whose median band is bootstrapped; one run: its own CI of the median
N_BOOT = 1000

# A click on a point whose customdata is a run id opens that run's provenance (the
# dashboard's `run-<id>` details element). {plot_id} is filled in by plotly.
CLICK_TO_RUN = """
var gd = document.getElementById('{plot_id}');
gd.on('plotly_click', function (e) {
  var p = e && e.points && e.points[0];
  var id = p && p.customdata;
  if (typeof id !== 'string' || !id) return;
  var el = document.getElementById('run-' + id);
  if (el) { el.open = true; }
  window.location.hash = 'run-' + id;
});
"""


@dataclass
class NightPoint:
    night: str
    median: float
    low: float  # NaN: no band
    high: float
    runs: list[str]
    link: str  # the run whose value is nearest the night's median
    degraded: int = 0


@dataclass
class Mark:
    night: str
    kind: str  # change_point | alarm
    text: str
    worse: bool


@dataclass
class KeyTrend:
    key: str
    label: str
    unit: str
    points: list[NightPoint]
    marks: list[Mark] = field(default_factory=list)


def night_band(values: list[float], own_ci: tuple[float, float] | None, seed: int = 0) -> tuple[float, float]:
    """95 % band of a night's median: bootstrap of its runs' values; one run: its own CI (or none)."""
    if len(values) == 1:
        if own_ci and all(math.isfinite(x) for x in own_ci):
            return own_ci
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    v = np.asarray(values, dtype=float)
    boot = np.median(v[rng.integers(0, v.size, (N_BOOT, v.size))], axis=1)
    return float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))


def _scale(unit: str) -> tuple[float, str]:
    return (1e3, "ms") if unit == "s" else (1.0, unit)


def trend_figure(t: KeyTrend) -> go.Figure:
    k, shown = _scale(t.unit)
    x = [p.night for p in t.points]
    med = [p.median * k for p in t.points]
    lo = [p.low * k if math.isfinite(p.low) else None for p in t.points]
    hi = [p.high * k if math.isfinite(p.high) else None for p in t.points]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=hi, mode="lines", line=dict(width=0), hoverinfo="skip", showlegend=False,
                             connectgaps=False, meta={"role": "band_high", "key": t.key}))
    fig.add_trace(go.Scatter(x=x, y=lo, mode="lines", line=dict(width=0), fill="tonexty",
                             fillcolor="rgba(31,119,180,0.18)", hoverinfo="skip", name="95 % band",
                             connectgaps=False, meta={"role": "band_low", "key": t.key}))
    hover = [escape(f"{p.night}: median {p.median * k:.4g} {shown} over {len(p.runs)} run(s)"
                    + (f", {p.degraded} degraded left out" if p.degraded else "") + f"; click: run {p.link}")
             for p in t.points]
    fig.add_trace(go.Scatter(
        x=x, y=med, mode="lines+markers", name="nightly median", line=dict(color="#1f77b4", width=1.5),
        marker=dict(size=7), customdata=[p.link for p in t.points], text=hover,
        hovertemplate="%{text}<extra></extra>", meta={"role": "median", "key": t.key},
    ))
    by_night = {p.night: p.median * k for p in t.points}
    for kind, symbol in (("change_point", "diamond-open"), ("alarm", "triangle-up")):
        marks = [m for m in t.marks if m.kind == kind and m.night in by_night]
        if not marks:
            continue
        fig.add_trace(go.Scatter(
            x=[m.night for m in marks], y=[by_night[m.night] for m in marks], mode="markers",
            name="change point" if kind == "change_point" else "alarm",
            marker=dict(symbol=symbol, size=14 if kind == "alarm" else 16, line=dict(width=2),
                        color=["#c62828" if m.worse else "#1a7f37" for m in marks]),
            text=[escape(m.text) for m in marks], hovertemplate="%{text}<extra></extra>",
            meta={"role": kind, "key": t.key, "nights": [m.night for m in marks]},
        ))
    for m in t.marks:
        if m.kind == "change_point" and m.night in by_night:
            fig.add_vline(x=x.index(m.night), line=dict(color="#c62828" if m.worse else "#1a7f37", dash="dot", width=1))
    fig.update_layout(
        **_LAYOUT, height=300,
        title=dict(text=escape(t.label), font=dict(size=13)),
        xaxis=dict(type="category", title="night", **_AXIS),
        yaxis=dict(title=f"median ({shown})", **_AXIS),
    )
    return fig
