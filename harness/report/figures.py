"""The dashboard's plotly figures: roofline per device, latency distributions, timelines.

Every user string (model, device, op names) is HTML-escaped before it reaches plotly,
which renders a subset of HTML tags in labels; escaped, a name shows as the text it is.
Each trace carries a `meta` dict (role, run id, numbers) so tests and readers can find
it in the page's DOM. Series are downsampled (see `downsample`); numbers go in as
float32 arrays, which plotly stores as compact base64 typed arrays.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from harness.analysis.roofline import CEILING_TOO_LOW, ceiling_too_low
from harness.report.downsample import bucket_stats, log_histogram, minmax_buckets
from harness.report.page import si

PALETTE = [c for c in qualitative.D3 + qualitative.Set2 if c.upper() not in ("#7F7F7F", "#B3B3B3")]  # roofs are grey
LEVEL_DASH = ["dot", "dashdot", "dash", "solid"]
_DTYPE_SYMBOL = {"fp32": "circle", "fp16": "square", "int8": "diamond"}
# Each precision's roof (peak line, ridge, compute sweep) in its own colour, apart from the runs' palette.
DTYPE_COLORS = {"fp32": "#222222", "fp16": "#0b7a75", "int8": "#b35900"}
_OTHER_DTYPE_COLOR = "#7a3e9d"


def dtype_color(dtype: str | None) -> str:
    return DTYPE_COLORS.get(dtype or "", _OTHER_DTYPE_COLOR)
_LAYOUT = dict(
    template="none",
    font=dict(family="system-ui, -apple-system, Segoe UI, sans-serif", size=12),
    margin=dict(l=70, r=20, t=40, b=50),
    legend=dict(font=dict(size=11)),
    hoverlabel=dict(font=dict(size=11)),
)
_AXIS = dict(gridcolor="#e5e5e5", zeroline=False, linecolor="#888", showline=True, ticks="outside")


def color_for(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _f32(values: Iterable[float]) -> np.ndarray:
    return np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=np.float32)


# -- roofline -----------------------------------------------------------------------------


@dataclass
class RooflinePoint:
    """One run on a device's roofline: its summary roofline dict and how to draw it."""

    run_id: str
    label: str  # raw (unescaped) label of its configuration group (the legend entry)
    color: str
    roofline: dict[str, Any]
    computed_at_report: bool = False
    group: str = ""  # configuration group: repeated runs share one colour and one legend entry
    show_legend: bool = True  # the group's first run carries the legend entry


def _x_range(ceilings, points: list[RooflinePoint]) -> tuple[float, float]:
    xs = []
    for p in points:
        r = p.roofline
        if r.get("arithmetic_intensity"):
            xs.append(r["arithmetic_intensity"])
        xs += [o["arithmetic_intensity"] for o in r.get("ops", []) if o.get("time_s") and o.get("arithmetic_intensity")]
    if ceilings is not None and ceilings.bandwidth_bytes_per_s and ceilings.peak_ops_per_s:
        for peak in ceilings.peak_ops_per_s.values():
            for bw in ceilings.bandwidth_bytes_per_s.values():
                xs.append(peak / bw)
    xs = [x for x in xs if x and math.isfinite(x) and x > 0]
    if not xs:
        return 0.01, 1000.0
    return min(xs) / 4, max(xs) * 4


