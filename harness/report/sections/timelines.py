"""Telemetry timelines: latency (median per bucket in its min–max band) and every channel on the
device clock, with the cold start, steady state and idle baselines shaded."""

from __future__ import annotations

from harness.report import figures
from harness.report.context import ReportContext
from harness.report.page import Markup, tag


def render(ctx: ReportContext) -> list[Markup]:
    with_telemetry = [v for v in ctx.runs if v.timeline is not None]
    if not with_telemetry:
        return [tag("p", "No run recorded telemetry.", class_="muted")]
    return [ctx.figure(figures.timeline_figure(v.timeline, max(1, ctx.max_points // 2)), "timeline", v.m.run_id)
            for v in with_telemetry]
