"""Roofline: per device, its ceilings (flagged when measured on a busy target) and every
finished run placed against the roof its working set streams from, with the reason."""

from __future__ import annotations

from harness.analysis.ceilings import SANITY_LABELS
from harness.analysis.roofline import ceiling_too_low
from harness.report import figures
from harness.report.context import ReportContext
from harness.report.gather import DeviceView, RunView, legend_carriers
from harness.report.page import Cell, Markup, ms, pct, run_link, si, table, tag

INTRO = ("Each run's model at its arithmetic intensity (ops per byte moved, every op reading its inputs and weights "
         "and writing its outputs) and its achieved ops/s (FLOPs / median latency). A model is judged against the "
         "bandwidth of the innermost memory level its working set (weights + peak live activations) fits in, and its "
         "precision's peak; left of that ridge it is memory-bound. Small markers are operators, sized by their share "
         "of the measured op time (when the run profiled ops). A run faster than its roof is not given an efficiency: "
         "the ceilings read low and must be re-measured.")


def _busy_banner(d: DeviceView, placed: list[RunView]) -> list[Markup]:
    c = d.ceilings
    busy = c.busy_reasons() if c is not None else []
    beaten = [v for v in placed if ceiling_too_low(v.roofline)]
    if not busy and not beaten:
        return []
    parts = []
    if busy:
        parts.append(f"These ceilings were measured while {d.id} was busy ({'; '.join(busy)}): they may read low.")
    if beaten:
        parts.append(f"{len(beaten)} run(s) beat them, so no efficiency is given for those (\"ceiling too low\").")
    parts.append(f"Re-measure on a quiet target: harness ceilings --device {d.id} --remeasure")
    return [tag("div", " ".join(parts), class_="alert", role="note")]


def _ceilings_block(d: DeviceView) -> list[Markup]:
    c = d.ceilings
    if c is None:
        why = d.ceilings_error or "never measured, and its profile gives no datasheet numbers"
        return [tag("p", f"No ceilings for {d.id}: {why}. Measure them with `harness ceilings --device {d.id}`.",
                    class_="warn")]
    rows = [[f"peak {dtype}", Cell(si(v, "op/s"), v), c.sources.get(dtype, c.method)]
            for dtype, v in c.peak_ops_per_s.items()]
    rows += [[f"bandwidth {lvl}", Cell(si(v, "B/s"), v), c.sources.get("bandwidth", c.method)]
             for lvl, v in c.bandwidth_bytes_per_s.items()]
    rows += [[f"sanity: {label}", Cell(si(c.sanity[key], unit), c.sanity[key]), "a sanity check, not a ceiling"]
             for key, (label, unit) in SANITY_LABELS.items() if key in c.sanity]
    when = c.measured_at.strftime("%Y-%m-%d %H:%M UTC") if c.measured_at else "–"
    head = tag("p", f"Ceilings: {c.method}" + (f", measured {when} with {c.threads} thread(s), {c.mode} sweep"
                                                if c.method == "measured" else " (profile numbers, not measured)"),
               class_="small muted")
    out = [head, table(["ceiling", "value", "how it was obtained"], rows)]
    warnings = [w for w in c.warnings if not w.startswith("target was busy")]  # the banner says it
    if warnings:
        out.append(tag("ul", [tag("li", w, class_="warn small") for w in warnings]))
    return out


def _ops_timed(r: dict) -> str:
    text = f"{r.get('n_ops_timed', 0)}/{r.get('n_ops', 0)}"
    if r.get("op_profile_iterations"):
        text += f" (mean of {r['op_profile_iterations']} profiling iterations{': few' if r.get('op_profile_few') else ''})"
    return text


def _rows(placed: list[RunView]) -> list[list]:
    rows = []
    for v in placed:
        r = v.roofline
        share = r.get("memory_bound_time_share")
        share_text = pct(share) + " measured" if share is not None else pct(r.get("memory_bound_time_share_modelled")) + " modelled"
        too_low = ceiling_too_low(r)
        eff = Cell(figures.efficiency_text(r, ""), r.get("efficiency_raw", r.get("efficiency")), "too-low" if too_low else None)
        level = r.get("level")
        judged = Markup(tag("span", f"{r.get('dtype')} peak, {level} bandwidth")
                        + tag("div", r.get("level_reason") or "roof chosen by an older harness: the outermost level",
                              class_="small muted"))
        rows.append([
            v.legend, Cell(judged, level, "reason"),
            Cell(f"{r['arithmetic_intensity']:.3g}", r["arithmetic_intensity"]),
            Cell(f"{r['ridge_point']:.3g}", r["ridge_point"]), r.get("bound"),
            Cell(si(r.get("achieved_ops_per_s"), "op/s"), r.get("achieved_ops_per_s")),
            Cell(si(r.get("attainable_ops_per_s"), "op/s"), r.get("attainable_ops_per_s")), eff, share_text,
            Cell(f"{ms(r.get('model_min_time_s'))} / {ms(r.get('per_op_min_time_s'))}", r.get("model_min_time_s")),
            Cell(_ops_timed(r), r.get("n_ops_timed", 0)), Cell(run_link(v.m.run_id), v.m.run_id),
        ])
    return rows


def _device(ctx: ReportContext, d: DeviceView) -> list[Markup]:
    out = [tag("h3", f"{d.id}: {d.name}", id=f"roofline-{d.id}")]
    placed = [v for v in d.runs if v.placed]
    if placed:
        points = [figures.RooflinePoint(v.m.run_id, v.legend, v.color, v.roofline,
                                        v.roofline_at_report, group=v.group.key if v.group else "", show_legend=shown)
                  for v, shown in zip(placed, legend_carriers(placed))]
        out.append(ctx.figure(figures.roofline_figure(f"{d.id} ({d.name})", d.ceilings, points), "roofline", d.id))
    else:
        failed = len(d.runs) - len(d.ok_runs)
        why = ("no run finished" + (f" ({failed} failed or aborted)" if failed else "")) if not d.ok_runs else \
            "no finished run has both a static analysis of its model and ceilings to place it against"
        out.append(tag("p", f"Nothing to place on {d.id}'s roofline: {why}.", class_="muted"))
    out += _busy_banner(d, placed)
    out += _ceilings_block(d)
    sweeps = figures.ceilings_figure(d.ceilings) if d.ceilings is not None else None
    if sweeps is not None:
        out.append(tag("details", [tag("summary", "Ceilings sweeps (how the ceilings were found)"),
                                   ctx.figure(sweeps, "ceilings", d.id)]))
    if placed:
        out.append(table(["model (configuration)", "judged against", "AI (op/B)", "ridge (op/B)", "bound", "achieved",
                          "attainable", "efficiency", "time in memory-bound ops", "bound: whole model / Σ per op",
                          "ops timed", "run"], _rows(placed), id=f"roofline-table-{d.id}"))
    return out


def render(ctx: ReportContext) -> list[Markup]:
    out = [tag("p", INTRO, class_="small muted")]
    for d in ctx.devices:
        out += _device(ctx, d)
    return out