def roofline_figure(device_label: str, ceilings, points: list[RooflinePoint]) -> go.Figure:
    """Ceilings (each bandwidth level, each dtype's peak, the ridge per dtype) and the runs on them."""
    fig = go.Figure()
    x0, x1 = _x_range(ceilings, points)
    peaks = dict(ceilings.peak_ops_per_s) if ceilings is not None else {}
    bws = dict(ceilings.bandwidth_bytes_per_s) if ceilings is not None else {}
    label = "datasheet" if ceilings is not None and ceilings.method == "datasheet" else "measured"
    if peaks and bws:
        top_peak, top_bw = max(peaks.values()), max(bws.values())
        for i, (level, bw) in enumerate(bws.items()):
            xe = top_peak / bw
            fig.add_trace(go.Scatter(
                x=[x0, xe], y=[bw * x0, top_peak], mode="lines",
                name=escape(f"{level} {si(bw, 'B/s')} ({label})"),
                line=dict(color="#555", width=1.5, dash=LEVEL_DASH[max(0, len(LEVEL_DASH) - len(bws) + i)]),
                hovertemplate=escape(f"{level}: {si(bw, 'B/s')}") + "<extra></extra>",
                meta={"role": "bandwidth", "level": level, "bytes_per_s": bw},
            ))
        for dtype, peak in peaks.items():
            xs = peak / top_bw
            fig.add_trace(go.Scatter(
                x=[xs, x1], y=[peak, peak], mode="lines",
                name=escape(f"{dtype} peak {si(peak, 'op/s')} ({label})"),
                line=dict(color=dtype_color(dtype), width=2),
                hovertemplate=escape(f"{dtype} peak: {si(peak, 'op/s')}") + "<extra></extra>",
                meta={"role": "peak", "dtype": dtype, "ops_per_s": peak, "color": dtype_color(dtype)},
            ))
        # one ridge per roof a run is judged against: its dtype's peak over its footprint's memory level
        used = sorted({(p.roofline["dtype"], p.roofline["level"]) for p in points
                       if p.roofline.get("dtype") in peaks and p.roofline.get("level") in bws})
        for dtype, level in used:
            ridge = peaks[dtype] / bws[level]
            fig.add_trace(go.Scatter(
                x=[ridge, ridge], y=[bws[level] * x0, peaks[dtype]], mode="lines",
                name=escape(f"ridge {dtype}/{level}: {ridge:.3g} op/B"),
                line=dict(color=dtype_color(dtype), width=1, dash="dash"),
                hovertemplate=escape(f"ridge point {dtype}/{level}: {ridge:.3g} ops/byte") + "<extra></extra>",
                meta={"role": "ridge", "dtype": dtype, "level": level, "x": ridge},
            ))
    for p in points:
        _add_run_point(fig, p)
    fig.update_layout(
        **{**_LAYOUT, "legend": dict(orientation="h", yanchor="top", y=-0.14, xanchor="left", x=0, font=dict(size=11))},
        title=dict(text=escape(f"Roofline: {device_label}"), font=dict(size=14)),
        height=560 + 18 * ((len(points) + len(peaks) + len(bws) + 2) // 3),
        xaxis=dict(type="log", title="arithmetic intensity (ops/byte)", range=[math.log10(x0), math.log10(x1)], **_AXIS),
        yaxis=dict(type="log", title="performance (ops/s)", exponentformat="SI", **_AXIS),
    )
    return fig


def _add_run_point(fig: go.Figure, p: RooflinePoint) -> None:
    """A run's whole-model point and (when its ops were timed) its per-op points, in its group's colour."""
    r = p.roofline
    group = p.group or p.run_id
    ops = [o for o in r.get("ops", []) if o.get("time_s") and o.get("achieved_ops_per_s") and o.get("arithmetic_intensity")]
    if ops:
        share = np.array([o.get("time_share") or 0.0 for o in ops])
        source = r.get("op_time_source") or "measured per-op times"
        fig.add_trace(go.Scatter(
            x=_f32(o["arithmetic_intensity"] for o in ops),
            y=_f32(o["achieved_ops_per_s"] for o in ops),
            mode="markers",
            name=escape(p.label) + ": ops",
            legendgroup=group,
            showlegend=False,  # toggled with the model's point (same legend group)
            marker=dict(color=p.color, size=_f32(5 + 40 * np.sqrt(share)), opacity=0.45, line=dict(width=0)),
            hovertext=[
                "<br>".join(escape(line) for line in (
                    f"{o['name']} ({o['type']}): {100 * (o.get('time_share') or 0):.1f}% of op time",
                    f"AI {o['arithmetic_intensity']:.3g}, {si(o['achieved_ops_per_s'], 'op/s')}, {o['bound']}-bound, "
                    + efficiency_text(o),
                    f"time: {source}" + (" (few: indicative only)" if r.get("op_profile_few") else "")))
                for o in ops
            ],
            hoverinfo="text",
            meta={"role": "ops", "run_id": p.run_id, "iterations": r.get("op_profile_iterations")},
        ))
    ai, achieved = r.get("arithmetic_intensity"), r.get("achieved_ops_per_s")
    if not (ai and achieved):
        return
    lines = [p.label, f"run {p.run_id}", f"AI {ai:.3g} ops/byte ({r.get('dtype')})",
             f"achieved {si(achieved, 'op/s')}", f"attainable {si(r.get('attainable_ops_per_s'), 'op/s')} "
             f"against {r.get('level')}", f"{r.get('bound')}-bound, {efficiency_text(r)}"]
    fig.add_trace(go.Scatter(
        x=[ai], y=[achieved], mode="markers",
        name=escape(p.label) + (" (roofline computed at report time)" if p.computed_at_report else ""),
        legendgroup=group,
        showlegend=p.show_legend,
        marker=dict(color=p.color, size=14, symbol=_DTYPE_SYMBOL.get(r.get("dtype"), "circle"),
                    line=dict(color="#000", width=1)),
        hovertext=["<br>".join(escape(line) for line in lines)],
        hoverinfo="text",
        meta={"role": "model", "run_id": p.run_id, "group": group, "x": ai, "y": achieved, "bound": r.get("bound"),
              "level": r.get("level")},
    ))


def efficiency_text(r: dict[str, Any], prefix: str = "efficiency ") -> str:
    """A run's (or op's) efficiency, or the refusal when it beat its roof."""
    if ceiling_too_low(r):
        return CEILING_TOO_LOW
    eff = r.get("efficiency")
    return f"{prefix}–" if eff is None else f"{prefix}{100 * eff:.1f}%"


# -- latency distributions ----------------------------------------------------------------


@dataclass
class LatencySeries:
    run_id: str
    label: str
    color: str
    latencies_s: np.ndarray
    median_s: float | None
    group: str = ""
    show_legend: bool = True


def latency_figure(device_label: str, series: list[LatencySeries]) -> go.Figure:
    """Histograms (fraction per log-spaced bin) of each run's steady-state latencies."""
    fig = go.Figure()
    for s in series:
        x, frac = log_histogram(s.latencies_s)
        if x.size == 0:
            continue
        fig.add_trace(go.Scatter(
            x=_f32(x * 1e3), y=_f32(frac), mode="lines" if x.size > 2 else "lines+markers",
            line=dict(color=s.color, shape="hvh", width=1.5),
            fill="tozeroy", opacity=0.6, name=escape(s.label), legendgroup=s.group or s.run_id,
            showlegend=s.show_legend,
            hovertemplate="%{x:.4g} ms: %{y:.2%}<extra>" + escape(s.label) + "</extra>",
            meta={"role": "latency", "run_id": s.run_id, "group": s.group or s.run_id, "n": int(len(s.latencies_s))},
        ))
        if s.median_s:
            fig.add_trace(go.Scatter(
                x=[s.median_s * 1e3], y=[float(frac.max())], mode="markers", showlegend=False,
                legendgroup=s.group or s.run_id,
                marker=dict(color=s.color, symbol="line-ns", size=14, line=dict(width=2, color=s.color)),
                hovertemplate=escape(f"{s.label}: median {s.median_s * 1e3:.4g} ms") + "<extra></extra>",
                meta={"role": "median", "run_id": s.run_id},
            ))
    fig.update_layout(
        **_LAYOUT,
        title=dict(text=escape(f"Steady-state latency: {device_label}"), font=dict(size=14)),
        height=360,
        xaxis=dict(type="log", title="latency per inference (ms)", **_AXIS),
        yaxis=dict(title="fraction of inferences", tickformat=".0%", **_AXIS),
    )
    return fig


# -- timelines ----------------------------------------------------------------------------

_UNIT_TITLES = {"C": "°C", "Hz": "GHz", "W": "W", "V": "V", "A": "A", "J": "J", "bytes": "bytes", "1": ""}
_UNIT_SCALE = {"Hz": 1e-9}
_SHADES = {"cold start + warmup": ("rgba(255,160,0,0.15)", "orange"), "steady state": ("rgba(31,119,180,0.12)", "blue"),
           "idle baseline": ("rgba(120,120,120,0.12)", "grey")}


@dataclass
class Timeline:
    run_id: str
    label: str
    t0_ns: int
    latency_t_ns: np.ndarray  # sample start times
    latency_s: np.ndarray
    channels: dict[str, tuple[str, np.ndarray, np.ndarray]]  # channel -> (unit, t_ns, value)
    windows: list[tuple[str, int, int]]  # (name, start_ns, end_ns)
    median_s: float | None = None  # the run's steady-state median


def timeline_figure(tl: Timeline, buckets: int = 1000) -> go.Figure:
    """Latency and telemetry on the device clock, one row per unit, inference windows shaded."""
    units = sorted({u for u, _, _ in tl.channels.values()}, key=lambda u: list(_UNIT_TITLES).index(u) if u in _UNIT_TITLES else 99)
    rows = 1 + len(units)
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.04)
    t0 = tl.t0_ns
    if tl.latency_s.size:
        _add_latency_rows(fig, tl, buckets)
    for i, (channel, (unit, t_ns, values)) in enumerate(sorted(tl.channels.items())):
        row = 2 + units.index(unit)
        x, y = minmax_buckets((t_ns - t0) / 1e9, values * _UNIT_SCALE.get(unit, 1.0), buckets)
        fig.add_trace(go.Scatter(x=_f32(x), y=_f32(y), mode="lines", name=escape(channel),
                                   line=dict(color=color_for(i + 1), width=1),
                                   meta={"role": "telemetry", "run_id": tl.run_id, "channel": channel, "points": int(len(x))}),
                      row=row, col=1)
    # the shaded windows across every row, as plain layout shapes (add_vrect(row="all") is slow)
    fig.update_layout(shapes=[
        dict(type="rect", xref=f"x{r if r > 1 else ''}", yref=f"y{r if r > 1 else ''} domain", y0=0, y1=1,
             x0=(start - t0) / 1e9, x1=(end - t0) / 1e9, fillcolor=_SHADES.get(name, ("rgba(0,0,0,0.08)", ""))[0],
             line_width=0, layer="below")
        for name, start, end in tl.windows for r in range(1, rows + 1)])
    legend = ", ".join(f"{_SHADES[n][1]}: {n}" for n in dict.fromkeys(n for n, _, _ in tl.windows) if n in _SHADES)
    title = escape(f"Timeline: {tl.label}") + (f"<br><sup>shaded {legend}</sup>" if legend else "")
    fig.update_layout(**{**_LAYOUT, "margin": dict(l=70, r=20, t=60, b=40),
                         "legend": dict(font=dict(size=11), traceorder="normal")},  # a filled band would reverse it
                      title=dict(text=title, font=dict(size=13)),
                      height=180 + 150 * rows)
    fig.update_xaxes(**_AXIS)
    fig.update_yaxes(**_AXIS)
    fig.update_xaxes(title_text="device time (s)", row=rows, col=1)
    fig.update_yaxes(title_text="latency (ms)", row=1, col=1)
    for unit in units:
        fig.update_yaxes(title_text=_UNIT_TITLES.get(unit, escape(unit)), row=2 + units.index(unit), col=1)
    return fig


