"""LLMs: per device, time to first token and tokens/s against prompt length and context depth,
joules per token of each phase, and prefill and decode on the device's roofline; a table of
every measured phase (sortable, filterable). Reads each run's `LlmResult` and its summary
(`harness.llm.summary`); runs without one are not shown here."""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from harness.llm.results import LlmPhase, LlmResult
from harness.report import figures
from harness.report.context import ReportContext
from harness.report.gather import DeviceView, RunView
from harness.report.page import Cell, Markup, ms, pct, run_link, si, table, tag

INTRO = ("Large language models, measured in tokens. Prefill reads the prompt (tokens/s over its length, on top of "
         "the tokens already in the KV cache: the context depth); decode generates one token at a time. TTFT is the "
         "time from the request to the first generated token on the device clock (the llama_ttft runtime; "
         "llama-bench reports no TTFT); inter-token latency is the gap between generated tokens. J/token integrates "
         "the device's power over each phase's repetitions, net of the idle baseline. On the roofline, prefill is "
         "judged by its compute utilisation and decode, memory-bound, by its bandwidth utilisation.")


# on the roofline, a phase's colour says which it is: prefill (compute-bound) and decode (memory-bound)
PHASE_COLORS = {"prefill": "#d95f02", "decode": "#1b6ca8", "prefill+decode": "#7a3e9d"}


@dataclass
class _Point:
    view: RunView
    phase: LlmPhase
    energy: dict | None
    roof: dict | None

    @property
    def label(self) -> str:
        """The run's legend entry, with its runtime unless the entry already tells runtimes apart."""
        legend = self.view.legend
        return legend if "[" in legend else f"{legend} [{self.view.m.runtime.name}]"

    @property
    def context(self) -> int:
        """Tokens in the KV cache when the phase starts."""
        p = self.phase
        return p.n_depth + (p.n_prompt if p.name == "decode" else 0)


def _points(d: DeviceView) -> list[_Point]:
    out = []
    for v in d.ok_runs:
        result = v.m.result(LlmResult)
        if result is None:
            continue
        energy = {(e["phase"], e["test"]): e for e in (v.m.summary.energy or {}).get("points", [])}
        roof = v.m.summary.roofline or {}
        roofs = {(r["phase"], r["test"]): r for r in roof.get("points", [])} if roof.get("kind") == "llm" else {}
        for p in result.phases:
            out.append(_Point(v, p, energy.get((p.name, p.test)), roofs.get((p.name, p.test))))
    return out


def _series_figure(d: DeviceView, points: list[_Point]) -> go.Figure | None:
    panels = [
        (1, 1, "TTFT vs prompt length", "prefill", lambda q: q.phase.n_prompt,
         lambda q: q.phase.ttft_s.median_s * 1e3 if q.phase.ttft_s else None, lambda q: f"d{q.phase.n_depth}"),
        (1, 2, "TTFT vs context depth", "prefill", lambda q: q.phase.n_depth,
         lambda q: q.phase.ttft_s.median_s * 1e3 if q.phase.ttft_s else None, lambda q: f"pp{q.phase.n_prompt}"),
        (2, 1, "prefill tokens/s vs prompt length", "prefill", lambda q: q.phase.n_prompt,
         lambda q: q.phase.rate_per_s, lambda q: f"d{q.phase.n_depth}"),
        (2, 2, "decode tokens/s vs context", "decode", lambda q: q.context, lambda q: q.phase.rate_per_s,
         lambda q: f"tg{q.phase.n_gen}"),
    ]
    fig = make_subplots(rows=2, cols=2, subplot_titles=[escape(p[2]) for p in panels], vertical_spacing=0.16)
    drawn = 0
    for row, col, title, phase, x_of, y_of, split in panels:
        series: dict[tuple, list[tuple[float, float, str]]] = {}
        for q in points:
            y = y_of(q) if q.phase.name == phase else None
            if y is None or not math.isfinite(y):
                continue
            key = (q.view.m.run_id, q.label, split(q), q.view.color)
            series.setdefault(key, []).append((x_of(q), y, q.phase.test))
        for (run_id, label, part, color), xy in series.items():
            xy.sort()
            fig.add_trace(go.Scatter(
                x=[p[0] for p in xy], y=[p[1] for p in xy], mode="lines+markers", name=escape(f"{label} {part}"),
                line=dict(color=color), marker=dict(size=8), showlegend=(row, col) == (2, 2) or (row, col) == (1, 1),
                hovertext=[escape(f"{label}: {t}") for _, _, t in xy], hoverinfo="text+y",
                meta={"role": f"llm-{title}", "run_id": run_id},
            ), row=row, col=col)
            drawn += 1
    if not drawn:
        return None
    fig.update_layout(**figures._LAYOUT, height=640, title=dict(text=escape(f"LLM phases: {d.id} ({d.name})"),
                                                               font=dict(size=14)))
    for (row, col, _t, _p, *_rest), xt, yt in zip(panels, ("prompt tokens", "tokens in the KV cache",
                                                            "prompt tokens", "tokens in the KV cache at decode start"),
                                                  ("TTFT (ms)", "TTFT (ms)", "tokens/s", "tokens/s")):
        # prompt lengths are swept in powers of two (16 … 4096): a log axis; depths start at 0
        fig.update_xaxes(title_text=xt, row=row, col=col, type="log" if xt == "prompt tokens" else "linear",
                         **figures._AXIS)
        fig.update_yaxes(title_text=yt, row=row, col=col, rangemode="tozero", **figures._AXIS)
    return fig


