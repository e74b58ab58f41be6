"""Latency distributions: one histogram per run, repeated runs of a configuration in one colour."""

from __future__ import annotations

from harness.report import figures
from harness.report.context import ReportContext
from harness.report.gather import legend_carriers
from harness.report.page import Markup, tag


def render(ctx: ReportContext) -> list[Markup]:
    out: list[Markup] = []
    for d in ctx.devices:
        shown = [v for v in d.runs if v.latencies_s.size]
        series = [figures.LatencySeries(v.m.run_id, v.legend, v.color, v.latencies_s,
                                        v.m.summary.latency.median_s if v.m.summary.latency else None,
                                        group=v.group.key if v.group else "", show_legend=carrier)
                  for v, carrier in zip(shown, legend_carriers(shown))]
        if series:
            out.append(ctx.figure(figures.latency_figure(f"{d.id} ({d.name})", series), "latency", d.id))
        else:
            out.append(tag("p", f"{d.id}: no steady-state samples.", class_="muted"))
    return out