def _add_latency_rows(fig: go.Figure, tl: Timeline, buckets: int) -> None:
    """Latency over time: each bucket's median as a line inside its min–max band, and the run's median."""
    b = bucket_stats((tl.latency_t_ns - tl.t0_ns) / 1e9, tl.latency_s * 1e3, buckets)
    band = dict(mode="lines", line=dict(width=0, color="#1f77b4"), hoverinfo="skip", showlegend=False)
    meta = {"role": "latency_band", "run_id": tl.run_id, "points": int(len(b.x))}
    fig.add_trace(go.Scatter(x=_f32(b.x), y=_f32(b.low), **band, meta=meta), row=1, col=1)
    fig.add_trace(go.Scatter(x=_f32(b.x), y=_f32(b.high), **band, fill="tonexty", fillcolor="rgba(31,119,180,0.2)",
                             name="latency min–max", meta=meta), row=1, col=1)
    per = f"median of {b.size} inferences" if b.size > 1 else "latency"
    fig.add_trace(go.Scatter(x=_f32(b.x), y=_f32(b.median), mode="lines", name=f"latency (ms), {per}",
                             line=dict(color="#1f77b4", width=1.5),
                             hovertemplate="%{x:.3f} s: %{y:.4g} ms<extra>" + escape(per) + "</extra>",
                             meta={"role": "latency_timeline", "run_id": tl.run_id, "points": int(len(b.x)),
                                   "per_bucket": b.size}), row=1, col=1)
    if tl.median_s and b.x.size:
        fig.add_trace(go.Scatter(x=[float(b.x[0]), float(b.x[-1])], y=[tl.median_s * 1e3] * 2, mode="lines",
                                 name=f"run median {tl.median_s * 1e3:.4g} ms",
                                 line=dict(color="#d62728", width=1, dash="dot"), hoverinfo="name",
                                 meta={"role": "latency_median", "run_id": tl.run_id, "y": tl.median_s * 1e3, "points": 2}),
                      row=1, col=1)