def _energy_figure(d: DeviceView, points: list[_Point]) -> go.Figure | None:
    shown = [q for q in points if q.energy and q.energy.get("j_per_token") is not None]
    if not shown:
        return None
    fig = go.Figure()
    for key, name in (("j_per_token", "gross"), ("j_per_token_net", "net of idle baseline")):
        fig.add_trace(go.Bar(
            x=[escape(f"{q.label} {q.phase.label}") for q in shown], y=[q.energy.get(key) for q in shown],
            name=name, meta={"role": f"llm-energy-{key}", "run_ids": [q.view.m.run_id for q in shown]},
        ))
    fig.update_layout(**figures._LAYOUT, barmode="group", height=420,
                      title=dict(text=escape(f"Energy per token: {d.id}"), font=dict(size=14)),
                      yaxis=dict(title="J/token", exponentformat="SI", **figures._AXIS), xaxis=figures._AXIS)
    return fig


def _roofline_figure(d: DeviceView, points: list[_Point]) -> go.Figure | None:
    placed = [q for q in points if q.roof]
    if not placed or d.ceilings is None:
        return None
    marks = []
    for q in placed:
        r = q.roof
        roof = {**r, "attainable_ops_per_s": r["attainable_tokens_per_s"] * r["flops_per_token"],
                "efficiency": r["roof_utilisation"]}
        marks.append(figures.RooflinePoint(q.view.m.run_id, f"{q.label} {q.phase.label}", PHASE_COLORS[q.phase.name],
                                           roof, group=f"{q.view.m.run_id}-{q.phase.label}"))
    return figures.roofline_figure(f"{d.id} ({d.name}), LLM phases", d.ceilings, marks)


def _rows(points: list[_Point]) -> list[list]:
    rows = []
    for q in points:
        p, e, r = q.phase, q.energy or {}, q.roof or {}
        ttft = p.ttft_s.median_s if p.ttft_s else None
        itl = p.inter_token_s
        util = r.get("bandwidth_utilisation") if p.name == "decode" else r.get("compute_utilisation")
        rows.append([
            q.label, p.name, p.test, Cell(str(p.units), p.units), Cell(str(p.repetitions or "–"), p.repetitions or 0),
            Cell(si(p.rate_per_s, "tok/s"), p.rate_per_s), Cell(ms(ttft), ttft),
            Cell(f"{ms(itl.median_s)} / {ms(itl.p99_s)}" if itl else "–", itl.median_s if itl else None),
            Cell(si(q.view.m.summary.memory.get("peak_rss_bytes"), "B"), q.view.m.summary.memory.get("peak_rss_bytes")),
            Cell(si(e.get("j_per_token"), "J"), e.get("j_per_token")),
            Cell(si(e.get("j_per_token_net"), "J"), e.get("j_per_token_net")),
            Cell(f"{pct(util)} of {'bandwidth' if p.name == 'decode' else 'compute'}" if util is not None else "–", util),
            r.get("bound") or "–", Cell(run_link(q.view.m.run_id), q.view.m.run_id),
        ])
    return rows


def render(ctx: ReportContext) -> list[Markup]:
    out: list[Markup] = []
    for d in ctx.devices:
        points = _points(d)
        if not points:
            continue
        out.append(tag("h3", f"{d.id}: {d.name}", id=f"llm-{d.id}"))
        for kind, fig in (("llm", _series_figure(d, points)), ("llm-energy", _energy_figure(d, points)),
                          ("llm-roofline", _roofline_figure(d, points))):
            if fig is not None:
                out.append(ctx.figure(fig, kind, d.id))
        if not any(q.roof for q in points):
            out.append(tag("p", f"No roofline for {d.id}'s LLM runs: they need the device's ceilings "
                                f"(`harness ceilings --device {d.id}`) and the GGUF's static costs.", class_="muted"))
        out.append(table(["model [runtime]", "phase", "test", "tokens", "reps", "rate", "TTFT p50",
                          "inter-token p50 / p99", "peak RSS", "J/token", "J/token net", "roofline", "bound", "run"],
                         _rows(points), caption=f"LLM phases on {d.id}", id=f"llm-table-{d.id}"))
    if not out:
        return [tag("p", "No LLM runs (GGUF models with the llama_ttft or llama_bench runtime, or imported "
                         "llama.cpp / ExecuTorch logs).", class_="muted")]
    return [tag("p", INTRO, class_="small muted"), *out]
