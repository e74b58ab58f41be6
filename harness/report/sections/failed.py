"""Failed and aborted runs: listed, never hidden, with where they stopped and what they left;
and the records the report could not read (each with why)."""

from __future__ import annotations

from harness.report.context import ReportContext
from harness.report.page import Markup, badge, run_link, tag


def render(ctx: ReportContext) -> list[Markup]:
    return _failed(ctx) + _skipped(ctx)


def _skipped(ctx: ReportContext) -> list[Markup]:
    if not ctx.skipped:
        return []
    return [tag("h3", "Records not read"),
            tag("p", f"{len(ctx.skipped)} record(s) in the results folder are not in this report:", class_="muted"),
            tag("ul", [tag("li", line, class_="small") for line in ctx.skipped])]


def _failed(ctx: ReportContext) -> list[Markup]:
    failed = [v for v in ctx.runs if v.m.status != "ok"]
    if not failed:
        return [tag("p", "None: every run finished.", class_="muted")]
    out = [tag("p", f"{len(failed)} run(s) did not finish.", class_="muted")]
    for v in failed:
        m = v.m
        raw = sorted(p.name for p in (v.stored.path / "raw").glob("*.txt")) if (v.stored.path / "raw").is_dir() else []
        out.append(tag("div", [
            Markup(badge(m.status) + " " + tag("strong", f"{v.label} on {m.device.id}") + " " + run_link(m.run_id)),
            tag("div", f"during {m.error.stage}: {m.error.message}" if m.error else "no error recorded", class_="error"),
            tag("div", f"raw device output kept in {v.stored.path / 'raw'}: {', '.join(raw)}" if raw else
                "no raw output recorded", class_="small muted"),
            tag("div", f"measured before it stopped: {m.tables.get('samples', 0)} samples, "
                       f"{m.tables.get('telemetry', 0)} telemetry points", class_="small muted"),
        ], class_="failed-run"))
    return out