# -- ceilings sweeps ------------------------------------------------------------------------


def ceilings_figure(ceilings) -> go.Figure | None:
    """The sweeps the ceilings come from: bandwidth vs working set (plateaus per level) and
    ops/s vs ops per weight element (the compute sweep). None for datasheet ceilings."""
    bw_points = ceilings.sweeps.get("bandwidth") or []
    compute = ceilings.sweeps.get("compute") or {}
    if not bw_points and not compute:
        return None
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=("bandwidth vs working set (all threads)", "compute vs ops per weight element"))
    if bw_points:
        ws = _f32(p["bytes_per_thread"] * p["threads"] for p in bw_points)
        fig.add_trace(go.Scatter(x=ws, y=_f32(p["bytes_per_s"] for p in bw_points), mode="lines+markers",
                                 name="acc += a (best of trials)", line=dict(color="#1f77b4"), marker=dict(size=5),
                                 meta={"role": "bandwidth_sweep"}), row=1, col=1)
        for i, (level, value) in enumerate(ceilings.bandwidth_bytes_per_s.items()):
            fig.add_trace(go.Scatter(x=[float(ws.min()), float(ws.max())], y=[value, value], mode="lines",
                                     name=escape(f"{level} plateau {si(value, 'B/s')}"),
                                     line=dict(color=color_for(i + 2), dash="dash", width=1),
                                     meta={"role": "plateau", "level": level}), row=1, col=1)
        threads = ceilings.threads or 1
        for c in ceilings.target.get("caches") or []:
            if c.get("size_bytes"):  # what all threads together can hold of this level
                held = c["size_bytes"] / max(1, min(int(c.get("shared_cpus") or 1), threads)) * threads
                fig.add_vline(x=held, line=dict(color="#aaa", width=1, dash="dot"), row=1, col=1,
                              annotation_text=f"L{c['level']}", annotation_position="top")
    for i, (dtype, points) in enumerate(compute.items()):
        fig.add_trace(go.Scatter(x=_f32(p["ops_per_weight"] for p in points), y=_f32(p["ops_per_s"] for p in points),
                                 mode="lines+markers", name=escape(f"{dtype} FULLY_CONNECTED"),
                                 line=dict(color=dtype_color(dtype)),
                                 meta={"role": "compute_sweep", "dtype": dtype}), row=1, col=2)
    fig.update_layout(**_LAYOUT, height=340)
    fig.update_xaxes(type="log", **_AXIS)
    fig.update_yaxes(type="log", exponentformat="SI", **_AXIS)
    fig.update_xaxes(title_text="working set (bytes)", exponentformat="SI", row=1, col=1)
    fig.update_xaxes(title_text="ops per weight element (2 × batch)", row=1, col=2)
    fig.update_yaxes(title_text="bytes/s", row=1, col=1)
    fig.update_yaxes(title_text="ops/s", row=1, col=2)
    return fig
